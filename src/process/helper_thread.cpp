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
#include <cerrno>
#include <cstdint>

#include "process/private_heap.h"

namespace calltree {
bool g_interposers_linked = false;
}

namespace calltree::helper_thread {

constinit thread_local bool t_is_helper = false;

namespace {

constinit thread_local bool t_private_files = false;

// The kernel ids of the helpers, for running(): a slot holds a helper's tid while its body runs,
// then minus the tid until the kernel has reaped the thread (a thread that returned is still
// counted in /proc/self/stat until then), then 0. Only helpers write positive values; running()
// frees the slots of reaped threads. A forked child starts with none (forget_in_child).
constexpr int kSlots = 16;
constinit std::atomic<pid_t> g_tids[kSlots] = {};

int claim_slot(pid_t tid) {
    for (int i = 0; i < kSlots; ++i) {
        pid_t expected = 0;
        if (g_tids[i].compare_exchange_strong(expected, tid)) return i;
    }
    return -1;  // more helpers than slots: running() undercounts (never the case today: at most 3)
}

// The kernel's "is this thread of ours still there": tgkill with no signal.
bool exists(pid_t tid) { return syscall(SYS_tgkill, getpid(), tid, 0) == 0 || errno != ESRCH; }

void forget_in_child() {
    for (auto& slot : g_tids) slot.store(0, std::memory_order_relaxed);
}

[[gnu::constructor]] void register_forget_in_child() { pthread_atfork(nullptr, nullptr, forget_in_child); }

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
    pid_t tid = gettid();
    int slot = claim_slot(tid);
    start->taken.store(1, std::memory_order_release);
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&start->taken), FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, nullptr, nullptr, 0);
    void* result = body(arg);
    if (slot >= 0) g_tids[slot].store(-tid);
    return result;
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

int running() {
    int count = 0;
    for (auto& slot : g_tids) {
        pid_t tid = slot.load();
        if (tid > 0) {
            ++count;
        } else if (tid < 0) {
            if (exists(-tid))
                ++count;
            else
                slot.compare_exchange_strong(tid, 0);
        }
    }
    return count;
}

void tell_glibc_threads_exist() { __libc_single_threaded = 0; }

bool glibc_sees_one_thread() { return __libc_single_threaded != 0; }

}  // namespace calltree::helper_thread
