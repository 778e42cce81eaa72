#include "runner/fatal_signals.h"

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>

#include "process/default_action.h"
#include "process/fault_guard.h"
#include "process/helper_thread.h"
#include "process/signal_watch.h"
#include "cpython/boundary.h"
#include "runner/run_end.h"


namespace calltree::fatal_signals {

namespace {

// Everything the handler and the sigaction interposer touch: constant-initialised, so it is
// valid before main and in any thread.
struct Table {
    std::atomic<bool> armed{false};
    pid_t owner = 0;
    PyInterpreterState* interp = nullptr;
    sem_t wake{};                     // posted by the handler, waited on by the writer thread
    std::atomic<int> first_signal{0};  // the signal the process will die of
    std::atomic<bool> owned[NSIG]{};   // our handler is installed for this signal
    struct sigaction shown[NSIG]{};    // what the program set (SIG_DFL), reported to queries
};
constinit Table g;

bool g_keep_in_children = false;

enum GilWait : int { Waiting, Taken, GaveUp };
std::atomic<int> g_gil_wait{Waiting};
constexpr int kGilWaitMs = 2000;

// Signals whose default action ends the process, except the ones faults raise synchronously
// (SEGV, BUS, ILL, FPE, ABRT, TRAP, SYS: faulthandler's and the sanitizers') and the ones that
// stop or are ignored. SIGINT is Python's at start-up; it becomes ours only if the program (or
// CPython's own exit after an unhandled KeyboardInterrupt) sets SIG_DFL.
bool is_managed(int sig) {
    switch (sig) {
        case SIGHUP: case SIGINT: case SIGQUIT: case SIGPIPE: case SIGALRM: case SIGTERM:
        case SIGUSR1: case SIGUSR2: case SIGVTALRM: case SIGPROF: case SIGXCPU: case SIGXFSZ:
        case SIGIO: case SIGPWR: case SIGSTKFLT:
            return true;
        default:
            return sig >= SIGRTMIN && sig <= SIGRTMAX;
    }
}

bool this_thread_holds_gil() {
    PyThreadState* mine = PyGILState_GetThisThreadState();
    return mine != nullptr && mine == ct_current_thread_state();
}

// Sent by this process itself: by the kernel for a write into a closed pipe or past the file
// size limit, or by kill/raise/sigqueue from our own code. The sending thread (if it is the one
// handling it) is inside a system call holding no user-space lock, so it can wait here safely.
bool sent_by_this_process(const siginfo_t* info) {
    return (info->si_code == SI_USER || info->si_code == SI_TKILL || info->si_code == SI_QUEUE) &&
           info->si_pid == g.owner;
}

[[noreturn]] void park() {
    for (;;) pause();
}

// Restores the default action and re-raises in this thread, so the process ends by `sig`.
[[noreturn]] void die_of(int sig) {
    restore_default_action(sig);
    sigset_t only;
    sigemptyset(&only);
    sigaddset(&only, sig);
    pthread_sigmask(SIG_UNBLOCK, &only, nullptr);
    raise(sig);
    _exit(128 + sig);  // not reached: every managed signal's default action ends the process
}

void on_fatal_signal(int sig, siginfo_t* info, void*) {
    int saved_errno = errno;
    if (getpid() != g.owner) {
        // A vfork child, or a fork child before our atfork handler ran: act as SIG_DFL would
        // (the signal is blocked while we run, so it is delivered when we return).
        restore_default_action(sig);
        raise(sig);
        errno = saved_errno;
        return;
    }
    // The writer will share glibc's locks (the GIL's) with this thread from now on.
    helper_thread::tell_glibc_threads_exist();
    int none = 0;
    g.first_signal.compare_exchange_strong(none, sig);
    // Claimed while Python runs: the writer will take the GIL, so ask its holder to let go now.
    if (run_end::claim_for_signal()) ct_request_gil_drop(g.interp);
    // A signal this process sent itself ends it on the spot under python3: the next line must not
    // run. While Python runs, only a thread without the GIL can wait here (a GIL holder must
    // reach its next bytecode to hand the GIL over); after the program (finalisation), any thread
    // can, as long as no thread is stopping the collectors or writing.
    // Decided before the writer is woken: it moves the run on to the next phase.
    bool wait_here = run_end::signal_waits_for_gil() ? !this_thread_holds_gil() : run_end::over_and_idle();
    sem_post(&g.wake);
    if (wait_here && sent_by_this_process(info)) park();
    // Otherwise return. A thread a signal from outside interrupted at a random point may hold
    // locks the writer needs (malloc's); it blocks on the GIL before it can run Python code.
    errno = saved_errno;
}

struct sigaction our_action() { return stand_in_action(on_fatal_signal); }

// A sigaction on a managed signal in the profiled process: SIG_DFL becomes our handler, and our
// handler reads back as the SIG_DFL the program set.
int managed_sigaction(int sig, const struct sigaction* act, struct sigaction* old) {
    struct sigaction previous {};
    struct sigaction shown = g.shown[sig];
    bool was_owned = g.owned[sig].load();
    int rc;
    if (act != nullptr && act->sa_handler == SIG_DFL) {
        struct sigaction ours = our_action();
        rc = __sigaction(sig, &ours, &previous);
        if (rc == 0) {
            g.shown[sig] = *act;
            g.owned[sig].store(true);
        }
    } else {
        rc = __sigaction(sig, act, &previous);
        if (rc == 0 && act != nullptr) g.owned[sig].store(false);
    }
    if (rc == 0 && old != nullptr) *old = was_owned ? shown : previous;
    return rc;
}

// The writer's deadline for the GIL; started only once a signal arrived.
void* watch_gil_wait(void* arg) {
    int sig = static_cast<int>(reinterpret_cast<intptr_t>(arg));
    for (int waited = 0; waited < kGilWaitMs; waited += 10) {
        if (g_gil_wait.load() == Taken) return nullptr;
        usleep(10 * 1000);
        ct_wake_gil_mutex_waiters();
    }
    int expected = Waiting;
    if (!g_gil_wait.compare_exchange_strong(expected, GaveUp)) return nullptr;
    const char* name = sigabbrev_np(sig);
    std::string message = "calltree: SIG" + std::string(name != nullptr ? name : "?") +
                          ": the program held the GIL for " + std::to_string(kGilWaitMs / 1000) +
                          " s without releasing it; no profile was written\n";
    (void)!write(STDERR_FILENO, message.data(), message.size());
    die_of(sig);
}

void* writer_main(void*) {
    while (sem_wait(&g.wake) != 0) {
    }
    helper_thread::tell_glibc_threads_exist();  // the handler did; a signal raced with a fork may not have
    int sig = g.first_signal.load();
    if (run_end::signal_waits_for_gil()) {
        helper_thread::start(watch_gil_wait, reinterpret_cast<void*>(static_cast<intptr_t>(sig)), nullptr);
        PyGILState_Ensure();  // never released: no Python code runs again
        int expected = Waiting;
        if (!g_gil_wait.compare_exchange_strong(expected, Taken)) park();  // the watchdog ends it
        run_end::stop_for_signal();
    }
    run_end::finish();
    die_of(sig);
}

// In a forked child: SIG_DFL where the program set SIG_DFL, as under python3.
void reset_in_child() {
    g.armed.store(false);
    for (int sig = 1; sig < NSIG; ++sig) {
        if (!g.owned[sig].load()) continue;
        __sigaction(sig, &g.shown[sig], nullptr);
        g.owned[sig].store(false);
    }
}

bool start_writer() {
    g.owner = getpid();
    g.interp = PyInterpreterState_Main();
    if (sem_init(&g.wake, 0, 0) != 0) return false;
    // A helper thread: it never receives a signal itself.
    return helper_thread::start(writer_main, nullptr, nullptr);
}

}  // namespace

void keep_in_fork_children() { g_keep_in_children = true; }

void restart_in_fork_child(bool profiled) {
    if (!g.armed.load()) return;
    g.first_signal.store(0);
    g_gil_wait.store(Waiting);
    if (!profiled || !start_writer()) reset_in_child();
}

bool install() {
    if (!start_writer()) return false;
    if (!g_keep_in_children) pthread_atfork(nullptr, nullptr, reset_in_child);
    g.armed.store(true);
    // Take over what is SIG_DFL now (CPython has already recorded SIG_DFL in its table).
    for (int sig = 1; sig < NSIG; ++sig) {
        if (!is_managed(sig)) continue;
        struct sigaction current {};
        if (__sigaction(sig, nullptr, &current) == 0 && current.sa_handler == SIG_DFL)
            managed_sigaction(sig, &current, nullptr);
    }
    return true;
}

void wait_if_dying() {
    if (g.first_signal.load() != 0 && run_end::in_profiled_process()) park();
}

}  // namespace calltree::fatal_signals

