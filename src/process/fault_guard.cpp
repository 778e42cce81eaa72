#include "process/fault_guard.h"

#include <pthread.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "process/default_action.h"
#include "process/safe_copy.h"


namespace calltree::fault_guard {

namespace {

struct Table {
    std::atomic<bool> installed{false};
    std::atomic<bool> installing{false};
    std::atomic<uint64_t> recovered{0};
    struct sigaction shown[2]{};  // what the program set for SIGSEGV, SIGBUS
};
constinit Table g;

constexpr int kSignals[2] = {SIGSEGV, SIGBUS};
int index_of(int sig) { return sig == SIGSEGV ? 0 : sig == SIGBUS ? 1 : -1; }

uintptr_t* pc_of(void* context) {
    auto* uc = static_cast<ucontext_t*>(context);
#if defined(__x86_64__)
    return reinterpret_cast<uintptr_t*>(&uc->uc_mcontext.gregs[REG_RIP]);
#elif defined(__aarch64__)
    return reinterpret_cast<uintptr_t*>(&uc->uc_mcontext.pc);
#else
    (void)uc;
    return nullptr;
#endif
}

// sa_handler and sa_sigaction share their storage: the kernel reads 0 and 1 as SIG_DFL and
// SIG_IGN whatever the flags say.
bool is_default_or_ignored(const struct sigaction& a) { return a.sa_handler == SIG_DFL || a.sa_handler == SIG_IGN; }

// What the program asked for, acted on as the kernel would have.
void forward(int sig, siginfo_t* info, void* context) {
    struct sigaction& program = g.shown[index_of(sig)];
    bool from_fault = info->si_code > 0;  // raised by the CPU, not sent by kill/raise
    if (is_default_or_ignored(program)) {
        if (!from_fault && program.sa_handler == SIG_IGN) return;
        // The default action, for real: a fault happens again when this handler returns; a sent
        // signal is sent again (blocked until we return). The process ends as under python3.
        restore_default_action(sig);
        g.installed.store(false);
        if (!from_fault) syscall(SYS_tgkill, syscall(SYS_getpid), syscall(SYS_gettid), sig);
        return;
    }
    struct sigaction handler = program;
    if ((program.sa_flags & SA_RESETHAND) != 0) {
        program = {};
        program.sa_handler = SIG_DFL;
    }
    // The program's mask for its handler, and its own signal unblocked if it asked for that.
    sigset_t mask = handler.sa_mask, previous;
    if ((handler.sa_flags & SA_NODEFER) == 0) sigaddset(&mask, sig);
    pthread_sigmask(SIG_BLOCK, &mask, &previous);
    if ((handler.sa_flags & SA_NODEFER) != 0) {
        sigset_t own;
        sigemptyset(&own);
        sigaddset(&own, sig);
        pthread_sigmask(SIG_UNBLOCK, &own, nullptr);
    }
    if ((handler.sa_flags & SA_SIGINFO) != 0)
        handler.sa_sigaction(sig, info, context);
    else
        handler.sa_handler(sig);
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

void on_fault(int sig, siginfo_t* info, void* context) {
    int saved_errno = errno;
    uintptr_t* pc = pc_of(context);
    // Only a fault raised by the guarded copy's own instruction: a kill() of SIGSEGV that happens
    // to arrive while a copy runs is the program's.
    if (pc != nullptr && info->si_code > 0) {
        uintptr_t resume = ct_safe_copy_resume_at(*pc);
        if (resume != 0) {
            *pc = resume;
            g.recovered.fetch_add(1, std::memory_order_relaxed);
            errno = saved_errno;
            return;
        }
    }
    forward(sig, info, context);
    errno = saved_errno;
}

struct sigaction our_action() { return stand_in_action(on_fault); }

}  // namespace

bool install() noexcept {
    if (g.installed.load()) return true;
    bool expected = false;
    if (!g.installing.compare_exchange_strong(expected, true)) {
        while (!g.installed.load() && g.installing.load()) sched_yield();
        return g.installed.load();
    }
    struct sigaction ours = our_action();
    bool ok = true;
    for (int i = 0; i < 2; ++i) {
        int sig = kSignals[i];
        struct sigaction current {};
        if (__sigaction(sig, nullptr, &current) != 0) {
            ok = false;
            break;
        }
        g.shown[i] = current;
        if (__sigaction(sig, &ours, nullptr) != 0) {
            __sigaction(SIGSEGV, &g.shown[0], nullptr);
            ok = false;
            break;
        }
    }
    if (ok) {
        g.installed.store(true);
        ct_safe_copy_enable_guarded();
    }
    g.installing.store(false);
    return ok;
}

// An ignored signal stays ignored across exec, a caught one becomes SIG_DFL: the program's
// SIG_IGN must be in the kernel when the exec happens.
void before_exec() noexcept {
    if (!g.installed.load()) return;
    for (int i = 0; i < 2; ++i)
        if (g.shown[i].sa_handler == SIG_IGN) __sigaction(kSignals[i], &g.shown[i], nullptr);
}

void after_failed_exec() noexcept {
    if (!g.installed.load()) return;
    struct sigaction ours = our_action();
    for (int i = 0; i < 2; ++i)
        if (g.shown[i].sa_handler == SIG_IGN) __sigaction(kSignals[i], &ours, nullptr);
}

bool turn_off_if_replaced() noexcept {
    static std::atomic<bool> off{false};
    if (!g.installed.load() || off.load()) return false;
    for (int sig : kSignals) {
        struct sigaction current {};
        if (__sigaction(sig, nullptr, &current) != 0 || (current.sa_flags & SA_SIGINFO) == 0 ||
            current.sa_sigaction != on_fault) {
            ct_safe_copy_disable_guarded();
            return !off.exchange(true);
        }
    }
    return false;
}

uint64_t recovered() noexcept { return g.recovered.load(std::memory_order_relaxed); }

bool handles(int sig) noexcept { return index_of(sig) >= 0 && g.installed.load(); }

int program_sigaction(int sig, const struct sigaction* act, struct sigaction* old) noexcept {
    int i = index_of(sig);
    if (i < 0) {
        errno = EINVAL;
        return -1;
    }
    struct sigaction previous = g.shown[i];
    if (act != nullptr) g.shown[i] = *act;
    if (old != nullptr) *old = previous;
    return 0;
}

}  // namespace calltree::fault_guard
