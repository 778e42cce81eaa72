// What the kernel knows about another thread of this process, read by the sampler thread:
// CPU clocks, run delay, scheduling state, the system call it is blocked in; and which address
// ranges hold the interpreter's own code.
#pragma once
#include <sys/types.h>
#include <time.h>

#include <cstdint>
#include <vector>

namespace calltree {

// Nanoseconds on `clock`, 0 if it cannot be read.
uint64_t read_clock(clockid_t clock);

// Another thread's CPU clocks, named the way the kernel encodes them (glibc's
// pthread_getcpuclockid does the same): SCHED is exact run time, PROF and VIRT are the kernel's
// user+system and user accounting (a scheduler tick at a time), whose difference is system time.
constexpr int kProfClock = 0, kVirtClock = 1, kSchedClock = 2;
inline clockid_t thread_clock(pid_t tid, int which) {
    return static_cast<clockid_t>((~static_cast<unsigned>(tid) << 3) | 4 | which);
}

// One thread's files in /proc/self/task/<tid>, for the readers below, which run on a helper
// thread with a descriptor table of its own (helper_thread::Files::Private): each file is
// opened at its first read and kept for the next ones (a read is one pread), and the program
// never sees these descriptors. Anywhere else a descriptor would take a number the program may
// be about to get (its os.dup() would return another), so nothing is read there: the readers
// answer "unknown" (0, false). Only the thread that made the reads may close the files.
struct TaskFiles {
    pid_t tid = 0;
    int stat = -1, schedstat = -1, syscall = -1;
};
void close_task_files(TaskFiles& files);

// Nanoseconds the thread has spent ready to run but waiting for a CPU (the kernel's run delay,
// schedstat); the kernel adds a wait only when it ends.
uint64_t read_run_delay(TaskFiles& files);

// Whether the thread is running or ready to run (state R in stat).
bool is_running(TaskFiles& files);

// Whether the thread is blocked in a futex wait on an address in [start, end)
// (syscall: the system call it is blocked in and its arguments).
bool waits_on_futex_in(TaskFiles& files, uintptr_t start, uintptr_t end);

struct AddressRange {
    uintptr_t start, end;
};
// The executable mappings of the interpreter's own code: the executable (python3, or calltree
// linking libpython), libpython if shared, libc and libm (memcpy, malloc, math the interpreter
// calls) and calltree's own code (its allocation hooks).
std::vector<AddressRange> interpreter_ranges();

}  // namespace calltree
