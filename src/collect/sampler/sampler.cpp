#include "collect/sampler/sampler.h"

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <fcntl.h>
#include <pthread.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "collect/shared/code_registry.h"
#include "cpython/boundary.h"
#include "collect/shared/line_table.h"
#include "collect/shared/naming.h"
#include "collect/memory/alloc_recorder.h"
#include "collect/shared/registry_naming.h"
#include "collect/shared/stack_tree.h"
#include "collect/sampler/thread_accounting.h"
#include "process/fault_guard.h"
#include "process/helper_thread.h"
#include "process/safe_copy.h"
#include "process/signal_watch.h"
#include "model/flat_map.h"
#include "model/names.h"

namespace calltree {

namespace {

// Event columns, in file order. Wall is the sum of the others, first so KCachegrind shows plain
// time by default.
enum Event { kWall, kPython, kNative, kSystem, kGil, kWait, kIdle, kEvents };

// A real-time signal no Python program is likely to use, rather than SIGPROF: a program (or a
// library) that sets up SIGPROF/ITIMER_PROF for itself keeps it. If the program takes this one
// anyway, sampling stops and the profile says so.
int sample_signal() { return SIGRTMIN + 5; }
constexpr size_t kMaxDepth = 1024;
constexpr size_t kMaxThreads = 4096;

enum class Where : uint8_t { Python, Native, NoFrames };
enum SlotState : uint32_t { kIdleSlot = 0, kRequested = 1, kDone = 2 };

// Written by the sampled thread's signal handler, read by the sampler thread once `state` is
// kDone. Lives in the heap so deep stacks never touch the sampled thread's own stack.
struct SampleSlot {
    std::atomic<uint32_t> state{kIdleSlot};
    std::atomic<bool> delivered{false};  // the handler began answering the last request
    uint32_t depth = 0;
    bool truncated = false;
    bool unreadable = false;  // the stack could not be read whole (see ct_read_stack)
    bool calling = false;     // the innermost frame is at a call (ct_is_calling)
    Where where = Where::NoFrames;
    ct_position position{};  // the innermost frame when the sample was taken
    uint32_t function[kMaxDepth];
    int32_t lasti[kMaxDepth];
    ct_raw_frame raw[kMaxDepth];
};

struct Shared {
    std::atomic<bool> active{false};
    pid_t pid = 0;
    uid_t uid = 0;  // read once: a system call fewer per request
    CodeRegistry* registry = nullptr;
    std::atomic<SampleSlot*> slots[kMaxThreads];
    // Code that counts as "the interpreter running Python" (thread_accounting.h); anything else
    // (extension modules, BLAS) is native code.
    AddressRange interpreter[32];
    size_t interpreter_ranges = 0;
    struct sigaction previous {};
    std::atomic<uint64_t> foreign_signals{0};
    // Set while the program sets a new disposition for our signal (quiesce_before_change): no
    // request is sent until the sampler has seen the change (see run()). `sending` brackets each
    // request, so that quiesce can wait for one in progress.
    std::atomic<bool> closed{false};
    std::atomic<bool> sending{false};
    std::atomic<uint32_t> closed_at_changes{0};
};

// Never destroyed: a late signal may still arrive while the process exits.
Shared* const g_shared = new Shared();

bool in_interpreter(uintptr_t pc) {
    const Shared& s = *g_shared;
    for (size_t i = 0; i < s.interpreter_ranges; ++i)
        if (pc >= s.interpreter[i].start && pc < s.interpreter[i].end) return true;
    return false;
}

bool same_place(const ct_position& a, const ct_position& b) {
    return a.frame != nullptr && a.frame == b.frame && a.code == b.code && a.lasti == b.lasti;
}

uintptr_t interrupted_pc(void* context) {
    auto* uc = static_cast<ucontext_t*>(context);
#if defined(__x86_64__)
    return static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]);
#elif defined(__aarch64__)
    return static_cast<uintptr_t>(uc->uc_mcontext.pc);
#else
    (void)uc;
    return 0;
#endif
}

// The thread's Python stack into the slot, innermost frame first, its frames named. `pc`: the
// instruction a signal interrupted; 0 for a stack read from outside (a thread blocked in the
// kernel, or running without the GIL), where only the frame's instruction tells whether the
// thread is in a call.
void record_stack(SampleSlot& slot, const void* tstate, uintptr_t pc) {
    int truncated = 0, unreadable = 0;
    size_t depth = ct_read_stack(tstate, slot.raw, kMaxDepth, &truncated, &unreadable);
    // Part of a stack would charge its time to the wrong root: the sample is counted as lost.
    if (unreadable) depth = 0;
    slot.unreadable = unreadable != 0;
    StackNamer names(*g_shared->registry);
    for (size_t i = 0; i < depth; ++i) {
        slot.function[i] = names.id(slot.raw[i]);
        slot.lasti[i] = slot.raw[i].lasti;
    }
    slot.depth = static_cast<uint32_t>(depth);
    slot.position = depth > 0 ? ct_position{slot.raw[0].frame, slot.raw[0].code, slot.raw[0].lasti, 0}
                              : ct_position{nullptr, nullptr, -1, 0};
    slot.truncated = truncated != 0;
    slot.calling = depth > 0 && ct_is_calling(slot.raw[0].code, slot.raw[0].lasti);
    if (depth == 0)
        slot.where = Where::NoFrames;
    else if (slot.calling || (pc != 0 && !in_interpreter(pc)))
        slot.where = Where::Native;
    else
        slot.where = Where::Python;
}

// What a thread that is not signalled is doing, from where it is (its instruction pointer is not
// known): at a call, or running without the GIL anywhere but at a GIL hand-over point (a C
// function or an extension that released the GIL: numpy's BLAS under `a @ b`), it is in native
// code; waiting at a hand-over point, or holding the GIL (blocked in the kernel in the middle of
// a bytecode: a page fault), the interpreter's.
Where where_unsignalled(bool calling, bool holds_gil, bool at_gil_handover) {
    if (calling) return Where::Native;
    return holds_gil || at_gil_handover ? Where::Python : Where::Native;
}