// Listed, as every libc symbol calltree defines, in src/interpose/libc_symbols.list.
// Interposes libc's sigaction for the whole process (CPython's PyOS_setsig, faulthandler,
// extension modules). Async-signal-safe, like the real one.
// Every disposition set is announced to the signal's guard before the kernel has it, and counted
// after (process/signal_watch.h).
extern "C" int sigaction(int sig, const struct sigaction* act, struct sigaction* old) noexcept {
    using namespace calltree::fatal_signals;
    if (act != nullptr) calltree::signal_watch::before_change(sig);
    int rc = calltree::fault_guard::handles(sig) ? calltree::fault_guard::program_sigaction(sig, act, old)
             : !g.armed.load() || sig <= 0 || sig >= NSIG || !is_managed(sig) || getpid() != g.owner
                 ? __sigaction(sig, act, old)
                 : managed_sigaction(sig, act, old);
    if (act != nullptr) calltree::signal_watch::note_change(sig);
    return rc;
}

// glibc's signal(), siginterrupt() and sysv_signal() call its internal sigaction, past the
// interposer above: a C extension's signal(SIGTERM, SIG_DFL) would then put SIG_DFL back for
// real (and lose the profile at the next SIGTERM) and be told our handler was there. These take
// their place, with glibc's semantics, on top of the interposed sigaction.
namespace {

// Signals siginterrupt(sig, 1) was asked for: signal() then installs them without SA_RESTART.
// (glibc keeps this set privately; ours replaces it, as both entry points are ours.)
std::atomic<uint64_t> g_interrupting{0};

uint64_t signal_bit(int sig) { return uint64_t{1} << (sig - 1); }

sighandler_t set_handler(int sig, sighandler_t handler, int flags, bool mask_itself) {
    if (handler == SIG_ERR || sig < 1 || sig >= NSIG) {
        errno = EINVAL;
        return SIG_ERR;
    }
    struct sigaction act {}, old {};
    act.sa_handler = handler;
    sigemptyset(&act.sa_mask);
    if (mask_itself) sigaddset(&act.sa_mask, sig);
    act.sa_flags = flags;
    if (sigaction(sig, &act, &old) < 0) return SIG_ERR;
    return old.sa_handler;
}

}  // namespace

