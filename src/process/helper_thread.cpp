#include "process/helper_thread.h"

#include <dirent.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/single_threaded.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

#include "process/private_heap.h"

namespace calltree {
bool g_interposers_linked = false;
}

namespace calltree::helper_thread {

constinit thread_local bool t_is_helper = false;

namespace {

constinit thread_local bool t_private_files = false;

// Lives on the starting thread's stack until the helper has copied it: a heap block would have
// to be freed by the helper, into the heap it must not touch.
struct Start {
    void* (*body)(void*);
    void* arg;
    bool private_heap;
    bool private_files;
    std::atomic<uint32_t> taken{0};
};

// Closes every descriptor of this thread's (private) table: close_range, or where the kernel
// lacks it (before 5.9) one by one, as /proc/self/fd lists them (read through a descriptor of
// the same table) or else up to the descriptor limit.
void close_all_descriptors() {
    if (close_range(0, ~0U, 0) == 0) return;
    if (DIR* dir = opendir("/proc/self/fd")) {
        int own = dirfd(dir);
        while (dirent* entry = readdir(dir)) {
            int fd = atoi(entry->d_name);
            if (entry->d_name[0] != '.' && fd != own) close(fd);
        }
        closedir(dir);
        return;
    }
    rlimit limit{};
    rlim_t last = getrlimit(RLIMIT_NOFILE, &limit) == 0 ? limit.rlim_cur : 1024;
    for (rlim_t fd = 0; fd < last && fd < (rlim_t{1} << 20); ++fd) close(static_cast<int>(fd));
}

// Gives this thread a copy of the process's descriptor table, then empties the copy: the
// program's files stay exactly as open as they were (closing them here releases none of the
// program's POSIX locks: those belong to the table they were taken through), and this thread's
// own descriptors are numbered in a table the program never sees. Done before the helper is
// announced as started, so the copy lives no longer than start() takes.
bool own_descriptor_table() {
    if (unshare(CLONE_FILES) != 0) return false;
    close_all_descriptors();
    return true;
}

void* trampoline(void* p) {
    auto* start = static_cast<Start*>(p);
    t_is_helper = start->private_heap;
    if (start->private_files) t_private_files = own_descriptor_table();
    void* (*body)(void*) = start->body;
    void* arg = start->arg;
    start->taken.store(1, std::memory_order_release);
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&start->taken), FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, nullptr, nullptr, 0);
    return body(arg);
}

}  // namespace

bool start(void* (*body)(void*), void* arg, pthread_t* out, Files files) {
    bool private_heap = g_interposers_linked && private_heap::reserve();
    bool one_thread = __libc_single_threaded != 0;
    Start start{body, arg, private_heap, files == Files::Private};
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    if (out == nullptr) pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    pthread_t thread;
    bool ok = pthread_create(&thread, &attr, trampoline, &start) == 0;
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    pthread_attr_destroy(&attr);
    if (!ok) return false;
    while (start.taken.load(std::memory_order_acquire) == 0)
        syscall(SYS_futex, reinterpret_cast<uint32_t*>(&start.taken), FUTEX_WAIT | FUTEX_PRIVATE_FLAG, 0, nullptr, nullptr, 0);
    // Without the private heap the helper shares glibc's: then it must count as a thread.
    if (private_heap && one_thread) __libc_single_threaded = 1;
    if (out != nullptr) *out = thread;
    return true;
}

bool has_private_files() { return t_private_files; }

void tell_glibc_threads_exist() { __libc_single_threaded = 0; }

bool glibc_sees_one_thread() { return __libc_single_threaded != 0; }

}  // namespace calltree::helper_thread
