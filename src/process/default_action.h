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

}  // namespace calltree
