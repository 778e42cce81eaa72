// The parts of --subprocesses without Python in them, for the launcher too (child_processes.h):
// the list of the children's profiles, the child file names, and running a child unprofiled.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>

#include "runner/child_processes.h"

#ifndef CALLTREE_PYTHON_EXECUTABLE
#error "CALLTREE_PYTHON_EXECUTABLE must name the python3 calltree runs in"
#endif

namespace calltree::child_processes {

namespace {

std::string expand_pid(std::string path, pid_t pid) {
    std::string text = std::to_string(pid);
    for (size_t at = path.find("%p"); at != std::string::npos; at = path.find("%p", at + text.size()))
        path.replace(at, 2, text);
    return path;
}

}  // namespace

std::string create_list() {
    const char* tmp = getenv("TMPDIR");
    std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/calltree-children-XXXXXX";
    int fd = mkstemp(pattern.data());
    if (fd < 0)
        throw std::runtime_error("cannot create the list of child profiles in '" +
                                 std::filesystem::path(pattern).parent_path().string() + "': " + strerror(errno));
    // Children that run as another user (subprocess's user=) report to it too: writable by all,
    // readable by the owner alone. What a stranger could add is only ever shown, never opened.
    (void)fchmod(fd, 0622);
    close(fd);
    return pattern;
}

void add_to_list(const std::string& list_path, const std::string& path) {
    // O_APPEND and a single write: lines from children ending at the same time never mix.
    int fd = open(list_path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0) return;
    std::string line = path + "\n";
    (void)!write(fd, line.data(), line.size());
    close(fd);
}

void add_unprofiled(const std::string& list_path, pid_t pid) {
    add_to_list(list_path, kUnprofiled + std::to_string(pid));
}

Reports take_list(const std::string& list_path) {
    Reports reports;
    std::ifstream in(list_path);
    for (std::string line; std::getline(in, line);) {
        if (line.rfind(kUnprofiled, 0) == 0)
            reports.unprofiled.push_back(line.substr(std::strlen(kUnprofiled)));
        else if (!line.empty())
            reports.profiles.push_back(line);
    }
    unlink(list_path.c_str());
    return reports;
}

std::string child_output(const std::string& child_template) {
    std::string path = expand_pid(child_template, getpid());
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return path;
    for (int i = 1;; ++i) {
        std::string next = path + "." + std::to_string(i);
        if (!std::filesystem::exists(next, ec)) return next;
    }
}

void say_unprofiled(const std::string& list_path, const std::string& reason, bool ran) {
    std::cerr << "calltree: child process " << getpid() << (ran ? " has no profile: " : " runs unprofiled: ") << reason
              << std::endl;
    add_unprofiled(list_path, getpid());
}

int run_unprofiled(const std::string& list_path, const Program& program, const std::string& reason,
                   const std::string& python) {
    say_unprofiled(list_path, reason, false);
    std::vector<std::string> args{program.target};
    args.insert(args.end(), program.args.begin(), program.args.end());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(python.c_str(), argv.data());
    // As a shell says it: the interpreter was found a moment ago, so this is not expected.
    std::cerr << "calltree: cannot run " << python << ": " << std::strerror(errno) << std::endl;
    return 127;
}

}  // namespace calltree::child_processes
