// Signals that end python3 (SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGALRM, SIGPIPE after the program
// set SIG_DFL, ...) end the profiled program the same way, after the profile is written, and
// without the program being able to tell: the handling lives below Python.
//
// - For every such signal whose disposition is SIG_DFL, a C handler is installed, but the
//   `signal` module's table still says SIG_DFL, so signal.getsignal() shows what python3 shows
//   and signal.signal() replaces our handler: a program's own handler has full control.
// - calltree's library defines `sigaction` (preloaded into the interpreter, it comes before
//   libc's, so CPython's PyOS_setsig calls it): when the program asks for SIG_DFL on one of
//   these signals it gets our handler instead, and whoever asks is told SIG_DFL. It defines
//   glibc's signal(), siginterrupt() and sysv_signal() too, on top of it: glibc's own call its
//   internal sigaction, past ours.
// - The handler only notifies a native writer thread (invisible to `threading`). That thread takes
//   the GIL (the handler asks the thread holding it to let go at its next bytecode), stops the
//   collectors, writes the profile and kills the process with the same signal, so the parent sees
//   the status python3 gives. A thread that sent the signal to its own process without holding
//   the GIL (a write into a closed pipe, signal.raise_signal) is parked in the handler, so it does
//   not go on to raise BrokenPipeError or run the next line.
// - If the GIL is not released within 2 s (a C call that holds it), the process dies of the
//   signal without a profile and says so on stderr, rather than hanging.
// - Forked children get SIG_DFL back (pthread_atfork) and no writer thread: they inherit nothing,
//   unless they are profiled too (--subprocesses, restart_in_fork_child).
#pragma once

namespace calltree::fatal_signals {

// After interpreter start-up, before the program runs. Returns false if the writer thread could
// not be started (then signals act as they would without this module).
bool install();

// In a forked child (--subprocesses), with the GIL, instead of the reset at the fork: a profiled
// child gets a writer thread of its own, so a signal that ends it (Pool.terminate's SIGTERM)
// writes its profile first; a child that is not profiled gets the reset.
void restart_in_fork_child(bool profiled);
// Before install(): forked children keep the C handlers (they are acted on as SIG_DFL until
// restart_in_fork_child runs), since they will be profiled too.
void keep_in_fork_children();

// Whether a fatal signal has arrived: the process is about to be ended by the writer thread, so
// the main thread must not end it first with an exit status. Waits forever in that case.
void wait_if_dying();

}  // namespace calltree::fatal_signals
