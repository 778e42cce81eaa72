// The live sampled blocks: address -> (stack id, bytes weight). Only sampled blocks are in it,
// so it stays small; every free asks it first, so `maybe_contains` is a lock-free look at a
// small counting filter (a byte-sized counter per address hash) that says "not sampled" for
// almost every free without touching the table. Insert and remove need the caller's lock.
// Memory comes from mmap (never malloc: this runs inside malloc); the table starts small and
// doubles as live blocks need (touched pages are what it costs), and tombstones left by
// removals are cleared by rebuilding when they pile up.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace calltree::memory {

class LiveTable {
public:
    struct Block {
        double weight;  // bytes this sampled block stands for (exact sizes need a double)
        uint32_t stack;
    };

    // `capacity`: the most entries the table grows to, rounded up to a power of two (at most 3/4
    // of them are ever used); it starts at `initial` (0: all of it) and doubles when needed.
    // `filter_bits`: log2 of the filter's size in bytes. A free of an unsampled block is
    // mistaken for a maybe-sampled one with probability (live blocks / filter size), and then
    // costs a locked lookup: tables that may hold many live blocks want a larger filter.
    explicit LiveTable(size_t capacity, unsigned filter_bits = 16, size_t initial = 0);
    ~LiveTable();
    LiveTable(const LiveTable&) = delete;
    LiveTable& operator=(const LiveTable&) = delete;

    // Lock-free and wait-free: false means `ptr` is certainly not in the table.
    bool maybe_contains(uintptr_t ptr) const { return maybe_in(filter_, filter_shift_, ptr); }
    // The same test on the filter alone, for callers that keep its address where one load
    // reaches it (every free asks).
    const std::atomic<uint8_t>* filter() const { return filter_; }
    unsigned filter_shift() const { return filter_shift_; }
    static bool maybe_in(const std::atomic<uint8_t>* filter, unsigned shift, uintptr_t ptr) {
        return filter[filter_index(ptr, shift)].load(std::memory_order_relaxed) != 0;
    }
    // Under the caller's lock. False if the table is full (the block is then not tracked).
    bool insert(uintptr_t ptr, Block block);
    // Under the caller's lock. False if `ptr` is not a live sampled block.
    bool remove(uintptr_t ptr, Block* block);

    size_t size() const { return live_; }
    size_t capacity() const { return max_slots_ / 4 * 3; }
    // Calls visit(ptr, block) for every live block. Under the caller's lock.
    template <class F>
    void for_each(F&& visit) const {
        for (size_t i = 0; i <= mask_; ++i)
            if (entries_[i].key > kTombstone) visit(entries_[i].key, entries_[i].block);
    }

private:
    static constexpr uintptr_t kEmpty = 0, kTombstone = 1;
    struct Entry {
        uintptr_t key;
        Block block;
    };
    static size_t hash(uintptr_t p) {
        uint64_t x = p >> 4;  // malloc aligns to 16 bytes
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdULL;
        x ^= x >> 33;
        return static_cast<size_t>(x);
    }
    // Fibonacci hashing: one multiply, the top filter_bits bits (shift = 64 - filter_bits).
    static size_t filter_index(uintptr_t p, unsigned shift) {
        return static_cast<size_t>(((p >> 4) * 0x9E3779B97F4A7C15ULL) >> shift);
    }
    bool rebuild(size_t slots);  // into a fresh table of `slots` entries; false if mmap fails
    size_t slot_of(uintptr_t ptr) const;  // the entry holding ptr, or SIZE_MAX

    Entry* entries_;
    size_t mask_;
    size_t max_slots_;
    size_t limit_;
    size_t live_ = 0, used_ = 0;  // used_ counts tombstones too
    std::atomic<uint8_t>* filter_;
    size_t filter_size_;
    unsigned filter_shift_;
};

}  // namespace calltree::memory
