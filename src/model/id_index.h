// An open-addressing index from hashed keys to dense ids whose keys live elsewhere (in the
// owner's tables): a lookup compares stored hashes, then asks the owner whether id's key is the
// one sought. Interning text this way allocates nothing per key, unlike a map holding copies.
#pragma once
#include <cstdint>
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

// A well-mixed 64-bit hash of text (std::hash's low bits are mixed enough for a power-of-two table).
inline uint64_t hash_text(std::string_view text) { return std::hash<std::string_view>()(text); }

}  // namespace calltree
