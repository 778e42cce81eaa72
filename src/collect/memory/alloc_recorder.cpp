#include "collect/memory/alloc_recorder.h"

#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <new>

#include "collect/shared/code_registry.h"
#include "cpython/boundary.h"
#include "collect/memory/live_table.h"
#include "process/fault_guard.h"
#include "process/safe_copy.h"

namespace calltree::memory {

constinit thread_local ThreadState t_state;
std::atomic<bool> g_active{false};

uint64_t g_certain = 1;
const std::atomic<uint8_t>* g_live_filter = nullptr;
unsigned g_live_filter_shift = 63;

namespace {

constexpr size_t kThreads = 4096;
constexpr size_t kMaxDepth = 128;  // frames kept per stack (the innermost ones)
// An allocation this many times the rate is sampled for sure: the chance of missing it
// (exp(-16) ~ 1e-7) is below any count's noise, and "large allocations are always seen".
constexpr uint64_t kCertainFactor = 16;
constexpr uint32_t kLostStack = 0;  // charged when the stack table is full

void* map_zeroed(size_t bytes) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    return p;
}

uint64_t mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

struct StackEntry {
    uint64_t hash;
    uint32_t offset;
    uint16_t depth;
    bool truncated;
};

// Everything behind the spin lock: only sampled events get here.
struct Tables {
    // Distinct stacks: up to `max_stacks`, with 16 frames each on average. The index is
    // touched at random, so its size is what a run with many stacks keeps resident.
    Tables(size_t live_capacity, unsigned filter_bits, size_t max_stacks)
        : live(live_capacity, filter_bits, size_t{1} << 14), max_stacks(max_stacks), slots(max_stacks * 2), max_frames(max_stacks * 16) {
        index = static_cast<uint32_t*>(map_zeroed(slots * sizeof(uint32_t)));
        stacks = static_cast<StackEntry*>(map_zeroed(max_stacks * sizeof(StackEntry)));
        costs = static_cast<StackCosts*>(map_zeroed(max_stacks * sizeof(StackCosts)));
        frame_ids = static_cast<uint32_t*>(map_zeroed(max_frames * sizeof(uint32_t)));
        frame_lastis = static_cast<int32_t*>(map_zeroed(max_frames * sizeof(int32_t)));
        stacks[kLostStack] = StackEntry{0, 0, 0, true};
        stack_count = 1;
    }
    LiveTable live;
    size_t max_stacks, slots, max_frames;
    uint32_t* index;  // hash slot -> stack id + 1 (0: empty)
    StackEntry* stacks;
    StackCosts* costs;
    uint32_t* frame_ids;
    int32_t* frame_lastis;
    size_t stack_count = 0, frames_used = 0;
    double live_total = 0, peak = 0, snapshot_peak = 0;
    bool peak_unsaved = false;  // the footprint reached a new peak not yet copied to costs.peak
    uint64_t samples = 0, copy_samples = 0, untracked = 0, lost_stacks = 0, unreadable_stacks = 0;
    double sampled_bytes = 0, sampled_allocs = 0, sampled_copy_bytes = 0;
};

struct Shared {
    uint64_t rate = 32 * 1024;
    uint64_t certain = 0;
    CodeRegistry* registry = nullptr;
    Tables* tables = nullptr;
    std::atomic<bool> lock{false};
    std::atomic<size_t> next_thread{0};
    Counters counters[kThreads];
};
Shared g_shared;

class SpinLock {
public:
    SpinLock() {
        while (g_shared.lock.exchange(true, std::memory_order_acquire))
            while (g_shared.lock.load(std::memory_order_relaxed)) __builtin_ia32_pause();
    }
    ~SpinLock() { g_shared.lock.store(false, std::memory_order_release); }
};

void init_thread(ThreadState& t) {
    size_t n = g_shared.next_thread.fetch_add(1, std::memory_order_relaxed);
    t.counters = &g_shared.counters[n < kThreads ? n : kThreads - 1];
    t.alloc.reset(g_shared.rate, mix(n * 2 + 1));
    t.copy.reset(g_shared.rate, mix(n * 2 + 2));
    t.ready = true;
}


// The calling thread's Python stack as registry ids, innermost first.
struct Stack {
    uint32_t functions[kMaxDepth];
    int32_t lastis[kMaxDepth];
    size_t depth = 0;
    bool truncated = false;
    bool unreadable = false;  // caught mid-update (ct_read_stack): charged to no stack
};

void capture(Stack& s) {
    ct_raw_frame raw[kMaxDepth];
    // The reads fail rather than fault (src/cpython/readers.c) through the fault guard, unless this
    // thread blocks SIGSEGV or SIGBUS (then a fault would be fatal): asked of the kernel, once
    // per sampled allocation.
    sigset_t blocked;
    bool faults_fatal = syscall(SYS_rt_sigprocmask, SIG_BLOCK, nullptr, &blocked, _NSIG / 8) != 0 ||
                        sigismember(&blocked, SIGSEGV) == 1 || sigismember(&blocked, SIGBUS) == 1;
    int was_by_syscall = ct_safe_copy_by_syscall(faults_fatal);
    int truncated = 0, unreadable = 0;
    size_t depth = ct_read_stack(ct_this_thread_state(), raw, kMaxDepth, &truncated, &unreadable);
    s.truncated = truncated != 0;
    s.unreadable = unreadable != 0;
    if (s.unreadable) depth = 0;
    s.depth = 0;
    StackNamer names(*g_shared.registry);
    for (size_t i = 0; i < depth; ++i) {
        uint32_t id = names.id(raw[i]);
        if (id == CodeRegistry::kNone) continue;  // could not be named: skip the frame
        s.functions[s.depth] = id;
        s.lastis[s.depth] = raw[i].lasti;
        ++s.depth;
    }
    ct_safe_copy_by_syscall(was_by_syscall);
}

// Under the lock: the id of this stack, added at first sight.
uint32_t intern_stack(Tables& tb, const Stack& s) {
    uint64_t h = mix(s.depth * 2 + s.truncated);
    for (size_t i = 0; i < s.depth; ++i) h = mix(h ^ (uint64_t{s.functions[i]} << 32 | static_cast<uint32_t>(s.lastis[i])));
    auto same = [&](const StackEntry& e) {
        if (e.hash != h || e.depth != s.depth || e.truncated != s.truncated) return false;
        for (size_t i = 0; i < s.depth; ++i)
            if (tb.frame_ids[e.offset + i] != s.functions[i] || tb.frame_lastis[e.offset + i] != s.lastis[i]) return false;
        return true;
    };
    size_t slot = h & (tb.slots - 1);
    for (; tb.index[slot] != 0; slot = (slot + 1) & (tb.slots - 1))
        if (same(tb.stacks[tb.index[slot] - 1])) return tb.index[slot] - 1;
    if (tb.stack_count >= tb.max_stacks || tb.frames_used + s.depth > tb.max_frames) {
        ++tb.lost_stacks;
        return kLostStack;
    }
    auto id = static_cast<uint32_t>(tb.stack_count++);
    tb.stacks[id] = StackEntry{h, static_cast<uint32_t>(tb.frames_used), static_cast<uint16_t>(s.depth), s.truncated};
    for (size_t i = 0; i < s.depth; ++i) {
        tb.frame_ids[tb.frames_used + i] = s.functions[i];
        tb.frame_lastis[tb.frames_used + i] = s.lastis[i];
    }
    tb.frames_used += s.depth;
    tb.index[slot] = id + 1;
    return id;
}

// Under the lock, before live bytes go down: if the footprint is at a peak not yet saved, the
// live bytes per stack are that peak's. Saving costs a pass over the stacks, so a peak less
// than 0.2% above the saved one is not saved again (the saved one is then within 0.2%).
void before_decrease(Tables& tb) {
    if (!tb.peak_unsaved) return;
    tb.peak_unsaved = false;
    if (tb.peak < tb.snapshot_peak * 1.002) return;
    for (size_t i = 0; i < tb.stack_count; ++i) tb.costs[i].peak = tb.costs[i].live;
    tb.snapshot_peak = tb.peak;
}

void add_live(Tables& tb, uint32_t stack, double weight) {
    tb.costs[stack].live += weight;
    tb.live_total += weight;
    if (tb.live_total > tb.peak) {
        tb.peak = tb.live_total;
        tb.peak_unsaved = true;
    }
}

void remove_live(Tables& tb, const LiveTable::Block& b) {
    before_decrease(tb);
    tb.costs[b.stack].live -= b.weight;
    tb.live_total -= b.weight;
}

}  // namespace