// The sampled thread records its own stack: its frames cannot change while it runs this.
void answer_request(size_t index, void* context) {
    Shared& s = *g_shared;
    SampleSlot* slot = index < kMaxThreads ? s.slots[index].load(std::memory_order_acquire) : nullptr;
    if (slot == nullptr) return;
    slot->delivered.store(true, std::memory_order_release);  // see wait_for_delivery
    if (slot->state.load(std::memory_order_acquire) != kRequested || !s.active.load()) return;
    // The stack reads fail rather than fault (src/cpython/readers.c), through the fault guard; if
    // the interrupted code blocks SIGSEGV or SIGBUS a fault would be fatal whatever the guard, so
    // they go through the system call instead.
    const sigset_t& interrupted_mask = static_cast<ucontext_t*>(context)->uc_sigmask;
    int was_by_syscall = ct_safe_copy_by_syscall(sigismember(&interrupted_mask, SIGSEGV) == 1 ||
                                                 sigismember(&interrupted_mask, SIGBUS) == 1);
    record_stack(*slot, ct_this_thread_state(), interrupted_pc(context));
    ct_safe_copy_by_syscall(was_by_syscall);
    slot->state.store(kDone, std::memory_order_release);
}

// Async-signal-safe: atomics, guarded reads of the interpreter's memory, no allocation.
void on_sample_signal(int, siginfo_t* info, void* context) {
    int saved_errno = errno;
    Shared& s = *g_shared;
    if (info->si_code != SI_QUEUE || info->si_pid != s.pid) {
        s.foreign_signals.fetch_add(1, std::memory_order_relaxed);
        errno = saved_errno;
        return;
    }
    answer_request(static_cast<size_t>(info->si_value.sival_int), context);
    errno = saved_errno;
}

bool any_request_outstanding() {
    for (const auto& entry : g_shared->slots) {
        const SampleSlot* slot = entry.load(std::memory_order_acquire);
        if (slot == nullptr) return false;  // slots are allocated in order
        if (slot->state.load(std::memory_order_acquire) == kRequested) return true;
    }
    return false;
}

