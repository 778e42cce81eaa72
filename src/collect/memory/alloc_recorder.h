// What the memory hooks record, shared by the allocator interposers (src/interpose, in calltree's
// preloaded library only; not in the sanitizer build) and the Python allocator-domain hooks
// (memory_collector.cpp).
// Every allocation and copy passes a per-thread byte sampler (byte_sampler.h); only sampled ones
// take the recorder's spin lock, read the thread's Python stack (cpython/boundary.h, no GIL,
// no allocation) and charge the stack. Sampled blocks stay in the live table until freed, so
// the bytes still live at the end (leaks) and at the peak come from the same weights.
// Nothing here allocates with malloc, calls into Python or blocks on the common path.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>

#include "collect/memory/byte_sampler.h"
#include "collect/memory/live_table.h"

namespace calltree {
class CodeRegistry;
}

namespace calltree::memory {

struct ThreadState {
    uint32_t guard = 0;  // nonzero: inside a hook or an allocator domain (do not count again)
    bool ready = false;
    ByteSampler alloc, copy;
    struct Counters* counters = nullptr;
};
// Constant-initialised, so the interposers reach it with a single thread-pointer offset.
extern constinit thread_local ThreadState t_state;

// Read by every interposer: one predictable branch while --memory is off.
extern std::atomic<bool> g_active;

// Whether an event on this thread is counted: the hooks are on, and this is not a nested call
// from inside a hook or an allocator domain that already counts it.
inline bool counting() {
    return __builtin_expect(g_active.load(std::memory_order_relaxed), 0) && t_state.guard == 0;
}

// Blocks the hooks on this thread for the duration (nests).
struct Guard {
    Guard() { ++t_state.guard; }
    ~Guard() { --t_state.guard; }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
};

struct Config {
    uint64_t rate = 32 * 1024;
    CodeRegistry* registry = nullptr;
    // The fault guard for the stack reads (not in the Python API's module, which has no sigaction
    // interposer to keep it: reads go by system call there).
    bool fault_guard = true;
};
// Allocates the tables (mmap) and switches the hooks on. Once per process.
void start(const Config& config);
// Switches the hooks off; what was recorded stays readable.
void stop();
// The calling thread's allocations are never counted (the sampler's own thread).
void ignore_this_thread();

// The hooks' entry points, called only while counting(). The common case (not sampled) is
// inline: a subtraction and a branch on thread-local state, and two counter increments.
struct Counters {
    // Written only by the owning thread (no locked instruction); read at the end. The overflow
    // slot shared by threads beyond the table's size may lose a few counts.
    std::atomic<uint64_t> allocs{0}, bytes{0}, copy_bytes{0};
};
extern uint64_t g_certain;  // allocations at least this large are always sampled
extern const std::atomic<uint8_t>* g_live_filter;
extern unsigned g_live_filter_shift;
void sample_alloc(void* ptr, size_t size);  // also sets up a thread's samplers at first use
void sample_copy(size_t size);
void on_free_sampled(void* ptr);

inline void bump(std::atomic<uint64_t>& counter, uint64_t by) {
    counter.store(counter.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}

// The byte sampler's decision before allocating: false (the common case) counts the allocation
// as not sampled; true means the caller must call sample_alloc() with the block.
// The first half of sample_next(), for hooks whose common case must stay a few instructions:
// true (the common case) when the allocation is counted and not sampled; false, and the caller
// must call settle_sample_point() and then sample_alloc() with the block.
inline bool counted_unsampled(size_t size) {
    ThreadState& t = t_state;
    // A thread's first event always takes the slow path (its countdown starts at 0), which
    // sets the thread up in sample_alloc: past this branch t.counters is valid.
    if (__builtin_expect(t.alloc.pass(size) && size < g_certain, 1)) {
        bump(t.counters->allocs, 1);
        bump(t.counters->bytes, size);
        return true;
    }
    return false;
}
inline void settle_sample_point() { t_state.alloc.settle(); }

inline bool sample_next(size_t size) {
    if (counted_unsampled(size)) return false;
    settle_sample_point();
    return true;
}

inline void on_alloc(void* ptr, size_t size) {
    if (sample_next(size)) sample_alloc(ptr, size);
}

// Whether `ptr` may be a live sampled block: one look at a small filter; most frees stop here.
inline bool maybe_sampled(void* ptr) {
    const std::atomic<uint8_t>* filter = g_live_filter;
    return filter != nullptr && LiveTable::maybe_in(filter, g_live_filter_shift, reinterpret_cast<uintptr_t>(ptr));
}

inline void on_free(void* ptr) {
    if (__builtin_expect(maybe_sampled(ptr), 0)) on_free_sampled(ptr);
}

inline void on_copy(size_t size) {
    ThreadState& t = t_state;
    if (__builtin_expect(!t.copy.take(size), 1) && size < g_certain) {
        bump(t.counters->copy_bytes, size);
        return;
    }
    sample_copy(size);
}

// realloc: the old block leaves the table before the real realloc can hand its address to
// another thread; if the real realloc fails, put_back() restores it.
struct Taken {
    bool found = false;
    uint32_t stack = 0;
    double weight = 0;
};
Taken take_for_realloc(void* ptr);
void put_back(void* ptr, const Taken& taken);

// After stop(), for the collector.
struct StackCosts {
    double alloc_bytes = 0, allocs = 0, copy_bytes = 0;
    double live = 0;  // sampled blocks still live (at stop: the leaks)
    double peak = 0;  // live at the largest footprint
};
struct Summary {
    uint64_t rate = 0;
    uint64_t allocs_seen = 0, bytes_seen = 0, copy_bytes_seen = 0;  // exact, every hook call
    uint64_t samples = 0, copy_samples = 0;
    double sampled_bytes = 0, sampled_allocs = 0, sampled_copy_bytes = 0;  // weighted totals
    double peak_footprint = 0;  // largest sum of live sampled weights
    uint64_t untracked_blocks = 0;  // live table full: not in leaks or peak
    uint64_t lost_stacks = 0;       // stack table full: charged to no stack
    uint64_t unreadable_stacks = 0; // caught mid-update by the stack read: charged to no stack
    uint64_t stacks = 0;            // distinct call paths recorded
};
Summary summary();
// visit(stack frames innermost first as (registry id, lasti), truncated, costs) per stack,
// under the recorder's lock: the visitor must not wait for another thread's allocation.
using StackVisitor = std::function<void(std::span<const uint32_t> functions, std::span<const int32_t> lastis,
                                        bool truncated, const StackCosts& costs)>;
void for_each_stack(const StackVisitor& visit);

}  // namespace calltree::memory
