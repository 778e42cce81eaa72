// An open-addressing index from hashed keys to dense ids whose keys live elsewhere (in the
// owner's tables): a lookup compares stored hashes, then asks the owner whether id's key is the
// one sought. Interning text this way allocates nothing per key, unlike a map holding copies.
#pragma once
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace calltree {

class IdIndex {
public:
    static constexpr uint32_t kNone = ~0u;

    // The id whose key hashes to `hash` and satisfies `same(id)`, or kNone.
    template <class Same>
    uint32_t find(uint64_t hash, Same&& same) const {
        if (slots_.empty()) return kNone;
        size_t mask = slots_.size() - 1;
        for (size_t i = hash & mask;; i = (i + 1) & mask) {
            const Slot& s = slots_[i];
            if (s.id == kNone) return kNone;
            if (s.hash == static_cast<uint32_t>(hash) && same(s.id)) return s.id;
        }
    }

    // Adds `id` (whose key is known to be absent) under `hash`.
    void insert(uint64_t hash, uint32_t id) {
        if ((size_ + 1) * 4 > slots_.size() * 3) grow();
        place(Slot{static_cast<uint32_t>(hash), id});
        ++size_;
    }

    // Room for `n` ids in one allocation (not one per doubling).
    void reserve(size_t n) {
        size_t size = slots_.empty() ? 64 : slots_.size();
        while (n * 4 > size * 3) size *= 2;
        if (size != slots_.size()) rehash(size);
    }

private:
    // 8 bytes: the hash's low half places the slot (a table has fewer than 2^32 of them) and
    // tells most other keys apart; half the pages of a 64-bit hash, and a large table is
    // touched all over (~1k page faults fewer on a 60k-function profile).
    struct Slot {
        uint32_t hash;
        uint32_t id = kNone;
    };

    void place(const Slot& slot) {
        size_t mask = slots_.size() - 1;
        size_t i = slot.hash & mask;
        while (slots_[i].id != kNone) i = (i + 1) & mask;
        slots_[i] = slot;
    }

    void grow() { rehash(slots_.empty() ? 64 : slots_.size() * 2); }

    void rehash(size_t size) {
        std::vector<Slot> old(size);
        old.swap(slots_);
        for (const Slot& s : old)
            if (s.id != kNone) place(s);
    }

    std::vector<Slot> slots_;
    size_t size_ = 0;
};

namespace detail {
// The 128-bit product folded to 64 bits: every input bit reaches the low bits a power-of-two
// table uses.
inline uint64_t fold_multiply(uint64_t a, uint64_t b) {
    unsigned __int128 product = static_cast<unsigned __int128>(a) * b;
    return static_cast<uint64_t>(product) ^ static_cast<uint64_t>(product >> 64);
}
inline uint64_t load8(const char* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
}
inline uint64_t load4(const char* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}
}  // namespace detail

// A well-mixed 64-bit hash of text, inline: interned texts are mostly names and paths of 8-40
// bytes, which std::hash's out-of-line byte loop took ~70 instructions for (a converted
// profile hashes every function's name and file). Short texts are read as two overlapping
// words, longer ones 16 bytes a step (the scheme of wyhash).
inline uint64_t hash_text(std::string_view text) {
    using detail::fold_multiply, detail::load4, detail::load8;
    constexpr uint64_t k0 = 0xa0761d6478bd642fULL, k1 = 0xe7037ed1a0b428dbULL, k2 = 0x8ebc6af09c88c6e3ULL;
    const char* p = text.data();
    size_t n = text.size();
    uint64_t seed = fold_multiply(n ^ k0, k1);
    for (; n > 16; p += 16, n -= 16) seed = fold_multiply(load8(p) ^ k1, load8(p + 8) ^ seed);
    uint64_t a = 0, b = 0;
    if (n >= 8) {
        a = load8(p);
        b = load8(p + n - 8);
    } else if (n >= 4) {
        a = load4(p);
        b = load4(p + n - 4);
    } else if (n > 0) {
        a = uint64_t{static_cast<uint8_t>(p[0])} << 16 | uint64_t{static_cast<uint8_t>(p[n / 2])} << 8 |
            static_cast<uint8_t>(p[n - 1]);
    }
    return fold_multiply(fold_multiply(a ^ k1, b ^ seed) ^ k2, k0);
}

}  // namespace calltree
