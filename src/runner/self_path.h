#pragma once
#include <string>

namespace calltree {

// The file to exec to run calltree again (children under --subprocesses): the launcher when
// calltree runs inside python3 (src/host), else this executable.
void set_calltree_executable(const char* path);
std::string calltree_executable();

}  // namespace calltree