// The program is about to give our signal a handler of its own (signal_watch's guard; any thread,
// maybe in a signal handler). Requests stop, and those already sent are left a moment to reach
// our handler: a signal queued just before the change would otherwise be delivered to the
// program's. Bounded (a thread that ended with a request pending never answers).
void quiesce_before_change() {
    Shared& s = *g_shared;
    if (!s.active.load() || getpid() != s.pid) return;  // stopped, or a (v)fork child: nothing of ours is sent to it
    s.closed_at_changes.store(signal_watch::changes(sample_signal()));
    s.closed.store(true);
    while (s.sending.load()) sched_yield();
    timespec pause{0, 50'000};
    for (int i = 0; i < 100 && any_request_outstanding(); ++i) nanosleep(&pause, nullptr);
}

// Whether the program's __main__ ever ran (`-m no_such_module` never gets there, and then no
// profile is written). A profile hook that removes itself at the first call into __main__, so
// it costs nothing once the program runs.
std::atomic<bool> g_main_started{false};

int watch_for_main(PyObject*, PyFrameObject* frame, int what, PyObject*) {
    if (what == PyTrace_CALL && runs_main_module(frame)) {
        g_main_started.store(true);
        PyEval_SetProfile(nullptr, nullptr);
    }
    return 0;
}

class Sampler final : public Collector {
public:
    explicit Sampler(SamplerOptions options) : options_(std::move(options)), tree_(kEvents) {}

    bool start() override;
    void stop() override;
    void name_functions(NameTable& names) override;
    void add_to(Profile& profile, const NameTable& names) override;
    bool program_started() const override { return g_main_started.load(); }

private:
    struct ThreadRecord {
        const void* tstate;
        pid_t tid;
        TaskFiles files;  // its /proc files, kept open in the sampler thread's own descriptor table
        uint32_t slot;
        uint64_t last_wall, last_sched, last_prof, last_virt, last_run_delay;
        // Time seen since the last attribution, charged to the stack the next sample records.
        uint64_t pending_wall = 0, pending_cpu = 0, pending_system = 0, pending_waiting = 0, pending_gil = 0;
        uint64_t cpu_without_system = 0;  // run time since the kernel last credited system time
        uint64_t cpu_since_split = 0, last_split_read = 0;  // run time since PROF/VIRT were read, and when
        uint32_t last_node = kNoNode;
        Where last_where = Where::Python;
        bool last_calling = false;  // the last sample's innermost frame was at a call
        uint32_t quiet_ticks = 0;  // consecutive ticks in which the thread did not run
        bool seen = true;
        bool last_truncated = false;
        uint32_t unmoved_ticks = 0;  // consecutive ticks it ran but stayed where it was sampled
        bool ran_last_tick = false;
        ct_position last_position{};
        // At the request: it ran all of the last interval. If the sample finds it at the
        // instruction of the previous one, that instruction has been executing all along.
        bool one_long_instruction = false;
        bool blocked_on_gil = false;  // found in a futex wait on the GIL at this quiet stretch's start
        bool wants_outside_read = false;  // not running Python and moved: its stack is read from outside
        bool stale = false;  // moved since its last sample, and not sampled since (see sample)
        std::vector<uint64_t> last_frames;  // the previous sample's (function, lasti), outermost first
        std::vector<uint32_t> last_nodes;   // and its tree nodes
    };
    static constexpr uint32_t kNoNode = ~0u;
    static constexpr size_t kNew = ~size_t{0};

    void run();
    void settle();
    void tick(uint64_t now);
    void refresh_clocks(ThreadRecord& t, uint64_t now, uint64_t sched);
    struct Seen;
    // Later: the GIL is changing hands right now; the time is charged with the next sample.
    enum class Asked { Sent, NotRunningPython, Later, Lost };
    void sample(ThreadRecord& t, const Seen& seen);
    Asked request(ThreadRecord& t);
    bool send_request(ThreadRecord& t);
    void wait_for_delivery(ThreadRecord& t, uint64_t ran);
    void sample_without_signal(ThreadRecord& t, const Seen& seen);
    void read_stacks_from_outside(uint64_t now);
    void read_from_outside(ThreadRecord& t, const void* tstate);
    void consume(ThreadRecord& t, bool from_outside = false);
    void charge(ThreadRecord& t, uint32_t node, Where where);
    void refresh_run_delay(ThreadRecord& t);
    uint32_t node_of(ThreadRecord& t, const SampleSlot& slot);
    uint32_t allocate_slot();
    void release_slot(uint32_t index);
    bool handler_still_ours();

    SamplerOptions options_;
    pthread_t thread_{};
    // Nonzero once stop() asks the sampler thread to end; a futex word, so that the thread's
    // wait for its next tick ends at once (at --interval 100ms, exit would wait up to 100 ms).
    std::atomic<uint32_t> stopping_{0};
    bool started_ = false;
    bool stopped_ = false;
    bool private_files_ = true;  // the sampler thread got a descriptor table of its own

    StackTree tree_;
    std::vector<ThreadRecord> threads_;
    std::vector<uint32_t> free_slots_;
    uint32_t slot_count_ = 0;
    struct Seen {
        const void* tstate;
        unsigned long tid;
        size_t record;         // index in threads_; kNew: a thread not seen before
        uint64_t sched;        // its run time, read during the walk
        bool placed;           // position was read (see tick)
        ct_position position;
    };
    std::vector<Seen> seen_now_;
    LineCache lines_;
    // Tree function indices are registry ids; these two follow the registry's last possible id.
    uint32_t no_frames_function_;
    uint32_t truncated_function_;
    bool used_no_frames_ = false, used_truncated_ = false;

    uint64_t samples_ = 0, idle_samples_ = 0, lost_ = 0, ticks_ = 0, missed_ticks_ = 0;
    uint64_t unreadable_ = 0;       // samples whose stack could not be read whole
    uint64_t unmoved_samples_ = 0;  // ticks charged without a signal to a thread that had not moved
    uint64_t outside_samples_ = 0;  // stacks read from outside: threads blocked or running without the GIL
    uint64_t displaced_at_ns_ = 0;  // the program installed its own handler for our signal
    uint64_t guard_off_at_ns_ = 0;  // the program replaced the fault guard (in_running_program)
    uint64_t start_ns_ = 0;
    const void* main_tstate_ = nullptr;
    uintptr_t gil_start_ = 0, gil_end_ = 0;
};

uint32_t Sampler::allocate_slot() {
    if (!free_slots_.empty()) {
        uint32_t index = free_slots_.back();
        free_slots_.pop_back();
        return index;
    }
    if (slot_count_ >= kMaxThreads) return ~0u;
    g_shared->slots[slot_count_].store(new SampleSlot(), std::memory_order_release);
    return slot_count_++;
}

void Sampler::release_slot(uint32_t index) {
    if (index != ~0u) free_slots_.push_back(index);
}

bool Sampler::start() {
    // CPython records every signal's disposition at start-up, before this runs, so
    // signal.getsignal() keeps answering SIG_DFL for ours, as under python3.
    Shared& s = *g_shared;
    s.pid = getpid();
    s.uid = getuid();
    // A block started again (the Python API) gets a registry of its own, so that its profile
    // names only what it saw; the previous one is freed unless a signal handler may still be
    // reading with it (a request outstanding: then it is left, as the command leaves its own).
    if (options_.in_running_program && s.registry != nullptr && !any_request_outstanding()) delete s.registry;
    s.registry = new CodeRegistry(1 << 17, size_t{64} << 20);
    std::vector<AddressRange> ranges = interpreter_ranges();
    s.interpreter_ranges = std::min(ranges.size(), std::size(s.interpreter));
    std::copy_n(ranges.begin(), s.interpreter_ranges, s.interpreter);
    main_tstate_ = ct_this_thread_state();
    ct_gil_state_range(&gil_start_, &gil_end_);
    no_frames_function_ = static_cast<uint32_t>(s.registry->capacity());
    truncated_function_ = no_frames_function_ + 1;

    struct sigaction action {};
    action.sa_sigaction = on_sample_signal;
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&action.sa_mask);
    // A fault in a stack read must reach the fault guard (blocked, it would kill the process).
    sigdelset(&action.sa_mask, SIGSEGV);
    sigdelset(&action.sa_mask, SIGBUS);
    fault_guard::install();
    if (handler_still_ours()) {
        // A block started again in the same process: the handler is ours since the first one.
    } else if (sigaction(sample_signal(), &action, &s.previous) != 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return false;
    }
    // The sampler thread walks the thread list under the interpreter's lock, without the GIL.
    // A forked child is another process: it samples nothing and keeps no trace of us.
    static bool fork_handler = false;
    if (!fork_handler) {
        fork_handler = true;
        pthread_atfork(nullptr, nullptr, [] {
            g_shared->active.store(false);
            sigaction(sample_signal(), &g_shared->previous, nullptr);
        });
    }
    signal_watch::set_guard(sample_signal(), quiesce_before_change);
    s.active.store(true);
    start_ns_ = read_clock(CLOCK_MONOTONIC);
    // A helper thread: the program's signals never reach it, and glibc keeps its single-thread
    // malloc for the program.
    ct_prepare_thread_walks();
    auto body = [](void* self) -> void* {
        static_cast<Sampler*>(self)->run();
        return nullptr;
    };
    // With a descriptor table of its own: the /proc files it reads while the program runs must
    // never take a number the program would have got.
    if (!helper_thread::start(body, this, &thread_, helper_thread::Files::Private)) {
        s.active.store(false);
        PyErr_SetString(PyExc_OSError, "calltree: could not start the sampler thread");
        return false;
    }
    started_ = true;
    if (options_.in_running_program)
        g_main_started.store(true);
    else
        PyEval_SetProfile(watch_for_main, nullptr);
    return true;
}

bool Sampler::handler_still_ours() {
    struct sigaction current {};
    if (sigaction(sample_signal(), nullptr, &current) != 0) return false;
    return (current.sa_flags & SA_SIGINFO) != 0 && current.sa_sigaction == on_sample_signal;
}

