#include "cli/open_viewer.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <sstream>

extern char** environ;

namespace calltree {

namespace {
std::string find_on_path(const std::string& program) {
    const char* path = std::getenv("PATH");
    std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
        std::string candidate = (dir.empty() ? "." : dir) + "/" + program;
        if (access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    return {};
}
}  // namespace

void open_viewer(const std::string& path) {
    for (const char* viewer : {"kcachegrind", "qcachegrind"}) {
        std::string exe = find_on_path(viewer);
        if (exe.empty()) continue;
        posix_spawnattr_t attr;
        posix_spawnattr_init(&attr);
        // Its own session: the viewer outlives calltree and ignores the terminal's Ctrl-C.
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
        char* argv[] = {const_cast<char*>(exe.c_str()), const_cast<char*>(path.c_str()), nullptr};
        pid_t pid;
        int rc = posix_spawn(&pid, exe.c_str(), nullptr, &attr, argv, environ);
        posix_spawnattr_destroy(&attr);
        if (rc == 0) {
            std::cerr << "calltree: opened " << path << " in " << viewer << "\n";
            return;
        }
    }
    std::cerr << "calltree: --open: neither kcachegrind nor qcachegrind is installed (apt-get install kcachegrind)\n";
}

}  // namespace calltree
