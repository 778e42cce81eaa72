#include "runner/exec_hook.h"

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <alloca.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "interpose/fault_guard.h"
#include "runner/child_processes.h"
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
// With --subprocesses an exec of python3 becomes an exec of calltree (child_processes.h); the
// new argv lives on this stack frame, which the exec replaces or returns from.
extern "C" int execve(const char* path, char* const argv[], char* const envp[]) noexcept {
    calltree::exec_hook::before_exec(path);
    calltree::fault_guard::before_exec();
    long rc;
    if (size_t size = calltree::child_processes::rewritten_argv_size(path, argv); size > 0) {
        auto** rewritten = static_cast<const char**>(alloca(size * sizeof(char*)));
        const char* calltree = calltree::child_processes::rewrite_argv(path, argv, rewritten);
        rc = syscall(SYS_execve, calltree, rewritten, envp);
    } else {
        rc = syscall(SYS_execve, path, argv, envp);
    }
    int saved_errno = errno;
    calltree::fault_guard::after_failed_exec();
    errno = saved_errno;
    return static_cast<int>(rc);
}

extern "C" int execv(const char* path, char* const argv[]) noexcept { return execve(path, argv, environ); }

extern "C" int fexecve(int fd, char* const argv[], char* const envp[]) noexcept {
    calltree::exec_hook::before_exec(nullptr);
    calltree::fault_guard::before_exec();
    long rc = syscall(SYS_execveat, fd, "", argv, envp, AT_EMPTY_PATH);
    int saved_errno = errno;
    calltree::fault_guard::after_failed_exec();
    errno = saved_errno;
    return static_cast<int>(rc);
}