void Sampler::run() {
    memory::ignore_this_thread();  // with --memory: the sampler's own allocations are not the program's
    private_files_ = helper_thread::has_private_files();
    // Stacks read from outside (read_from_outside) go through process_vm_readv: this thread
    // blocks every signal, so a guarded copy's fault would kill the process.
    ct_safe_copy_by_syscall(1);
    prctl(PR_SET_TIMERSLACK, 1UL);
    // A late tick charges the time since the last one to whatever runs after it: on a busy
    // machine, ask for precedence over ordinary threads (allowed for root; ignored otherwise).
    setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), -10);
    const uint64_t interval = options_.interval_ns;
    // Each interval is drawn uniformly from 0.5x to 1.5x the asked one (the mean is the same): a
    // program that alternates between functions with a period near the interval would otherwise
    // be sampled at the same phases again and again, and its shares would beat (measured: a
    // function's share off by 5-8 points in one run in three, at 0.25 ms).
    uint64_t jitter_state = (read_clock(CLOCK_MONOTONIC) | 1) * 0x9E3779B97F4A7C15ULL;
    auto next_interval = [&] {
        jitter_state ^= jitter_state << 13;
        jitter_state ^= jitter_state >> 7;
        jitter_state ^= jitter_state << 17;
        return interval / 2 + (jitter_state >> 11) % (interval + 1);
    };
    uint64_t next = read_clock(CLOCK_MONOTONIC) + next_interval();
    // Whether the program took our signal is asked of the kernel when the sigaction interposer
    // saw a change to it, and at least once a millisecond for the routes it does not see (two
    // system calls a tick at 0.1 ms were a tenth of this thread's own work).
    uint32_t changes_seen = signal_watch::changes(sample_signal());
    uint64_t last_check = 0;
    while (stopping_.load(std::memory_order_relaxed) == 0) {
        timespec ts{static_cast<time_t>(next / 1'000'000'000ULL), static_cast<long>(next % 1'000'000'000ULL)};
        // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline, like clock_nanosleep.
        while (stopping_.load(std::memory_order_relaxed) == 0 &&
               syscall(SYS_futex, reinterpret_cast<uint32_t*>(&stopping_), FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, 0U,
                       &ts, nullptr, FUTEX_BITSET_MATCH_ANY) != 0 &&
               errno != ETIMEDOUT) {
        }
        if (stopping_.load(std::memory_order_relaxed) != 0) break;
        uint64_t now = read_clock(CLOCK_MONOTONIC);
        if (displaced_at_ns_ == 0) {
            // The program may take our signal for itself; then we stop sending it at once.
            uint32_t changes = signal_watch::changes(sample_signal());
            bool check = changes != changes_seen || now - last_check >= 1'000'000;
            if (check) {
                changes_seen = changes;
                last_check = now;
            }
            bool ours = !check || handler_still_ours();
            if (!ours) {
                displaced_at_ns_ = now - start_ns_;
                g_shared->active.store(false);
            } else {
                // Closed by a change that left our handler in place: open again once it is done.
                if (g_shared->closed.load() && changes != g_shared->closed_at_changes.load()) g_shared->closed.store(false);
                if (options_.in_running_program && fault_guard::turn_off_if_replaced()) guard_off_at_ns_ = now - start_ns_;
                tick(now);
            }
        }
        ++ticks_;
        next += next_interval();
        if (next < now) {
            missed_ticks_ += (now - next) / interval + 1;
            next = now + next_interval();
        }
    }
    settle();
}

// The end of the run, on the sampler thread (its /proc descriptors are in its own table): answers
// that arrived after the last tick still count, and stretches without CPU end here.
void Sampler::settle() {
    for (ThreadRecord& t : threads_) {
        SampleSlot* slot = g_shared->slots[t.slot].load(std::memory_order_relaxed);
        if (slot->state.load(std::memory_order_acquire) == kDone) consume(t);
        if (t.last_node != kNoNode && t.pending_wall > 0) {
            refresh_run_delay(t);
            charge(t, t.last_node, t.last_where);
        }
        close_task_files(t.files);
    }
}

// `sched` is the thread's run time read at this tick.
void Sampler::refresh_clocks(ThreadRecord& t, uint64_t now, uint64_t sched) {
    uint64_t wall = now - t.last_wall;
    uint64_t cpu = sched > t.last_sched ? sched - t.last_sched : 0;
    t.last_wall = now;
    t.last_sched = std::max(sched, t.last_sched);
    t.pending_wall += wall;
    t.pending_cpu += std::min(cpu, wall);
    // The kernel's user/system split moves a scheduler tick (4 ms at 250 Hz) at a time: read
    // more than once a millisecond, it only costs two more system calls a tick.
    t.cpu_since_split += cpu;
    if (t.cpu_since_split > 0 && now - t.last_split_read >= 1'000'000) {
        uint64_t ran = t.cpu_since_split;
        t.cpu_since_split = 0;
        t.last_split_read = now;
        uint64_t prof = read_clock(thread_clock(t.tid, kProfClock));
        uint64_t virt = read_clock(thread_clock(t.tid, kVirtClock));
        // PROF - VIRT is the kernel's system time for the thread; compare deltas.
        uint64_t d_prof = prof > t.last_prof ? prof - t.last_prof : 0;
        uint64_t d_virt = virt > t.last_virt ? virt - t.last_virt : 0;
        uint64_t system = d_prof > d_virt ? d_prof - d_virt : 0;
        t.last_prof = std::max(prof, t.last_prof);
        t.last_virt = std::max(virt, t.last_virt);
        // When no system time has come for 12 ms of running, a phase of system calls is over:
        // what is left of its credit is dropped, not spilled into the phase after it.
        if (system > 0) {
            t.cpu_without_system = 0;
        } else if ((t.cpu_without_system += ran) > 12'000'000) {
            t.pending_system = 0;
        }
        t.pending_system += system;
    }
    // A thread that ran for less than the whole interval may have waited for a CPU; one that
    // ran throughout is read every 8th tick (a schedstat read costs a few microseconds).
    if (cpu > 0 && (cpu + wall / 32 < wall || ticks_ % 8 == 0)) refresh_run_delay(t);
}

