// Runs a program in an embedded CPython exactly as `python3` would (Py_RunMain with python3's own
// command-line parsing), with hooks around the program for collectors and writers.
#pragma once
#include <functional>

#include "runner/program.h"

namespace calltree {

struct RunHooks {
    // With the GIL, after start-up and before the program's first line. Returning false aborts
    // the run (a Python exception is printed).
    std::function<bool()> start;
    // Once, with the GIL, once the program is over: after non-daemon threads were joined and the
    // program's own atexit handlers ran, before an exec, or when a signal ends the program (then
    // from calltree's signal thread, while no other thread can run Python code).
    std::function<void()> stop;
    // Once, without Python, from any thread: after the interpreter finalised, or right after
    // `stop` before an exec or on a fatal signal. Returns false if the results could not be
    // saved, which turns a zero exit status into 2.
    std::function<bool()> finish;
    // Set only with --subprocesses: in a forked child, with the GIL, right after os.fork()
    // returned there. Restarts the collectors for a profile of the child's own (returning false
    // leaves the child unprofiled); afterwards `stop` and `finish` work in the child as in a
    // profiled process.
    std::function<bool()> fork_child;
};

// Returns the exit status python3 would return. On a signal that ends python3 (SIGTERM, SIGHUP,
// an unhandled KeyboardInterrupt...) the process ends by the same signal, after `finish` ran
// (see fatal_signals.h). In a forked child the hooks do nothing (the child is not the profiled
// process) unless `fork_child` makes it one.
int run_program(const Program& program, RunHooks hooks);

}  // namespace calltree
