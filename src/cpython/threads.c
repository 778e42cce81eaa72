// Walking the main interpreter's thread list (boundary.h), under the interpreter's own lock,
// with a fork guard of ours around it.
#define _GNU_SOURCE 1
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cpython/boundary.h"
#include "cpython/layout.h"

#define L ct_layout_of_python

// Before 3.13 (layout.h, fork_holds_thread_lock): CPython 3.11's forked child takes the thread-list lock (in _PyEval_ReInitThreads) before it
// replaces it (in _PyRuntimeState_ReInitThreads): a fork while another thread holds it leaves the
// child blocked forever. Our walk holds it every interval, so fork waits for the walk to finish.
// A futex lock of our own, not a pthread mutex: the sampler runs on a helper thread that glibc
// is not told about (process/helper_thread.h), and glibc's mutexes skip their atomic
// operations and wake-ups while it believes the process has one thread.
static _Atomic int g_walk;  // 0 free, 1 taken, 2 taken with waiters
static void walk_lock(void) {
    int expected = 0;
    if (atomic_compare_exchange_strong(&g_walk, &expected, 1)) return;
    while (atomic_exchange(&g_walk, 2) != 0) syscall(SYS_futex, &g_walk, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
}
static void walk_unlock(void) {
    if (atomic_exchange(&g_walk, 0) == 2) syscall(SYS_futex, &g_walk, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}
static pthread_once_t g_walk_once = PTHREAD_ONCE_INIT;
static void register_walk_fork_guard(void) { pthread_atfork(walk_lock, walk_unlock, walk_unlock); }

void ct_prepare_thread_walks(void) {
    if (!L.fork_holds_thread_lock) pthread_once(&g_walk_once, register_walk_fork_guard);
}

void ct_for_each_thread(void (*visit)(void*, const void*, unsigned long), void* context) {
    ct_prepare_thread_walks();
    const int guarded = !L.fork_holds_thread_lock;
    if (guarded) walk_lock();
    ct_layout_lock_threads();
    for (const char* t = ct_layout_first_thread(); t != NULL;) {
        unsigned long native_id;
        const char* next;
        memcpy(&native_id, t + L.tstate_native_thread_id, sizeof native_id);
        visit(context, t, native_id);
        memcpy(&next, t + L.tstate_next, sizeof next);
        t = next;
    }
    ct_layout_unlock_threads();
    if (guarded) walk_unlock();
}