void start(const Config& config) {
    g_shared.rate = config.rate == 0 ? 1 : config.rate;
    g_shared.certain = g_shared.rate == 1 ? 1 : g_shared.rate * kCertainFactor;
    g_shared.registry = config.registry;
    if (config.fault_guard) fault_guard::install();  // the stack reads at sampled allocations rely on it
    // Every live block fits with rate 1 (tests); sampled, a few per rate-sized chunk of live
    // memory: up to 2^18 entries cover 6 GiB live at the default rate. The table starts at
    // 2^14 entries (384 KiB) and grows only as live sampled blocks need it.
    size_t capacity = g_shared.rate < 64 ? size_t{1} << 23 : g_shared.rate < 4096 ? size_t{1} << 21 : size_t{1} << 18;
    // The filter stays in cache at the default rate (32 KiB); small rates keep many more blocks
    // live and need a larger one, or most frees would take the lock to look them up.
    unsigned filter_bits = g_shared.rate >= 32 * 1024 ? 16 : g_shared.rate >= 1024 ? 18 : 22;
    // Every allocation recorded (small rates) meets far more distinct stacks than sampling does.
    size_t max_stacks = g_shared.rate < 1024 ? size_t{1} << 20 : size_t{1} << 17;
    g_shared.tables = new Tables(capacity, filter_bits, max_stacks);
    g_certain = g_shared.certain;
    g_live_filter_shift = g_shared.tables->live.filter_shift();
    g_live_filter = g_shared.tables->live.filter();
    // Threads that were running before start() get their samplers when they first allocate.
    t_state.ready = false;
    // A forked child is another program: its hooks only forward (a lock held by a thread that
    // does not exist in the child must never be waited for).
    static bool registered = false;
    if (!registered) {
        registered = true;
        pthread_atfork(nullptr, nullptr, [] {
            g_active.store(false);
            g_shared.lock.store(false);
        });
    }
    g_active.store(true);
}

