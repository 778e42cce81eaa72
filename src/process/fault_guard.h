// The handler for SIGSEGV and SIGBUS that makes safe_copy.h's guarded reads possible: a fault at
// an instruction of the guarded copy resumes where the copy returns "failed"; any other fault
// (or a SIGSEGV sent by kill) goes to whatever the program set for the signal, exactly as it
// would without calltree: its handler (faulthandler's, a library's), or the default action, so
// the process dies of the same signal with the same core dump.
//
// The program cannot see the guard: the sigaction interposer (runner/fatal_signals.cpp) keeps
// what the program sets for these two signals here and answers queries with it, while the kernel
// keeps our handler. Installed by the collectors that read other contexts' frames (--sample,
// --memory); a plain run never installs it.
//
// Not covered: a disposition set by a raw rt_sigaction system call (past the interposer) replaces
// the guard; then the guarded reads would fault, so the reader checks `installed()` only at start
// and the sampler's periodic disposition check does not look at these signals. No known program
// does this for SIGSEGV.
#pragma once

#include <signal.h>

#include <cstdint>

namespace calltree::fault_guard {

// Installs the handler once for the process (idempotent, thread-safe); false if it could not be.
bool install() noexcept;

// Around an exec by the program (async-signal-safe: vfork children too): the program's SIG_IGN,
// which an exec keeps, is put in the kernel first, and the guard back if the exec failed.
void before_exec() noexcept;
void after_failed_exec() noexcept;

// Without the sigaction interposer (the Python API's module, where a program that is already
// running may set its own SIGSEGV or SIGBUS handler at any time): whether the kernel still has
// the guard for both signals. If it has not, guarded reads are switched off for good (every read
// by system call from then on); true the first time that happens.
bool turn_off_if_replaced() noexcept;

// Guarded reads that faulted and were turned into failed reads, so far.
uint64_t recovered() noexcept;

// For the sigaction interposer: whether calls for `sig` are answered here.
bool handles(int sig) noexcept;
// The program's sigaction for a handled signal: records `act` as the program's disposition and
// reports the previous one in `old`. The kernel's stays ours. Async-signal-safe.
int program_sigaction(int sig, const struct sigaction* act, struct sigaction* old) noexcept;

}  // namespace calltree::fault_guard
