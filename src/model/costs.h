// Costs: one unsigned 64-bit cost per event type. Profiles have one or two event types almost
// always, and hundreds of thousands of cost vectors (two per arc), so up to two costs live inline
// and only wider ones allocate.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>

namespace calltree {

class Costs {
public:
    using value_type = uint64_t;
    using size_type = size_t;
    using iterator = uint64_t*;
    using const_iterator = const uint64_t*;

    Costs() = default;
    Costs(size_t n, uint64_t value) { resize(n, value); }
    Costs(std::initializer_list<uint64_t> values) { assign(values.begin(), values.size()); }
    explicit Costs(std::span<const uint64_t> values) { assign(values.data(), values.size()); }
    Costs(const Costs& other) { assign(other.data(), other.size_); }
    Costs(Costs&& other) noexcept { take(other); }
    Costs& operator=(const Costs& other) {
        if (this != &other) assign(other.data(), other.size_);
        return *this;
    }
    Costs& operator=(Costs&& other) noexcept {
        if (this != &other) {
            release();
            take(other);
        }
        return *this;
    }
    ~Costs() { release(); }

    size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    uint64_t* data() { return on_heap() ? heap_ : inline_; }
    const uint64_t* data() const { return on_heap() ? heap_ : inline_; }
    uint64_t& operator[](size_t i) { return data()[i]; }
    uint64_t operator[](size_t i) const { return data()[i]; }
    iterator begin() { return data(); }
    iterator end() { return data() + size_; }
    const_iterator begin() const { return data(); }
    const_iterator end() const { return data() + size_; }

    void resize(size_t n, uint64_t value = 0) {
        if (n > capacity_) grow(n);
        if (n > size_) std::fill_n(data() + size_, n - size_, value);
        size_ = static_cast<uint32_t>(n);
    }

    friend bool operator==(const Costs& a, const Costs& b) {
        return std::equal(a.begin(), a.end(), b.begin(), b.end());
    }

private:
    static constexpr uint32_t kInline = 2;

    bool on_heap() const { return capacity_ > kInline; }
    void assign(const uint64_t* values, size_t n) {
        size_ = 0;
        resize(n);
        std::copy(values, values + n, data());
    }
    void grow(size_t n) {
        auto* bigger = new uint64_t[n];
        std::copy(data(), data() + size_, bigger);
        release();
        heap_ = bigger;
        capacity_ = static_cast<uint32_t>(n);
    }
    void release() {
        if (on_heap()) delete[] heap_;
        capacity_ = kInline;
    }
    void take(Costs& other) {
        size_ = other.size_;
        if (other.on_heap()) {
            heap_ = other.heap_;
            capacity_ = other.capacity_;
            other.capacity_ = kInline;
        } else {
            std::copy(other.inline_, other.inline_ + other.size_, inline_);
        }
        other.size_ = 0;
    }

    uint32_t size_ = 0;
    uint32_t capacity_ = kInline;  // above kInline the costs are on the heap
    // 24 bytes in all: an arc holds two of these, and a large profile 100k arcs.
    union {
        uint64_t* heap_;
        uint64_t inline_[kInline] = {0, 0};
    };
};

}  // namespace calltree