// BSD semantics, glibc's default for signal(): the handler stays, blocks its own signal while it
// runs, and system calls restart unless siginterrupt() said otherwise.
extern "C" sighandler_t signal(int sig, sighandler_t handler) noexcept {
    bool interrupting = sig >= 1 && sig < NSIG && (g_interrupting.load() & signal_bit(sig)) != 0;
    return set_handler(sig, handler, interrupting ? 0 : SA_RESTART, true);
}
extern "C" sighandler_t bsd_signal(int sig, sighandler_t handler) noexcept { return signal(sig, handler); }
extern "C" sighandler_t ssignal(int sig, sighandler_t handler) noexcept { return signal(sig, handler); }

// System V semantics (what signal() is under strict ISO C): one-shot, not blocked while it runs,
// system calls interrupted.
extern "C" sighandler_t __sysv_signal(int sig, sighandler_t handler) noexcept {
    return set_handler(sig, handler, SA_RESETHAND | SA_NODEFER, false);
}
extern "C" sighandler_t sysv_signal(int sig, sighandler_t handler) noexcept { return __sysv_signal(sig, handler); }

extern "C" int siginterrupt(int sig, int interrupt) noexcept {
    if (sig < 1 || sig >= NSIG) {
        errno = EINVAL;
        return -1;
    }
    struct sigaction act {};
    if (sigaction(sig, nullptr, &act) < 0) return -1;
    if (interrupt) {
        g_interrupting.fetch_or(signal_bit(sig));
        act.sa_flags &= ~SA_RESTART;
    } else {
        g_interrupting.fetch_and(~signal_bit(sig));
        act.sa_flags |= SA_RESTART;
    }
    return sigaction(sig, &act, nullptr);
}