// Asks the thread for a sample with our signal, only if it is running Python: a thread blocked in
// the kernel is never signalled (its pause() would return, its blocking write would stop short,
// and neither is restarted whatever SA_RESTART says). The thread must hold the GIL, pinned from
// this check until our signal has reached it: CPython releases the GIL before every call that
// may block, so the thread cannot be in one when the signal lands (cpython/boundary.h). And it must be
// on a CPU: one that holds the GIL but is off the CPU is blocked in a call that kept the GIL (a
// C extension's), or waits for a CPU; its stack stays put either way, and is read from outside.
// Its run time tells, as the kernel's state in stat would, for a cheaper system call (2 us
// against 7 here).
Sampler::Asked Sampler::request(ThreadRecord& t) {
    if (!ct_pin_gil()) return Asked::Later;
    Asked asked = Asked::NotRunningPython;
    uint64_t ran = 0;
    if (ct_holds_gil(t.tstate) && (ran = read_clock(thread_clock(t.tid, kSchedClock))) > t.last_sched)
        asked = send_request(t) ? Asked::Sent : Asked::Lost;
    if (asked == Asked::Sent) wait_for_delivery(t, ran);
    ct_unpin_gil();
    return asked;
}

bool Sampler::send_request(ThreadRecord& t) {
    SampleSlot* slot = g_shared->slots[t.slot].load(std::memory_order_relaxed);
    slot->delivered.store(false, std::memory_order_relaxed);
    slot->state.store(kRequested, std::memory_order_release);
    siginfo_t info{};
    info.si_signo = sample_signal();
    info.si_code = SI_QUEUE;
    info.si_pid = g_shared->pid;
    info.si_uid = g_shared->uid;
    info.si_value.sival_int = static_cast<int>(t.slot);
    Shared& s = *g_shared;
    s.sending.store(true);
    bool sent = !s.closed.load() && syscall(SYS_rt_tgsigqueueinfo, s.pid, t.tid, sample_signal(), &info) == 0;
    s.sending.store(false);
    if (!sent) slot->state.store(kIdleSlot, std::memory_order_release);
    return sent;
}

