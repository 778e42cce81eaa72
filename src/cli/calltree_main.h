#pragma once
#include <string>

namespace calltree {

struct RunOptions;

// What runs the profiled program once the command line is understood: run_profiled inside the
// interpreter, or, in the launcher (src/host), an exec of python3 that parses the same argv again.
using RunProgram = int (*)(const RunOptions& options, const std::string& command_line, int argc, char** argv);

// calltree's whole command line (argv[0] included); returns the process's exit status. Usage
// errors, --help, --version and `convert` never reach `run`. `pythons` lists the CPython versions
// this calltree can run ("3.11, 3.13, 3.14"), for --version.
int calltree_main(int argc, char** argv, RunProgram run, const std::string& pythons);

// The version of the Python calltree was built with, major.minor ("3.11").
std::string build_python_minor();

}  // namespace calltree
