#include "runner/exec_hook.h"

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <alloca.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <vector>

#include "process/fault_guard.h"
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

// Listed, as every libc symbol calltree defines, in src/interpose/libc_symbols.list.
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

// CPython 3.13's subprocess starts children with posix_spawn, whose exec happens inside glibc,
// past the execve above: with --subprocesses a spawn of python3 becomes a spawn of calltree the
// same way. posix_spawnp with a bare name is left alone (its search happens in glibc); subprocess
// passes the path it resolved itself. The spawn does not replace this process: no profile is
// written here.
namespace {
using spawn_fn = int (*)(pid_t*, const char*, const posix_spawn_file_actions_t*, const posix_spawnattr_t*,
                         char* const[], char* const[]);
int spawn_through(const char* name, pid_t* pid, const char* path, const posix_spawn_file_actions_t* actions,
                  const posix_spawnattr_t* attr, char* const argv[], char* const envp[]) {
    static std::atomic<spawn_fn> real_spawn{nullptr}, real_spawnp{nullptr};
    std::atomic<spawn_fn>& slot = name[11] == 'p' ? real_spawnp : real_spawn;
    spawn_fn real = slot.load();
    if (real == nullptr) {
        real = reinterpret_cast<spawn_fn>(dlsym(RTLD_NEXT, name));
        if (real == nullptr) return ENOSYS;
        slot.store(real);
    }
    size_t size = std::strchr(path != nullptr ? path : "", '/') != nullptr
                      ? calltree::child_processes::rewritten_argv_size(path, argv)
                      : 0;
    if (size == 0) return real(pid, path, actions, attr, argv, envp);
    std::vector<const char*> rewritten(size);
    const char* calltree = calltree::child_processes::rewrite_argv(path, argv, rewritten.data());
    return real(pid, calltree, actions, attr, const_cast<char* const*>(rewritten.data()), envp);
}
}  // namespace

extern "C" int posix_spawn(pid_t* pid, const char* path, const posix_spawn_file_actions_t* actions,
                           const posix_spawnattr_t* attr, char* const argv[], char* const envp[]) noexcept {
    return spawn_through("posix_spawn", pid, path, actions, attr, argv, envp);
}

extern "C" int posix_spawnp(pid_t* pid, const char* file, const posix_spawn_file_actions_t* actions,
                            const posix_spawnattr_t* attr, char* const argv[], char* const envp[]) noexcept {
    return spawn_through("posix_spawnp", pid, file, actions, attr, argv, envp);
}
