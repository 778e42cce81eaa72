#pragma once
#include <string>

namespace calltree {

struct RunOptions;

// What runs the profiled program once the command line is understood: run_profiled inside the
// interpreter, or, in the launcher (src/host), an exec of python3 that parses the same argv again.
using RunProgram = int (*)(const RunOptions& options, const std::string& command_line, int argc, char** argv);

// calltree's whole command line (argv[0] included); returns the process's exit status. Usage
// errors, --help, --version and `convert` never reach `run`.
int calltree_main(int argc, char** argv, RunProgram run);

}  // namespace calltree
