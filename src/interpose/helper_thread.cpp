#include "interpose/helper_thread.h"

#include <linux/futex.h>
#include <signal.h>
#include <sys/single_threaded.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

#include "interpose/private_heap.h"

namespace calltree {
bool g_interposers_linked = false;
}

namespace calltree::helper_thread {

constinit thread_local bool t_is_helper = false;

namespace {

// Lives on the starting thread's stack until the helper has copied it: a heap block would have
// to be freed by the helper, into the heap it must not touch.
struct Start {
    void* (*body)(void*);
    void* arg;
    bool private_heap;
    std::atomic<uint32_t> taken{0};
};

void* trampoline(void* p) {
    auto* start = static_cast<Start*>(p);
    t_is_helper = start->private_heap;
    void* (*body)(void*) = start->body;
    void* arg = start->arg;
    start->taken.store(1, std::memory_order_release);
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&start->taken), FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, nullptr, nullptr, 0);
    return body(arg);
}

}  // namespace

bool start(void* (*body)(void*), void* arg, pthread_t* out) {
    bool private_heap = g_interposers_linked && private_heap::reserve();
    bool one_thread = __libc_single_threaded != 0;
    Start start{body, arg, private_heap};
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

void tell_glibc_threads_exist() { __libc_single_threaded = 0; }

bool glibc_sees_one_thread() { return __libc_single_threaded != 0; }

}  // namespace calltree::helper_thread
