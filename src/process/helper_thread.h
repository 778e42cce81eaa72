// Threads of calltree's own (the sampler, the fatal-signal writer and its watchdog), started so
// that the program notices nothing of them but an entry in /proc/self/task (and the thread count
// of /proc/self/stat and status, except where CPython reads it after a fork:
// fork_thread_count.h):
// - every signal is blocked in them, so the program's signals reach the program's threads;
// - one that opens files while the program runs (the sampler reads /proc) gets a descriptor
//   table of its own (Files::Private): its descriptors never take a number the program would
//   have got, not even for a moment, and it holds none of the program's files open;
// - with the allocator interposers linked (not in sanitizer builds) they allocate only from the
//   private heap (private_heap.h) and never free into glibc's heap: a block of glibc's that one
//   of them drops (rare: a container created before the thread started, grown inside it) is
//   left allocated;
// - so glibc can be told again that the process has a single thread, when it had one before the
//   helper started, and its malloc keeps the lock-free single-thread path it has under python3
//   (measured: 9% of a malloc-heavy phase, 2-3% of the native bench workload). A thread the
//   program starts resets that as usual.
// glibc documents __libc_single_threaded as read-only for applications. Writing it is sound only
// under rules that helper code must keep, since glibc also skips other work in that state:
// - no glibc mutex (pthread_mutex, std::mutex) is shared with the program's thread: glibc's
//   mutexes then skip their atomic instructions and wake-ups; use a futex of your own
//   (run_end.cpp, src/cpython/readers.c);
// - no fork handler is registered from a helper: fork then walks its handlers unlocked;
// - a helper that must share a glibc lock after all (the writer takes the GIL) first calls
//   tell_glibc_threads_exist().
// test_helper_threads checks what this relies on against glibc itself.
#pragma once
#include <pthread.h>

namespace calltree {
// Set by the allocator interposers (src/interpose/alloc_hooks.cpp) when they are linked in: not
// in sanitizer builds. Without them there is no --memory and no private heap for helpers.
extern bool g_interposers_linked;
}  // namespace calltree

namespace calltree::helper_thread {

// True on a helper thread: the allocator interposers serve it from the private heap.
extern constinit thread_local bool t_is_helper;

// Files::Private: the helper runs with a descriptor table of its own, holding none of the
// program's descriptors (a copy would keep the program's pipes open: their readers would never
// see EOF). What it opens there is invisible to the program, and it cannot use the program's
// descriptors (stderr included). Where the kernel refuses (a seccomp filter denying unshare),
// the helper shares the program's table: see has_private_files().
enum class Files { Shared, Private };

// Starts body(arg) on a helper thread. out: receives the thread, to be joined; nullptr: detached.
// Returns once the helper runs (with its own descriptor table, if asked and possible).
bool start(void* (*body)(void*), void* arg, pthread_t* out, Files files = Files::Shared);

// True on a helper thread started with Files::Private that got its own descriptor table.
bool has_private_files();

// How many helper threads the kernel counts in this process now (a helper whose body returned is
// counted until the kernel has reaped it): what /proc/self/stat's thread count holds beyond the
// program's own threads. Async-signal-safe: atomics, and one system call per finished helper.
int running();

// Tells glibc that the process has threads, before a helper shares a glibc lock with the
// program's thread (the fatal-signal writer takes the GIL). Async-signal-safe. A lock operation
// the program's thread began under the old belief may still skip a wake-up: who waits on such a
// lock must be woken again (cpython/boundary.h).
void tell_glibc_threads_exist();

// Whether glibc sees this process as single-threaded (for tests and diagnostics).
bool glibc_sees_one_thread();

}  // namespace calltree::helper_thread
