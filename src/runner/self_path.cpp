#include "runner/self_path.h"

#include <limits.h>
#include <unistd.h>

namespace calltree {

namespace {
std::string g_executable;
std::string g_python;
}

void set_python_executable(const char* path) { g_python = path; }

std::string python_executable() { return g_python.empty() ? std::string(CALLTREE_PYTHON_EXECUTABLE) : g_python; }

void set_calltree_executable(const char* path) { g_executable = path; }

std::string calltree_executable() {
    if (!g_executable.empty()) return g_executable;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    return n > 0 ? std::string(exe, static_cast<size_t>(n)) : std::string();
}

}  // namespace calltree
