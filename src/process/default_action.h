// Reaching the kernel's signal dispositions past calltree's own `sigaction` interposer
// (runner/fatal_signals.cpp), for the handlers that act as the kernel would for the program.
#pragma once

#include <signal.h>

// glibc's own entry point (exported, same code as `sigaction`): how calltree reaches the real one
// without dlsym, which is not safe in a vfork child, in a signal handler or before main.
extern "C" int __sigaction(int sig, const struct sigaction* act, struct sigaction* old);

namespace calltree {

// Puts SIG_DFL back in the kernel for `sig`, so that re-raising it (or returning into the fault
// that raised it) ends the process exactly as under python3. Async-signal-safe.
inline void restore_default_action(int sig) {
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    __sigaction(sig, &dfl, nullptr);
}

// The disposition of a handler of calltree's that stands in for the program's (or the kernel's)
// action on a fatal or fault signal: on the program's alternate stack if it has one
// (faulthandler's, for stack overflows), and restarting what it interrupts, so the program's
// system calls see no EINTR that python3 would not give them.
inline struct sigaction stand_in_action(void (*handler)(int, siginfo_t*, void*)) {
    struct sigaction act {};
    act.sa_sigaction = handler;
    act.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigemptyset(&act.sa_mask);
    return act;
}

}  // namespace calltree
