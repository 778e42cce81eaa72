// Deterministic tracer: a C-level PyEval_SetProfile callback that records every Python and C
// call with its caller, call-site line, count, self and inclusive time.
//
// One tracer per process (the profile hook is process state anyway). All entry points need the
// GIL except build_profile(), which works on plain C++ data after the interpreter is gone.
#pragma once
#include <string>

#include "collect/shared/naming.h"
#include "model/profile.h"

namespace calltree {

enum class TracerClock {
    Wall,     // invariant TSC when reliable, else CLOCK_MONOTONIC
    Cpu,      // per-thread CPU time
    Counter,  // every reading advances exactly 1000 ns: exact, repeatable costs for tests
};

struct TracerOptions {
    TracerClock clock = TracerClock::Wall;
    std::string cwd;  // resolves relative source paths, fixed at start-up
    // Take the profiler's own cost per event (measured at start-up) out of the times. The
    // counter clock is exact and never corrected.
    bool bias_correction = true;
};

namespace tracer {

// Installs the hook on the calling thread and, through threading.setprofile, on every thread
// the `threading` module starts. Returns false with a Python exception set on failure.
bool start(const TracerOptions& options);

// Stops recording everywhere and closes the activations still open at the current time.
// Idempotent; needs the GIL.
void stop();

// In a forked child, with the GIL: a fresh profile from the fork on. The forking thread's open
// calls stay open as the child's roots (each counted as one call, costs from the fork on);
// the other threads do not exist in the child and their stacks are dropped. False if the tracer
// was not recording when the parent forked.
bool restart_in_fork_child();

// Whether __main__'s code (the script, -c code or -m module) was ever entered.
bool main_started();

// Recording a block from inside a running program (the Python API, python/), any number of
// times in one process, one block at a time:
// - start_block starts recording at once (not at __main__'s first line) on the calling thread,
//   and on every thread `threading` starts until stop_block. The Python frames open on the
//   calling thread from `caller` outwards become the profile's roots: each counted as one call,
//   with its costs from now on, its arc at the line where it calls the next. Returns false with
//   a Python exception set.
// - stop_block stops recording: activations above `caller` on the calling thread (the API's own
//   call that stops it) are dropped as if never entered; every thread's hook is removed and
//   `threading`'s profile hook is put back as it was.
// - After the profile is built, reset forgets everything recorded (code objects released).
// `caller` is a PyFrameObject*.
bool start_block(const TracerOptions& options, void* caller);
void stop_block(void* caller);
void reset();
// Whether a recording (block or run) is going on.
bool recording();

// The recorded profile: one event "Time" in ns, functions, arcs, costs of every thread merged.
// `names` decides the display names (a run's collectors share one table); without it the
// tracer names its own functions.
Profile build_profile(const NameTable* names = nullptr);

// Adds every function the tracer saw (for the run's shared name table).
void name_functions(NameTable& names);

}  // namespace tracer
}  // namespace calltree

#include <memory>

#include "collect/collector.h"

namespace calltree {
// The tracer in the shape the run command composes.
std::unique_ptr<Collector> make_tracer_collector(const TracerOptions& options);
}  // namespace calltree
