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

}  // namespace calltree
