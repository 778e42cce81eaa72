// Threads of calltree's own (the sampler, the fatal-signal writer and its watchdog), started so
// that the program cannot tell them from nothing but for the thread list:
// - every signal is blocked in them, so the program's signals reach the program's threads;
// - with the allocator interposers linked (not in sanitizer builds), they allocate only from the
//   private heap (private_heap.h) and never free into glibc's heap: a block of glibc's that one
//   of them drops (rare: a container created before the thread started, grown inside it) is
//   left allocated, not freed;
// - and so glibc may be told again that the process has a single thread, when it had one before
//   the helper started. glibc then keeps its malloc's lock-free single-thread path, as under
//   python3 (measured: 9% of a malloc-heavy phase; 2-3% of the native bench workload). Program
//   threads started later reset it as usual. glibc documents __libc_single_threaded as
//   read-only for applications; writing it is sound here only because no thread but the
//   program's own ever touches glibc's heap, and a test (test_helper_thread) checks what it
//   relies on.
#pragma once
#include <pthread.h>

namespace calltree::helper_thread {

// True on a helper thread: the allocator interposers serve it from the private heap.
extern constinit thread_local bool t_is_helper;
// Set by the allocator interposers when they are linked in.
extern bool g_private_heap_serves_helpers;

// Starts body(arg) on a helper thread. out: receives the thread, to be joined; nullptr: detached.
bool start(void* (*body)(void*), void* arg, pthread_t* out);

// Tells glibc that the process has threads, before a helper shares a glibc lock with the
// program's thread (the fatal-signal writer takes the GIL). Async-signal-safe. A lock operation
// the program's thread began under the old belief may still skip a wake-up: who waits on such a
// lock must be woken again (gil_request.h).
void tell_glibc_threads_exist();

// Whether glibc sees this process as single-threaded (for tests and diagnostics).
bool glibc_sees_one_thread();

}  // namespace calltree::helper_thread
