#include "runner/exec_hook.h"

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>

#include "runner/run_end.h"

namespace calltree::exec_hook {

namespace {

std::atomic<pid_t> g_owner{0};

// Runs in the calling thread, which need not hold the GIL. Nothing here runs in a vfork child
// (the pid differs there), where only async-signal-safe calls are allowed.
void before_exec(const char* path) {
    pid_t owner = g_owner.load();
    if (owner == 0 || getpid() != owner) return;
    if (path != nullptr && access(path, X_OK) != 0) return;  // the exec fails: the run goes on
    if (run_end::python_running()) {
        PyGILState_STATE gil = PyGILState_Ensure();
        run_end::stop();
        PyGILState_Release(gil);
    }
    run_end::finish();
}

}  // namespace

void arm() { g_owner.store(getpid()); }

}  // namespace calltree::exec_hook

// The real calls are made as system calls: glibc's execve is one, and dlsym is not allowed in a
// vfork child.
extern "C" int execve(const char* path, char* const argv[], char* const envp[]) noexcept {
    calltree::exec_hook::before_exec(path);
    return static_cast<int>(syscall(SYS_execve, path, argv, envp));
}

extern "C" int execv(const char* path, char* const argv[]) noexcept { return execve(path, argv, environ); }

extern "C" int fexecve(int fd, char* const argv[], char* const envp[]) noexcept {
    calltree::exec_hook::before_exec(nullptr);
    return static_cast<int>(syscall(SYS_execveat, fd, "", argv, envp, AT_EMPTY_PATH));
}