void stop() {
    if (!g_active.exchange(false)) return;
    SpinLock lock;
    Tables& tb = *g_shared.tables;
    before_decrease(tb);  // the footprint may have peaked just before the end
}

// Reads the calling thread's Python stack (before the lock: no other thread waits on it) and,
// under the recorder's lock, hands `charge` the tables and the stack's index in them.
template <class Charge>
void charge_this_stack(Charge&& charge) {
    Stack s;
    capture(s);
    SpinLock lock;
    Tables& tb = *g_shared.tables;
    if (s.unreadable) {
        ++tb.unreadable_stacks;
        charge(tb, kLostStack);
        return;
    }
    charge(tb, intern_stack(tb, s));
}

void ignore_this_thread() { t_state.guard = 1; }

void sample_alloc(void* ptr, size_t size) {
    // A thread not set up yet has countdowns of 0, so its first event lands here: it gets its
    // samplers, which then judge this event too.
    ThreadState& t = t_state;
    if (!t.ready) {
        init_thread(t);
        bool sampled = t.alloc.take(size);
        if (!sampled && size < g_shared.certain) {
            bump(t.counters->allocs, 1);
            bump(t.counters->bytes, size);
            return;
        }
    }
    bump(t.counters->allocs, 1);
    bump(t.counters->bytes, size);
    Guard guard;
    double bytes_weight = size >= g_shared.certain ? static_cast<double>(size) : t.alloc.bytes_weight(size);
    double count_weight = size >= g_shared.certain ? 1.0 : t.alloc.count_weight(size);
    charge_this_stack([&](Tables& tb, uint32_t stack) {
        tb.costs[stack].alloc_bytes += bytes_weight;
        tb.costs[stack].allocs += count_weight;
        tb.sampled_bytes += bytes_weight;
        tb.sampled_allocs += count_weight;
        ++tb.samples;
        LiveTable::Block block{bytes_weight, stack};
        if (tb.live.insert(reinterpret_cast<uintptr_t>(ptr), block))
            add_live(tb, stack, block.weight);
        else
            ++tb.untracked;
    });
}