void cpu_relax() {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

// While the GIL is pinned, until the signal can no longer catch the thread in a blocking call:
// - its handler began: the thread runs it, then what it was interrupted in, still holding the GIL;
// - or it is seen off the CPU (its run time stands still): it meets the pending signal as it
//   resumes, before any code of its own.
// A running thread takes the signal within the kernel's interrupt latency (a few microseconds,
// up to 15 measured on this VM). Bounded, for a thread that blocks our signal (a blocked signal
// interrupts nothing). `ran`: the thread's run time, read just before the signal was sent.
void Sampler::wait_for_delivery(ThreadRecord& t, uint64_t ran) {
    const SampleSlot* slot = g_shared->slots[t.slot].load(std::memory_order_relaxed);
    const clockid_t run_time = thread_clock(t.tid, kSchedClock);
    // The thread's run time is read (a system call, under its CPU's run-queue lock) only every
    // 4 us: most signals are taken sooner than that.
    uint64_t start = read_clock(CLOCK_MONOTONIC), next_look = start + 4'000;
    for (;;) {
        while (!slot->delivered.load(std::memory_order_acquire) && read_clock(CLOCK_MONOTONIC) < next_look) cpu_relax();
        if (slot->delivered.load(std::memory_order_acquire)) return;
        uint64_t now_ran = read_clock(run_time);
        if (now_ran == ran || read_clock(CLOCK_MONOTONIC) - start > 200'000) return;
        ran = now_ran;
        next_look = read_clock(CLOCK_MONOTONIC) + 4'000;
    }
}

void Sampler::sample(ThreadRecord& t, const Seen& seen) {
    // Until a sample of where it is now comes in (consume), or it is found where it was: whatever
    // keeps it from being sampled at this tick, it is tried again at the next, even if it no
    // longer runs by then.
    t.stale = true;
    switch (request(t)) {
        case Asked::Sent:
        case Asked::Later:
            return;
        case Asked::Lost:
            ++lost_;
            return;
        case Asked::NotRunningPython:
            sample_without_signal(t, seen);
            return;
    }
}

// A thread that is not running Python keeps its Python stack until it does again (frames change
// only under the GIL). Still where its last sample found it, its time goes there; elsewhere its
// stack is read from outside at the end of the tick (read_stacks_from_outside).
void Sampler::sample_without_signal(ThreadRecord& t, const Seen& seen) {
    if (t.last_node != kNoNode && seen.placed && same_place(seen.position, t.last_position)) {
        // Holding the GIL (off the CPU: preempted, or blocked in a call that kept the GIL), it is
        // doing what the last sample saw, whose interrupted instruction is better evidence.
        Where where = ct_holds_gil(t.tstate) ? t.last_where
                                             : where_unsignalled(t.last_calling, false, seen.position.at_gil_handover != 0);
        charge(t, t.last_node, where);
        t.last_where = where;
        t.stale = false;
        ++unmoved_samples_;
        return;
    }
    t.wants_outside_read = true;
}

// Reads, from outside, the stacks of the threads sample_without_signal() left for it: under the
// interpreter's thread-list lock (the thread states must stay valid), with process_vm_readv
// (the sampler thread's safe copies go through the system call: it cannot take the fault guard's
// signal). Several system calls a frame: within half an interval, at least one thread a tick;
// the others keep accumulating and are read at a later tick.
void Sampler::read_stacks_from_outside(uint64_t now) {
    bool wanted = false;
    for (const ThreadRecord& t : threads_) wanted = wanted || t.wants_outside_read;
    if (!wanted) return;
    struct Walk {
        Sampler& self;
        uint64_t deadline;
        bool any_read;
    } walk{*this, now + options_.interval_ns / 2, false};
    ct_for_each_thread(
        [](void* context, const void* tstate, unsigned long tid) {
            auto& [self, deadline, any_read] = *static_cast<Walk*>(context);
            for (ThreadRecord& t : self.threads_) {
                if (!t.wants_outside_read || t.tstate != tstate || t.tid != static_cast<pid_t>(tid)) continue;
                if (any_read && read_clock(CLOCK_MONOTONIC) > deadline) return;
                any_read = true;
                self.read_from_outside(t, tstate);
            }
        },
        &walk);
    for (ThreadRecord& t : threads_) {
        // Read: the stack is in its slot. Not read (no time left, or it ran Python meanwhile): it
        // keeps accumulating, and is looked at again at the next tick.
        if (t.wants_outside_read && g_shared->slots[t.slot].load(std::memory_order_relaxed)->state.load() == kDone)
            consume(t, true);
        t.wants_outside_read = false;
    }
}

// The stack is kept only if it cannot have changed while it was read: the thread did not run at
// all, or it ran without the GIL and is still at the innermost frame read.
void Sampler::read_from_outside(ThreadRecord& t, const void* tstate) {
    SampleSlot* slot = g_shared->slots[t.slot].load(std::memory_order_relaxed);
    if (slot->state.load(std::memory_order_acquire) != kIdleSlot) return;
    uint64_t before = read_clock(thread_clock(t.tid, kSchedClock));
    record_stack(*slot, tstate, 0);
    ct_position now{};
    ct_position_of(tstate, &now);
    bool holds_gil = ct_holds_gil(tstate) != 0;
    bool ran = read_clock(thread_clock(t.tid, kSchedClock)) != before;
    bool there = slot->depth == 0 ? now.frame == nullptr : same_place(now, slot->position);
    if (ran && (holds_gil || !there)) return;
    if (slot->depth > 0) slot->where = where_unsignalled(slot->calling, holds_gil, there && now.at_gil_handover != 0);
    slot->state.store(kDone, std::memory_order_release);
}

uint32_t Sampler::node_of(ThreadRecord& t, const SampleSlot& slot) {
    if (slot.depth == 0) {
        used_no_frames_ = true;
        return tree_.child(StackTree::kRoot, no_frames_function_, 0);
    }
    // The runner's own frames (runpy, for -m) sit below __main__'s: the profile starts at
    // __main__, as the tracer's does.
    size_t outermost = program_outermost(*g_shared->registry, std::span<const uint32_t>(slot.function, slot.depth), slot.truncated);
    uint32_t node = StackTree::kRoot;
    if (slot.truncated) {
        used_truncated_ = true;
        node = tree_.child(node, truncated_function_, 0);
    }
    // Consecutive samples of a thread share their outer frames: those nodes are reused from the
    // previous sample, so only the frames that changed cost lookups (deep recursion stays cheap).
    if (slot.truncated != t.last_truncated) t.last_frames.clear();
    t.last_truncated = slot.truncated;
    size_t depth = 0;
    bool same = true;
    for (size_t i = outermost + 1; i-- > 0;) {
        uint32_t function = slot.function[i];
        if (function == CodeRegistry::kNone) continue;  // could not be named: skip the frame
        uint64_t key = uint64_t{function} << 32 | static_cast<uint32_t>(slot.lasti[i]);
        if (same && depth < t.last_frames.size() && t.last_frames[depth] == key) {
            node = t.last_nodes[depth++];
            continue;
        }
        if (same) {
            same = false;
            t.last_frames.resize(depth);
            t.last_nodes.resize(depth);
        }
        node = tree_.child(node, function, lines_.line(*g_shared->registry, function, slot.lasti[i]));
        t.last_frames.push_back(key);
        t.last_nodes.push_back(node);
        ++depth;
    }
    if (same) {  // the new stack is a prefix of the previous one
        t.last_frames.resize(depth);
        t.last_nodes.resize(depth);
    }
    return node;
}

void Sampler::charge(ThreadRecord& t, uint32_t node, Where where) {
    uint64_t costs[kEvents] = {};
    uint64_t cpu = t.pending_cpu;
    uint64_t system = std::min(t.pending_system, cpu);
    uint64_t off_cpu = t.pending_wall > cpu ? t.pending_wall - cpu : 0;
    uint64_t waiting_for_cpu = std::min(t.pending_waiting, off_cpu);
    uint64_t gil = std::min(t.pending_gil, off_cpu - waiting_for_cpu);
    costs[kSystem] = system;
    costs[where == Where::Native ? kNative : kPython] = cpu - system;
    costs[kWait] = waiting_for_cpu;
    costs[kGil] = gil;
    costs[kIdle] = off_cpu - waiting_for_cpu - gil;
    costs[kWall] = costs[kPython] + costs[kNative] + costs[kSystem] + costs[kGil] + costs[kWait] + costs[kIdle];
    tree_.add(node, costs);
    // A wait shows in the run delay when it ends: what does not fit this interval's time off
    // the CPU belongs to the next ones (bounded, so an old reading cannot pile up).
    t.pending_waiting = std::min(t.pending_waiting - waiting_for_cpu, 32 * options_.interval_ns);
    // The kernel's user/system split advances a scheduler tick (4 ms at 250 Hz) at a time, while
    // the run time is exact: system time beyond this interval's CPU belongs to the next ones
    // (a few ticks at most; dropped when no more comes, see refresh_clocks).
    t.pending_system = std::min(t.pending_system - system, uint64_t{16'000'000});
    t.pending_wall = t.pending_cpu = t.pending_gil = 0;
}

void Sampler::refresh_run_delay(ThreadRecord& t) {
    uint64_t run_delay = read_run_delay(t.files);
    if (run_delay > t.last_run_delay) t.pending_waiting += run_delay - t.last_run_delay;
    t.last_run_delay = std::max(run_delay, t.last_run_delay);
}

void Sampler::consume(ThreadRecord& t, bool from_outside) {
    SampleSlot* slot = g_shared->slots[t.slot].load(std::memory_order_relaxed);
    if (from_outside) t.one_long_instruction = false;
    if (slot->unreadable) {
        // Lost: its time goes where the thread was last seen, as for a thread not sampled.
        ++unreadable_;
        if (t.last_node != kNoNode) charge(t, t.last_node, t.last_where);
        slot->state.store(kIdleSlot, std::memory_order_release);
        return;
    }
    uint32_t node = node_of(t, *slot);
    // An instruction that was already native at the last sample and has kept the thread busy
    // for the whole interval since is still C code working under it (a numpy operator), even
    // when the interrupted instruction is in libc (numpy's malloc and free), which otherwise
    // counts as the interpreter's.
    if (slot->where == Where::Python && t.last_where == Where::Native && t.one_long_instruction &&
        same_place(slot->position, t.last_position))
        slot->where = Where::Native;
    charge(t, node, slot->where);
    t.last_node = node;
    t.last_where = slot->where;
    t.last_position = slot->position;
    t.last_calling = slot->calling;
    t.stale = false;
    ++(from_outside ? outside_samples_ : samples_);
    slot->state.store(kIdleSlot, std::memory_order_release);
}

void Sampler::tick(uint64_t now) {
    seen_now_.clear();
    // A thread's place is read (from outside: process_vm_readv, under the process's mmap_lock)
    // only if it did not run nearly all of the interval, or runs without the GIL: what a place
    // tells (a GIL hand-over, a thread still at its last sample) matters only for time the thread
    // did not run, and for threads that are not signalled. A
    // program's munmap waits for those reads: reading every thread every tick cost call_heavy
    // 15% at 0.1 ms.
    struct Walk {
        Sampler& self;
        uint64_t now;
    } walk{*this, now};
    ct_for_each_thread(
        [](void* context, const void* tstate, unsigned long tid) {
            auto& [self, now] = *static_cast<Walk*>(context);
            Seen seen{tstate, tid, kNew, 0, false, ct_position{nullptr, nullptr, -1, 0}};
            for (size_t i = 0; i < self.threads_.size(); ++i)
                if (self.threads_[i].tstate == tstate && self.threads_[i].tid == static_cast<pid_t>(tid)) seen.record = i;
            if (seen.record != kNew) {
                ThreadRecord& t = self.threads_[seen.record];
                seen.sched = read_clock(thread_clock(t.tid, kSchedClock));
                uint64_t cpu = seen.sched - std::min(seen.sched, t.last_sched), wall = now - t.last_wall;
                // A thread without the GIL is not signalled (request): where it is tells whether its
                // last sample still holds.
                seen.placed = cpu * 64 < wall * 63 || !ct_holds_gil(tstate);
                if (seen.placed) ct_position_of(tstate, &seen.position);
            }
            self.seen_now_.push_back(seen);
        },
        &walk);
    for (ThreadRecord& t : threads_) t.seen = false;
    for (const Seen& seen : seen_now_) {
        const auto& [tstate, tid, index, sched, placed, position] = seen;
        // New records are appended below: earlier indices stay valid, pointers would not.
        ThreadRecord* record = index == kNew ? nullptr : &threads_[index];
        if (record == nullptr) {
            if (tid == 0) continue;  // a thread state not bound to a thread yet
            uint32_t slot = allocate_slot();
            if (slot == ~0u) continue;
            ThreadRecord t{};
            t.tstate = tstate;
            t.tid = static_cast<pid_t>(tid);
            t.files.tid = t.tid;
            t.slot = slot;
            t.last_wall = now;
            t.last_run_delay = read_run_delay(t.files);
            t.last_sched = read_clock(thread_clock(t.tid, kSchedClock));
            t.last_prof = read_clock(thread_clock(t.tid, kProfClock));
            t.last_virt = read_clock(thread_clock(t.tid, kVirtClock));
            threads_.push_back(t);
            sample(threads_.back(), seen);
            continue;
        }
        record->seen = true;
        ThreadRecord& t = *record;
        SampleSlot* slot = g_shared->slots[t.slot].load(std::memory_order_relaxed);
        uint32_t state = slot->state.load(std::memory_order_acquire);
        if (state == kDone) {
            consume(t);
            state = kIdleSlot;
        }
        bool ran = sched > t.last_sched;
        bool ran_throughout = (sched - std::min(sched, t.last_sched)) * 10 >= (now - t.last_wall) * 9;
        bool ran_before = t.ran_last_tick;
        t.ran_last_tick = ran;
        if (ran && t.quiet_ticks > 0) {
            // The end of a stretch without CPU. The kernel adds a wait for a CPU to the run delay
            // only when the thread gets one, so only now can the stretch be split into waiting
            // (Wait) and idle.
            refresh_run_delay(t);
            if (state != kRequested && t.last_node != kNoNode) charge(t, t.last_node, t.last_where);
        }
        t.quiet_ticks = ran ? 0 : t.quiet_ticks + 1;
        uint64_t wall_before = t.pending_wall, cpu_before = t.pending_cpu;
        refresh_clocks(t, now, sched);
        // Waiting at a GIL hand-over point, or (a thread other than the main one) with a thread
        // state but no Python frame yet: a new thread blocks there until it gets the GIL.
        // A thread blocked at a call may be waiting for the GIL after that call released it:
        // asked the kernel once when a stretch without CPU begins, and every 16 ticks after.
        if (!ran && !position.at_gil_handover && (t.quiet_ticks == 1 || t.quiet_ticks % 16 == 0))
            t.blocked_on_gil = waits_on_futex_in(t.files, gil_start_, gil_end_);
        if (ran) t.blocked_on_gil = false;
        if (t.blocked_on_gil || (placed && (position.at_gil_handover || (position.frame == nullptr && tstate != main_tstate_)))) {
            uint64_t wall = t.pending_wall - wall_before, cpu = t.pending_cpu - cpu_before;
            t.pending_gil += wall > cpu ? wall - cpu : 0;
        }
        if (state == kRequested) continue;  // the answer is on its way; keep accumulating
        if (!ran && t.last_node != kNoNode) {
            // A thread that was running and got no CPU this interval was either preempted (the
            // machine is busy) or blocked. Preempted, it is sampled where it stopped (off the CPU,
            // from outside: see request), so the wait goes to that line, not to the line of an
            // older sample. Likewise one whose last move could not be sampled yet (stale).
            bool preempted = ran_before && is_running(t.files);
            if (!preempted && !t.stale) {
                // Nothing ran on the thread since its last sample, so its stack is the same: its
                // time goes there when the stretch ends, without interrupting it (a sleeping thread
                // is never woken by us) and without reading anything per tick.
                ++idle_samples_;
                continue;
            }
            sample(t, seen);
            continue;
        }
        // A thread that ran only a little (a short wake-up between sleeps, a GIL hand-off) and is
        // back at the very instruction of its last sample has the same stack: charge its time
        // there rather than interrupt it (a blocking call would see EINTR; a retried sleep under
        // the GIL costs another GIL round). Not for a thread that kept running: a loop passes the
        // same instruction again and again, and charging it to the old sample would favour
        // whatever line was sampled last. At most 64 ticks in a row.
        if (t.last_node != kNoNode && position.frame != nullptr && position.frame == t.last_position.frame &&
            position.code == t.last_position.code && position.lasti == t.last_position.lasti &&
            t.pending_cpu * 4 < t.pending_wall && t.unmoved_ticks < 64) {
            ++t.unmoved_ticks;
            charge(t, t.last_node, t.last_where);
            ++unmoved_samples_;
            continue;
        }
        t.unmoved_ticks = 0;
        t.one_long_instruction = ran_throughout;
        sample(t, seen);
    }
    // Threads that ended: what they used since their last sample goes to their last stack.
    for (size_t i = 0; i < threads_.size();) {
        ThreadRecord& t = threads_[i];
        if (t.seen) {
            ++i;
            continue;
        }
        SampleSlot* slot = g_shared->slots[t.slot].load(std::memory_order_relaxed);
        uint32_t state = slot->state.load(std::memory_order_acquire);
        if (state == kDone) {
            consume(t);
        } else if (t.last_node != kNoNode) {
            charge(t, t.last_node, Where::Python);
        }
        if (state == kRequested) {
            ++lost_;  // the thread ended before answering; its slot is never reused
        } else {
            release_slot(t.slot);
        }
        close_task_files(t.files);
        threads_[i] = threads_.back();
        threads_.pop_back();
    }
    read_stacks_from_outside(now);
}

void Sampler::stop() {
    if (!started_ || stopped_) return;
    stopped_ = true;
    stopping_.store(1);
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&stopping_), FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, nullptr, nullptr, 0);
    pthread_join(thread_, nullptr);  // it settles the accounts as it ends (settle)
    g_shared->active.store(false);
    // The handler stays installed (inactive): a request still pending on a blocked thread must
    // not meet the signal's default action, which would kill the process.
}

