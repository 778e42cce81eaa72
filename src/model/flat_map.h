// Open-addressing hash map (the tracer's hot path, the model's arc index): keys and values are small trivially
// copyable structs stored inline, lookups touch one or two cache lines and never allocate.
// Only insertion of a new key can grow the table (first sight of a function or arc).
#pragma once
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

namespace calltree {

template <class Key, class Value, class Hash>
class FlatMap {
    static_assert(std::is_trivially_copyable_v<Key> && std::is_trivially_copyable_v<Value>);

public:
    // `empty` is a key value that is never inserted; it marks free slots.
    explicit FlatMap(Key empty, size_t initial_capacity = 1024) : empty_(empty) {
        size_t cap = 16;
        while (cap < initial_capacity) cap <<= 1;
        slots_.assign(cap, Slot{empty_, Value{}});
    }

    // Returns the value for `key`, or nullptr.
    const Value* find(const Key& key) const {
        size_t mask = slots_.size() - 1;
        for (size_t i = Hash{}(key) & mask;; i = (i + 1) & mask) {
            const Slot& s = slots_[i];
            if (s.key == key) return &s.value;
            if (s.key == empty_) return nullptr;
        }
    }

    void insert(const Key& key, const Value& value) {
        if ((size_ + 1) * 4 > slots_.size() * 3) grow();
        place(key, value);
        ++size_;
    }

    size_t size() const { return size_; }
    size_t capacity() const { return slots_.size(); }

    // Removes every key, keeping the room (a map refilled many times allocates once).
    void clear() {
        for (Slot& s : slots_) s.key = empty_;
        size_ = 0;
    }

    // Makes room for `n` keys without growing again.
    void reserve(size_t n) {
        while (n * 4 > slots_.size() * 3) grow();
    }

private:
    struct Slot {
        Key key;
        Value value;
    };

    void place(const Key& key, const Value& value) {
        size_t mask = slots_.size() - 1;
        size_t i = Hash{}(key) & mask;
        while (!(slots_[i].key == empty_)) i = (i + 1) & mask;
        slots_[i] = Slot{key, value};
    }

    void grow() {
        std::vector<Slot> old(slots_.size() * 2, Slot{empty_, Value{}});
        old.swap(slots_);
        for (const Slot& s : old)
            if (!(s.key == empty_)) place(s.key, s.value);
    }

    Key empty_;
    size_t size_ = 0;
    std::vector<Slot> slots_;
};

// Multiplicative hashing (Fibonacci) spreads pointer and id bits; low bits of pointers are zero.
inline size_t hash_u64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return static_cast<size_t>(x);
}

struct U64Hash {
    size_t operator()(uint64_t v) const noexcept { return hash_u64(v); }
};

}  // namespace calltree
