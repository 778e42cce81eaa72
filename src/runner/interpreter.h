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
    // With the GIL, once the program is over: after non-daemon threads were joined and the
    // program's own atexit handlers ran, or when SIGTERM arrives.
    std::function<void()> stop;
    // Once, without Python: after the interpreter finalised, or right after `stop` on SIGTERM.
    // Returns false if the results could not be saved, which turns a zero exit status into 2.
    std::function<bool()> finish;
};

// Returns the exit status python3 would return. On SIGTERM or an unhandled KeyboardInterrupt the
// process ends by the same signal as python3 does, after `finish` ran. In a forked child the
// hooks do nothing: the child is not the profiled process.
int run_program(const Program& program, RunHooks hooks);

}  // namespace calltree