void on_free_sampled(void* ptr) {
    Guard guard;
    SpinLock lock;
    Tables& tb = *g_shared.tables;
    LiveTable::Block b;
    if (tb.live.remove(reinterpret_cast<uintptr_t>(ptr), &b)) remove_live(tb, b);
}

Taken take_for_realloc(void* ptr) {
    Taken taken;
    if (ptr == nullptr || !maybe_sampled(ptr)) return taken;
    Guard guard;
    SpinLock lock;
    Tables& tb = *g_shared.tables;
    LiveTable::Block b;
    if (!tb.live.remove(reinterpret_cast<uintptr_t>(ptr), &b)) return taken;
    remove_live(tb, b);
    return Taken{true, b.stack, b.weight};
}

void put_back(void* ptr, const Taken& taken) {
    if (!taken.found) return;
    Guard guard;
    SpinLock lock;
    Tables& tb = *g_shared.tables;
    if (tb.live.insert(reinterpret_cast<uintptr_t>(ptr), LiveTable::Block{taken.weight, taken.stack}))
        add_live(tb, taken.stack, taken.weight);
}

void sample_copy(size_t size) {
    ThreadState& t = t_state;
    if (!t.ready) {
        init_thread(t);
        if (!t.copy.take(size) && size < g_shared.certain) {
            bump(t.counters->copy_bytes, size);
            return;
        }
    }
    bump(t.counters->copy_bytes, size);
    Guard guard;
    double weight = size >= g_shared.certain ? static_cast<double>(size) : t.copy.bytes_weight(size);
    charge_this_stack([&](Tables& tb, uint32_t stack) {
        tb.costs[stack].copy_bytes += weight;
        tb.sampled_copy_bytes += weight;
        ++tb.copy_samples;
    });
}

Summary summary() {
    Summary out;
    out.rate = g_shared.rate;
    size_t threads = std::min(g_shared.next_thread.load(), kThreads);
    // A thread's counters slot is written by that thread only; these reads are after stop().
    for (size_t i = 0; i < threads; ++i) {
        out.allocs_seen += g_shared.counters[i].allocs.load(std::memory_order_relaxed);
        out.bytes_seen += g_shared.counters[i].bytes.load(std::memory_order_relaxed);
        out.copy_bytes_seen += g_shared.counters[i].copy_bytes.load(std::memory_order_relaxed);
    }
    if (g_shared.tables == nullptr) return out;
    Guard guard;
    SpinLock lock;
    const Tables& tb = *g_shared.tables;
    out.samples = tb.samples;
    out.copy_samples = tb.copy_samples;
    out.sampled_bytes = tb.sampled_bytes;
    out.sampled_allocs = tb.sampled_allocs;
    out.sampled_copy_bytes = tb.sampled_copy_bytes;
    out.peak_footprint = tb.snapshot_peak;
    out.untracked_blocks = tb.untracked;
    out.lost_stacks = tb.lost_stacks;
    out.unreadable_stacks = tb.unreadable_stacks;
    out.stacks = tb.stack_count - 1;
    return out;
}

void for_each_stack(const StackVisitor& visit) {
    if (g_shared.tables == nullptr) return;
    // A daemon thread may still be inside a sampled event that began before stop(). The
    // visitor may allocate: the caller's guard keeps that away from the hooks (and the lock).
    Guard guard;
    SpinLock lock;
    const Tables& tb = *g_shared.tables;
    for (size_t i = 0; i < tb.stack_count; ++i) {
        const StackEntry& e = tb.stacks[i];
        visit(std::span<const uint32_t>(tb.frame_ids + e.offset, e.depth),
              std::span<const int32_t>(tb.frame_lastis + e.offset, e.depth), e.truncated, tb.costs[i]);
    }
}

}  // namespace calltree::memory
