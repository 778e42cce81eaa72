#include "collect/sampler/thread_accounting.h"

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "process/helper_thread.h"

namespace calltree {

uint64_t read_clock(clockid_t clock) {
    timespec ts{};
    if (clock_gettime(clock, &ts) != 0) return 0;
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(ts.tv_nsec);
}


namespace {

int open_task_file(pid_t tid, const char* name) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/self/task/%d/%s", static_cast<int>(tid), name);
    return open(path, O_RDONLY | O_CLOEXEC);
}

// /proc/self/task/<tid>/<name> into buf as a C string; false if it cannot be read. `fd` is the
// file's kept descriptor (see TaskFiles).
bool read_task_file(pid_t tid, int& fd, const char* name, char* buf, size_t size) {
    if (!helper_thread::has_private_files()) return false;
    if (fd < 0) fd = open_task_file(tid, name);
    if (fd < 0) return false;
    ssize_t n = pread(fd, buf, size - 1, 0);  // offset 0: the kernel writes the file afresh
    if (n <= 0) {  // the thread ended
        close(fd);
        fd = -1;
        return false;
    }
    buf[n] = '\0';
    return true;
}

void close_kept(int& fd) {
    if (fd >= 0) close(fd);
    fd = -1;
}

}  // namespace

void close_task_files(TaskFiles& files) {
    close_kept(files.stat);
    close_kept(files.schedstat);
    close_kept(files.syscall);
}

bool is_running(TaskFiles& files) {
    char buf[512];
    if (!read_task_file(files.tid, files.stat, "stat", buf, sizeof buf)) return false;
    const char* close_paren = std::strrchr(buf, ')');  // the thread's name may hold spaces and parens
    return close_paren != nullptr && close_paren[1] == ' ' && close_paren[2] == 'R';
}

bool waits_on_futex_in(TaskFiles& files, uintptr_t start, uintptr_t end) {
    char buf[256];
    if (!read_task_file(files.tid, files.syscall, "syscall", buf, sizeof buf)) return false;
    long number = -1;
    unsigned long long address = 0;
    if (std::sscanf(buf, "%ld %llx", &number, &address) != 2 || number != SYS_futex) return false;
    return address >= start && address < end;
}

uint64_t read_run_delay(TaskFiles& files) {
    char buf[128];
    if (!read_task_file(files.tid, files.schedstat, "schedstat", buf, sizeof buf)) return 0;
    unsigned long long on_cpu = 0, waiting = 0;
    if (std::sscanf(buf, "%llu %llu", &on_cpu, &waiting) != 2) return 0;
    return waiting;
}

std::vector<AddressRange> interpreter_ranges() {
    std::vector<std::string> objects;
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) objects.emplace_back(exe, static_cast<size_t>(n));
    // The eval loop: in the executable for a static build (Debian's python3), in
    // libpythonX.Y.so for a shared one (pyenv's, --enable-shared), found through the C API.
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(&PyEval_EvalCode), &info) != 0 && info.dli_fname != nullptr)
        objects.emplace_back(info.dli_fname);
    if (dladdr(reinterpret_cast<void*>(&getpid), &info) != 0 && info.dli_fname != nullptr)
        objects.emplace_back(info.dli_fname);
    // calltree's own code, a library preloaded into python3: the allocation hooks of --memory
    // run inside the interpreter's own allocations.
    if (dladdr(reinterpret_cast<void*>(&interpreter_ranges), &info) != 0 && info.dli_fname != nullptr)
        objects.emplace_back(info.dli_fname);
    std::vector<AddressRange> ranges;
    std::ifstream maps("/proc/self/maps");
    std::string line;
    while (std::getline(maps, line)) {
        std::istringstream in(line);
        std::string addresses, perms, offset, dev, inode, path;
        in >> addresses >> perms >> offset >> dev >> inode;
        std::getline(in >> std::ws, path);
        if (perms.size() < 3 || perms[2] != 'x' || path.empty()) continue;
        bool wanted = path.find("/libm.so") != std::string::npos || path.find("/libm-") != std::string::npos;
        for (const std::string& o : objects) {
            char resolved[4096];
            if (path == o || (realpath(o.c_str(), resolved) != nullptr && path == resolved)) wanted = true;
        }
        if (!wanted) continue;
        auto dash = addresses.find('-');
        ranges.push_back(AddressRange{std::stoull(addresses.substr(0, dash), nullptr, 16),
                               std::stoull(addresses.substr(dash + 1), nullptr, 16)});
    }
    return ranges;
}

}  // namespace calltree
