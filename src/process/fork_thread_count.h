// CPython 3.12+ warns in os.fork()'s parent ("This process (pid=N) is multi-threaded, use of
// fork() may lead to deadlocks in the child", a DeprecationWarning) when the process has other
// threads, and counts them from field 20 of /proc/self/stat (Modules/posixmodule.c,
// warn_about_fork_with_threads: fopen, fread, strtok). calltree's helper threads
// (helper_thread.h) would make every profiled program that forks see that warning. So on the
// thread that just forked, the next fopen of /proc/self/stat (proc_stat_hook.cpp) gets the
// kernel's line with the helpers taken out of that count: the warning shows exactly when
// python3 shows it, when the program has threads of its own.
//
// Why only that read: the count is taken once, right after fork() returned in the parent, on
// the forking thread, before any other fopen of that file there. Every other reader (the
// program's own open() of /proc/self/stat, /proc/self/status, /proc/self/task) sees the kernel's
// files unchanged and consistent with each other: helpers stay visible in /proc, as documented,
// and no descriptor of the program ever reads from anything but the kernel's file.
#pragma once
#include <stdio.h>

namespace calltree::fork_thread_count {

// Arms the correction after every fork in the parent, for an interpreter that counts threads
// there (3.12+). Call once, on the program's thread, before the program runs (registers a
// pthread_atfork handler: never from a helper, see helper_thread.h).
void enable();

// For the fopen interposer: if this thread forked and has not read /proc/self/stat since, and
// `path` is that file, returns a stream over its contents with the helpers taken out of the
// thread count and sets *handled; else leaves *handled false. May return nullptr with *handled
// true (errno set) when the file cannot be read, as fopen would.
FILE* open_stat_after_fork(const char* path, const char* mode, bool* handled);

// The kernel's /proc/self/stat line `line` (size bytes, capacity bytes) with `hidden` taken out
// of its thread count (field 20, never below 1); returns the new size, or `size` unchanged if
// the line has no such field. Split out for the unit test.
size_t without_threads(char* line, size_t size, size_t capacity, int hidden);

}  // namespace calltree::fork_thread_count
