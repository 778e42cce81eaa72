// The `calltree` command. calltree runs the profiled program inside Debian's own
// /usr/bin/python3 rather than in a copy of libpython linked into a program of ours: that
// interpreter is link-time optimised and runs Python code 5-20% faster than the libpython3.11.a
// it is built from, more than the whole budget of the sampling mode. So this program parses the
// command line (usage errors, --help, --version and `convert` end here, without Python), and
// for a run execs python3 with calltree's library preloaded; the library takes over python3's
// main (host_entry.cpp) and runs calltree again with the same argv, now inside the interpreter.
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <string>

#include "cli/calltree_main.h"
#include "cli/run_command.h"
#include "host/host_env.h"
#include "runner/child_processes.h"

#ifndef CALLTREE_PYTHON_EXECUTABLE
#error "CALLTREE_PYTHON_EXECUTABLE must name the python3 calltree runs in"
#endif

namespace {

int run_in_python3(const calltree::RunOptions& options, const std::string&, int, char** argv) {
    // A child (--subprocesses) runs unprofiled rather than not at all.
    auto fail = [&](const std::string& what) {
        std::string reason = what + ": " + std::strerror(errno);
        if (!options.child_list.empty())
            return calltree::child_processes::run_unprofiled(options.child_list, options.program, reason);
        std::cerr << "calltree: " << reason << "\n";
        return 127;
    };
    char self[PATH_MAX];
    if (realpath("/proc/self/exe", self) == nullptr) return fail("cannot find its own executable");
    std::string library(self, static_cast<size_t>(std::strrchr(self, '/') - self));
    library += "/" CALLTREE_HOST_LIBRARY;
    if (access(library.c_str(), R_OK) != 0) return fail("cannot read " + library);
    // The user's own preloads stay, after ours; host_entry.cpp puts LD_PRELOAD back as it was
    // before the program starts, so the program and its children see the environment unchanged.
    const char* user = getenv("LD_PRELOAD");
    const std::string user_preload = user != nullptr ? user : "";
    std::string preload = library;
    if (user != nullptr) {
        setenv(CALLTREE_ENV_USER_PRELOAD, user, 1);
        preload += std::string(" ") + user;
    } else {
        unsetenv(CALLTREE_ENV_USER_PRELOAD);
    }
    setenv(CALLTREE_ENV_LAUNCHER, self, 1);
    setenv("LD_PRELOAD", preload.c_str(), 1);
    execv(CALLTREE_PYTHON_EXECUTABLE, argv);
    int err = errno;
    if (user != nullptr)
        setenv("LD_PRELOAD", user_preload.c_str(), 1);
    else
        unsetenv("LD_PRELOAD");
    unsetenv(CALLTREE_ENV_USER_PRELOAD);
    unsetenv(CALLTREE_ENV_LAUNCHER);
    errno = err;
    return fail(std::string("cannot run ") + CALLTREE_PYTHON_EXECUTABLE);
}

}  // namespace

int main(int argc, char** argv) { return calltree::calltree_main(argc, argv, run_in_python3); }
