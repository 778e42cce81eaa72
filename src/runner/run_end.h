// How a profiled run ends: the collectors stop once and the profile is written once, whichever
// way the run ends first (the program returns or exits, a fatal signal, an exec) and from
// whichever thread. In a forked child everything here does nothing: the child is not the
// profiled process.
#pragma once
#include <functional>

namespace calltree::run_end {

// Before the interpreter starts. `stop` needs the GIL; `finish` needs no Python and returns
// false if the profile could not be saved.
void init(std::function<void()> stop, std::function<bool()> finish);

bool in_profiled_process();

// In a forked child, with the GIL (--subprocesses): the child becomes a profiled process of its
// own, with a run that has not ended. False (and nothing changes) if the parent's run had
// already begun to end when it forked.
bool restart_in_fork_child();

// True until the collectors have started stopping: Python can still run code.
bool python_running();

// From the program's side (at exit, before an exec), with the GIL: stops the collectors once.
// If a fatal signal already claimed the end of the run, gives up the GIL for good instead and
// waits for the signal's writer to end the process.
void stop();

// Without needing Python, from any thread: writes the profile once. A second caller waits until
// the first one is done. Returns whether the profile was saved.
bool finish();

// For a fatal signal (see fatal_signals.h). Async-signal-safe: claims the end of a program that
// is still running; true if this call made the claim. The claimer must then take the GIL and
// call stop_for_signal().
bool claim_for_signal();
// Whether a signal's claim is waiting for the GIL (async-signal-safe).
bool signal_waits_for_gil();
// Whether the program is over and no thread is stopping the collectors or writing the profile
// (async-signal-safe): a thread may then wait for a signal's writer without holding it up.
bool over_and_idle();
// With the GIL, after claim_for_signal() returned true.
void stop_for_signal();

}  // namespace calltree::run_end
