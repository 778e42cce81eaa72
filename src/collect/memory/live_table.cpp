#include "collect/memory/live_table.h"

#include <sys/mman.h>

#include <new>

namespace calltree::memory {

namespace {
// Pages cost nothing until touched: a large table in a small program stays small.
void* map_zeroed(size_t bytes) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    return p;
}
}  // namespace

LiveTable::LiveTable(size_t capacity, unsigned filter_bits, size_t initial) {
    size_t n = 64;
    while (n < capacity) n <<= 1;
    max_slots_ = n;
    size_t first = 64;
    while (first < initial && first < n) first <<= 1;
    if (initial == 0) first = n;
    mask_ = first - 1;
    limit_ = first / 4 * 3;
    entries_ = static_cast<Entry*>(map_zeroed(first * sizeof(Entry)));
    filter_size_ = size_t{1} << filter_bits;
    filter_shift_ = 64 - filter_bits;
    filter_ = static_cast<std::atomic<uint8_t>*>(map_zeroed(filter_size_));
}

LiveTable::~LiveTable() {
    munmap(entries_, (mask_ + 1) * sizeof(Entry));
    munmap(filter_, filter_size_);
}

size_t LiveTable::slot_of(uintptr_t ptr) const {
    for (size_t i = hash(ptr) & mask_, probes = 0; probes <= mask_; i = (i + 1) & mask_, ++probes) {
        if (entries_[i].key == ptr) return i;
        if (entries_[i].key == kEmpty) return SIZE_MAX;
    }
    return SIZE_MAX;
}

bool LiveTable::insert(uintptr_t ptr, Block block) {
    if (ptr <= kTombstone) return false;
    if (used_ >= limit_) {
        // Clearing tombstones costs a pass over the table: worth it when that frees a good part
        // of it; else the table doubles, or, at its largest, refuses.
        if (live_ < limit_ / 2) {
            if (!rebuild(mask_ + 1)) return false;
        } else if (mask_ + 1 < max_slots_) {
            if (!rebuild((mask_ + 1) * 2)) return false;
        } else if (used_ - live_ >= limit_ / 16) {
            if (!rebuild(mask_ + 1)) return false;
        } else {
            return false;
        }
    }
    size_t i = hash(ptr) & mask_;
    while (entries_[i].key > kTombstone) i = (i + 1) & mask_;
    if (entries_[i].key == kEmpty) ++used_;
    entries_[i] = Entry{ptr, block};
    ++live_;
    auto& counter = filter_[filter_index(ptr, filter_shift_)];
    uint8_t c = counter.load(std::memory_order_relaxed);
    // A saturated counter stays saturated: a false "maybe" only costs a lookup.
    if (c != UINT8_MAX) counter.store(c + 1, std::memory_order_relaxed);
    return true;
}

bool LiveTable::remove(uintptr_t ptr, Block* block) {
    size_t i = slot_of(ptr);
    if (i == SIZE_MAX) return false;
    *block = entries_[i].block;
    entries_[i].key = kTombstone;
    --live_;
    auto& counter = filter_[filter_index(ptr, filter_shift_)];
    uint8_t c = counter.load(std::memory_order_relaxed);
    if (c != UINT8_MAX && c != 0) counter.store(c - 1, std::memory_order_relaxed);
    return true;
}

bool LiveTable::rebuild(size_t slots) {
    void* p = mmap(nullptr, slots * sizeof(Entry), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return false;
    auto* fresh = static_cast<Entry*>(p);
    size_t mask = slots - 1;
    for (size_t i = 0; i <= mask_; ++i) {
        if (entries_[i].key <= kTombstone) continue;
        size_t j = hash(entries_[i].key) & mask;
        while (fresh[j].key != kEmpty) j = (j + 1) & mask;
        fresh[j] = entries_[i];
    }
    munmap(entries_, (mask_ + 1) * sizeof(Entry));
    entries_ = fresh;
    mask_ = mask;
    limit_ = slots / 4 * 3;
    used_ = live_;
    return true;
}

}  // namespace calltree::memory
