// The `calltree` command. calltree runs the profiled program inside a real Python interpreter
// (the python3 a shell would run, or --python's) rather than in a copy of libpython linked into
// a program of ours: Debian's /usr/bin/python3 is link-time optimised and runs Python code 5-20%
// faster than the libpython3.11.a it is built from, more than the whole budget of the sampling
// mode, and a virtualenv or pyenv interpreter is the one the program is meant to run in. So this
// program parses the command line (usage errors, bad option values, --help, --version and
// `convert` end here, without Python), chooses the interpreter and checks its version
// (interpreter_choice.cpp), and for a run execs it with calltree's library preloaded; the
// library takes over its main (host_entry.cpp) and runs calltree again with the same argv, now
// inside the interpreter.
#include <dirent.h>
#include <limits.h>
#include <patchlevel.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "cli/calltree_main.h"
#include "cli/option_values.h"
#include "cli/run_command.h"
#include "host/host_env.h"
#include "host/interpreter_choice.h"
#include "runner/child_processes.h"

#ifndef CALLTREE_PYTHON_EXECUTABLE
#error "CALLTREE_PYTHON_EXECUTABLE must name the python3 calltree was built with"
#endif

namespace {

std::string library_name(int major, int minor) {
    return CALLTREE_HOST_LIBRARY_PREFIX + std::to_string(major) + "." + std::to_string(minor) + ".so";
}

// The CPython versions with a library in `dir` (libcalltree-3.X.so), in ascending order.
std::vector<std::pair<int, int>> library_versions(const std::string& dir) {
    std::vector<std::pair<int, int>> found;
    DIR* d = opendir(dir.c_str());
    if (d == nullptr) return found;
    while (dirent* e = readdir(d)) {
        int major = 0, minor = 0, end = 0;
        if (std::sscanf(e->d_name, CALLTREE_HOST_LIBRARY_PREFIX "%d.%d.so%n", &major, &minor, &end) == 2 &&
            e->d_name[end] == '\0' && std::strlen(e->d_name) == static_cast<size_t>(end) &&
            library_name(major, minor) == e->d_name)
            found.emplace_back(major, minor);
    }
    closedir(d);
    std::sort(found.begin(), found.end());
    return found;
}

struct Libraries {
    std::string self;  // the launcher's own path, empty if it cannot be found
    std::string dir;   // where the libraries are
    std::vector<std::pair<int, int>> versions;
};

// Beside the launcher in the build tree; under lib/calltree once installed (cmake --install).
// Without any, the build's own version (a run then fails with "cannot read" the library).
const Libraries& find_libraries() {
    static const Libraries found = [] {
        Libraries l;
        char self[PATH_MAX];
        if (realpath("/proc/self/exe", self) != nullptr) l.self = self;
        l.dir = l.self.empty() ? "." : l.self.substr(0, l.self.rfind('/'));
        l.versions = library_versions(l.dir);
        if (l.versions.empty()) {
            l.dir += "/../" CALLTREE_INSTALL_LIBDIR "/calltree";
            l.versions = library_versions(l.dir);
        }
        if (l.versions.empty()) l.versions.emplace_back(PY_MAJOR_VERSION, PY_MINOR_VERSION);
        return l;
    }();
    return found;
}

// "3.11, 3.13`last`3.14"
std::string version_list(const std::vector<std::pair<int, int>>& versions, const char* last) {
    std::string text;
    for (size_t i = 0; i < versions.size(); ++i) {
        if (i > 0) text += i + 1 == versions.size() ? last : ", ";
        text += std::to_string(versions[i].first) + "." + std::to_string(versions[i].second);
    }
    return text;
}

// The whole environment replaced by `entries` (NAME=value), strings kept alive for putenv.
void replace_environment(const std::vector<std::string>& entries) {
    static std::vector<std::string> kept;
    kept = entries;
    clearenv();
    for (std::string& e : kept)
        if (e.find('=') != std::string::npos) putenv(e.data());
}

int run_in_python3(const calltree::RunOptions& options, const std::string&, int, char** argv) {
    try {
        calltree::check_option_values(options);
    } catch (const std::invalid_argument& e) {
        std::cerr << "calltree: " << e.what() << "\n";
        return 2;
    }
    calltree::host::Interpreter python;
    std::string error;
    if (!calltree::host::choose_interpreter(options.python, CALLTREE_PYTHON_EXECUTABLE, python, error)) {
        std::cerr << "calltree: " << error << "\n";
        return 2;
    }
    // Each library was compiled against one CPython minor version (its C API, and the layouts
    // src/cpython reads): an interpreter without its library is refused before anything runs.
    const Libraries& libraries = find_libraries();
    const std::vector<std::pair<int, int>>& built = libraries.versions;
    const std::string& dir = libraries.dir;
    const std::string self = libraries.self;
    const bool found_self = !self.empty();
    if (std::find(built.begin(), built.end(), std::make_pair(python.major, python.minor)) == built.end()) {
        std::cerr << "calltree: " << python.path << " is Python " << python.major << "." << python.minor
                  << "; this calltree was built for Python " << version_list(built, " and ")
                  << " (choose another interpreter with --python PATH)\n";
        return 2;
    }
    // A child (--subprocesses) runs unprofiled rather than not at all.
    auto fail = [&](const std::string& what) {
        std::string reason = what + ": " + std::strerror(errno);
        if (!options.child_list.empty())
            return calltree::child_processes::run_unprofiled(options.child_list, options.program, reason, python.path);
        std::cerr << "calltree: " << reason << "\n";
        return 127;
    };
    if (!found_self) return fail("cannot find its own executable");
    std::string library = dir + "/" + library_name(python.major, python.minor);
    if (access(library.c_str(), R_OK) != 0) return fail("cannot read " + library);
    if (python.has_environment) replace_environment(python.environment);
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
    setenv(CALLTREE_ENV_LAUNCHER, self.c_str(), 1);
    setenv(CALLTREE_ENV_PYTHON, python.path.c_str(), 1);
    setenv("LD_PRELOAD", preload.c_str(), 1);
    execv(python.path.c_str(), argv);
    int err = errno;
    if (user != nullptr)
        setenv("LD_PRELOAD", user_preload.c_str(), 1);
    else
        unsetenv("LD_PRELOAD");
    unsetenv(CALLTREE_ENV_USER_PRELOAD);
    unsetenv(CALLTREE_ENV_LAUNCHER);
    unsetenv(CALLTREE_ENV_PYTHON);
    errno = err;
    return fail("cannot run " + python.path);
}

}  // namespace

int main(int argc, char** argv) {
    return calltree::calltree_main(argc, argv, run_in_python3, version_list(find_libraries().versions, ", "));
}
