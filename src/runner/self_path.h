#pragma once
#include <string>

namespace calltree {

// The file to exec to run calltree again (children under --subprocesses): the launcher when
// calltree runs inside python3 (src/host), else this executable.
void set_calltree_executable(const char* path);
std::string calltree_executable();

// The interpreter the program runs in, as the launcher found it (a virtualenv's bin/python3,
// not its realpath): the program name CPython finds sys.executable and the virtualenv from,
// and the file whose execs --subprocesses profiles. Default: the build's CALLTREE_PYTHON_EXECUTABLE.
void set_python_executable(const char* path);
std::string python_executable();


// The process's own argv (what main got: the launcher's command line, as python3 was exec'd
// with it), kept to rename the process once it becomes the program's python3.
void set_process_argv(char** argv);

// Makes the process's argv[0] (glibc's record of it: dladdr and backtrace_symbols name the
// executable by it, as faulthandler's C stack does on 3.14) and program_invocation_name what
// python3 would have had: `argv0`, the name CPython is given as its program name.
void take_python_name(const char* argv0);

}  // namespace calltree