void Sampler::name_functions(NameTable& names) { add_registry_namings(*g_shared->registry, options_.cwd, names); }

void Sampler::add_to(Profile& profile, const NameTable& names) {
    Profile own({EventType{"Wall", "Wall time (ns): the sum of the six below"},
                 EventType{"Python", "Python (ns): the interpreter running Python code"},
                 EventType{"Native", "Native (ns): in C functions and extensions called from Python"},
                 EventType{"System", "System (ns): kernel CPU time (system calls doing work)"},
                 EventType{"GIL", "GIL (ns): waiting to get the GIL back from another thread"},
                 EventType{"Wait", "Wait (ns): ready to run, but the machine's CPUs were busy with other work"},
                 EventType{"Idle", "Idle (ns): the thread used no CPU (sleeping, waiting for I/O or a lock)"}});
    const CodeRegistry& registry = *g_shared->registry;
    // Tree function indices are registry ids (then the two pseudo functions). Registry entries
    // of the same source (code recreated by exec) are one function, named as the tracer names.
    std::vector<FunctionId> ids = intern_registry_functions(registry, options_.cwd, own, 2, names);
    if (used_no_frames_) ids[no_frames_function_] = no_python_frame_function(own);
    if (used_truncated_) ids[truncated_function_] = truncated_stack_function(own, "<deeper than 1024 frames>");
    own.descriptions.emplace_back("Sampling interval", std::to_string(options_.interval_ns / 1000.0) + " us of wall time");
    own.descriptions.emplace_back("Samples", std::to_string(samples_ + outside_samples_ + idle_samples_ + unmoved_samples_) + " (" +
                                                 std::to_string(samples_) + " recorded by the thread, " +
                                                 std::to_string(outside_samples_) + " read from outside: threads blocked or running without the GIL, " +
                                                 std::to_string(unmoved_samples_) + " of threads still where they were, " +
                                                 std::to_string(idle_samples_) + " of threads that did not run)");
    own.descriptions.emplace_back("Samples lost", std::to_string(lost_ + registry.overflows() + unreadable_) + " (" +
                                                      std::to_string(unreadable_) + " with a stack caught mid-update)");
    if (fault_guard::recovered() > 0)
        own.descriptions.emplace_back("Stack reads that faulted", std::to_string(fault_guard::recovered()) + " (recovered)");
    if (missed_ticks_ > 0) own.descriptions.emplace_back("Ticks missed", std::to_string(missed_ticks_));
    if (guard_off_at_ns_ > 0)
        own.descriptions.emplace_back("Stack reads", "by system call after " + std::to_string(guard_off_at_ns_ / 1'000'000) +
                                                         " ms: the program replaced calltree's SIGSEGV/SIGBUS handler");
    if (!private_files_)
        own.descriptions.emplace_back("Thread states", "not read: the kernel refused the sampler a descriptor table of its own, "
                                                       "and the program's would show its descriptors (no Wait time, GIL waits only at hand-over points)");
    if (displaced_at_ns_ > 0)
        own.descriptions.emplace_back("Stopped", "the program installed its own handler for signal " + std::to_string(sample_signal()) + " after " +
                                                     std::to_string(displaced_at_ns_ / 1'000'000) + " ms");
    tree_.add_to(own, ids);
    profile.merge(own);
    for (auto& d : own.descriptions) profile.descriptions.push_back(d);
    if (displaced_at_ns_ > 0)
        std::cerr << "calltree: the program installed its own handler for signal " << sample_signal()
                  << ", which the sampler uses; sampling stopped after "
                  << displaced_at_ns_ / 1'000'000 << " ms" << std::endl;
}

}  // namespace

std::unique_ptr<Collector> make_sampler_collector(const SamplerOptions& options) {
    return std::make_unique<Sampler>(options);
}

}  // namespace calltree
