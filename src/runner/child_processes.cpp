#include "runner/child_processes.h"

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "runner/run_end.h"
#include "runner/self_path.h"

namespace calltree::child_processes {

namespace {

// What the exec rewrite reads in a vfork child: filled once before the program runs, never
// changed or freed afterwards.
struct Rewrite {
    std::vector<std::string> strings;  // calltree's path, the marker, the list, options, "--"
    std::vector<const char*> prefix;   // pointers into `strings`
    // The interpreter the program runs in (any name for the same file: a virtualenv's
    // bin/python3, the base interpreter it links to, python3.11 beside it) is what is rewritten.
    dev_t python_dev = 0;
    ino_t python_ino = 0;
};
Rewrite* g_rewrite = nullptr;
std::atomic<bool> g_enabled{false};

// Called from _exit, which also runs in vfork children (a failed exec) and from threads without
// the GIL: only the profiled process itself writes, and only a thread holding the GIL may stop
// the collectors (os._exit keeps it); any other thread writes what there is.
void before_exit() {
    if (!g_enabled.load() || !run_end::in_profiled_process()) return;
    if (run_end::python_running() && PyGILState_Check()) run_end::stop();
    run_end::finish();
}

}  // namespace

void enable(Settings settings) {
    auto* rewrite = new Rewrite();
    struct stat python {};
    std::string exe = calltree_executable();
    if (!exe.empty() && stat(python_executable().c_str(), &python) == 0) {
        rewrite->python_dev = python.st_dev;
        rewrite->python_ino = python.st_ino;
        rewrite->strings = {exe, kChildMarker, settings.list_path};
        rewrite->strings.insert(rewrite->strings.end(), settings.options.begin(), settings.options.end());
        rewrite->strings.emplace_back("--");
        for (const std::string& s : rewrite->strings) rewrite->prefix.push_back(s.c_str());
    }
    g_rewrite = rewrite;
    g_enabled.store(true);
}

bool enabled() { return g_enabled.load(); }

bool is_multiprocessing_helper(const Program& program) {
    if (program.kind != Program::Kind::PythonArgv) return false;
    // Interpreter options (multiprocessing passes the program's own: -B, -s, -X ...), then -c.
    for (size_t i = 0; i < program.args.size() && program.args[i].rfind('-', 0) == 0; ++i) {
        if (program.args[i] == "-X" || program.args[i] == "-W") ++i;  // their value is the next argument
        if (i >= program.args.size() || program.args[i] != "-c") continue;
        if (i + 1 == program.args.size()) return false;
        const std::string& code = program.args[i + 1];
        for (const char* start : {"from multiprocessing.forkserver import main;",
                                  "import sys; from multiprocessing.forkserver import main;",  // 3.14
                                  "from multiprocessing.resource_tracker import main;"})
            if (code.rfind(start, 0) == 0) return true;
        return false;
    }
    return false;
}

namespace {

// Async-signal-safe: appends `text` to the line being built in `buffer`.
struct Line {
    char buffer[1024];
    size_t size = 0;
    Line& operator<<(const char* text) {
        for (; text != nullptr && *text != '\0' && size < sizeof buffer - 1; ++text) buffer[size++] = *text;
        return *this;
    }
    Line& operator<<(long value) {
        char digits[24];
        size_t n = 0;
        unsigned long v = value < 0 ? 0ul - static_cast<unsigned long>(value) : static_cast<unsigned long>(value);
        do digits[n++] = static_cast<char>('0' + v % 10); while ((v /= 10) != 0 && n < sizeof digits);
        if (value < 0) *this << "-";
        while (n > 0 && size < sizeof buffer - 1) buffer[size++] = digits[--n];
        return *this;
    }
};

// In the (v)fork child about to exec python3, when calltree cannot be run there (the child
// changed to a user that may not execute it): python3 runs as asked, unprofiled, and this says
// so as run_unprofiled would. Async-signal-safe: system calls only.
void report_not_runnable(const Rewrite& rewrite, int err) {
    long pid = static_cast<long>(syscall(SYS_getpid));
    Line line;
    line << "calltree: child process " << pid << " runs unprofiled: cannot run " << rewrite.prefix[0] << " ("
         << strerrordesc_np(err) << ")\n";
    (void)!syscall(SYS_write, 2, line.buffer, line.size);
    Line entry;
    entry << kUnprofiled << pid << "\n";
    long fd = syscall(SYS_openat, AT_FDCWD, rewrite.prefix[2], O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0) return;
    (void)!syscall(SYS_write, fd, entry.buffer, entry.size);
    syscall(SYS_close, fd);
}

}  // namespace

size_t rewritten_argv_size(const char* path, char* const argv[]) {
    const Rewrite* rewrite = g_rewrite;
    if (!g_enabled.load() || rewrite == nullptr || rewrite->prefix.empty() || path == nullptr || argv == nullptr ||
        argv[0] == nullptr)
        return 0;
    struct stat target {};
    if (stat(path, &target) != 0 || target.st_dev != rewrite->python_dev || target.st_ino != rewrite->python_ino)
        return 0;
    // As the exec will check it: with the effective ids, which subprocess's user= and group=
    // have just changed.
    if (syscall(SYS_faccessat2, AT_FDCWD, rewrite->prefix[0], X_OK, AT_EACCESS) != 0) {
        if (errno != ENOSYS) {
            report_not_runnable(*rewrite, errno);
            return 0;
        }
    }
    size_t count = 0;
    while (argv[count] != nullptr) ++count;
    return rewrite->prefix.size() + 2 + count + 1;
}

const char* rewrite_argv(const char* path, char* const argv[], const char** out) {
    const Rewrite& rewrite = *g_rewrite;
    size_t i = 0;
    // The prefix ends with "--": the child calltree runs the file that was exec'd, by the name
    // it was exec'd with (--python comes last, after any inherited one, and wins).
    for (size_t j = 0; j + 1 < rewrite.prefix.size(); ++j) out[i++] = rewrite.prefix[j];
    out[i++] = "--python";
    out[i++] = path;
    out[i++] = rewrite.prefix.back();
    for (size_t j = 0; argv[j] != nullptr; ++j) out[i++] = argv[j];
    out[i] = nullptr;
    return rewrite.prefix[0];
}

}  // namespace calltree::child_processes

// Listed, as every libc symbol calltree defines, in src/interpose/libc_symbols.list.
// os._exit (multiprocessing's fork workers end with it) skips every exit handler: with
// --subprocesses the profile is written first. glibc's own exit() reaches the system call
// without going through this symbol. The real call is the system call itself, as glibc's is.
extern "C" [[noreturn]] void _exit(int status) noexcept {
    calltree::child_processes::before_exit();
    for (;;) syscall(SYS_exit_group, status);
}

extern "C" [[noreturn]] void _Exit(int status) noexcept { _exit(status); }
