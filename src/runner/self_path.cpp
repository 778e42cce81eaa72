#include "runner/self_path.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

namespace calltree {

namespace {
std::string g_executable;
std::string g_python;
char** g_argv = nullptr;
}  // namespace

void set_python_executable(const char* path) { g_python = path; }

std::string python_executable() { return g_python.empty() ? std::string(CALLTREE_PYTHON_EXECUTABLE) : g_python; }

void set_calltree_executable(const char* path) { g_executable = path; }

std::string calltree_executable() {
    if (!g_executable.empty()) return g_executable;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    return n > 0 ? std::string(exe, static_cast<size_t>(n)) : std::string();
}


void set_process_argv(char** argv) { g_argv = argv; }

void take_python_name(const char* argv0) {
    if (g_argv == nullptr || g_argv[0] == nullptr) return;
    // glibc's ld.so keeps the very array main got (_dl_argv): replacing the pointer in it is
    // what it sees. The string is never freed: faulthandler reads it from its fatal-signal
    // handler (backtrace_symbols_fd), which must find it valid whenever the process faults.
    char* name = strdup(argv0);
    if (name == nullptr) return;
    g_argv[0] = name;
    program_invocation_name = name;
    const char* slash = strrchr(name, '/');
    program_invocation_short_name = const_cast<char*>(slash != nullptr ? slash + 1 : name);
}

}  // namespace calltree
