// Reads of memory that another context may be changing or freeing: the sampler's signal handler
// and the memory hooks read the interpreter's frames and code objects at whatever instruction
// they interrupted, where a pointer can be stale for a few instructions (a frame being linked,
// a generator being freed). These reads fail instead of faulting:
// - on x86-64, a copy loop whose fault, if one happens, the fault guard (fault_guard.h) turns into
//   a return of "failed" from the loop itself: no system call, no state left behind;
// - elsewhere, or when the guard cannot be used (not installed, or the calling thread blocks
//   SIGSEGV/SIGBUS, which would make a fault fatal), process_vm_readv on our own process, which
//   fails with EFAULT on unmapped memory.
// Async-signal-safe, no allocation, no locks.
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Copies n bytes from src to dst (dst must be ours and writable); 1 if all were read, 0 if not.
int ct_safe_copy(void* dst, const void* src, size_t n);

// Always through process_vm_readv: for a thread that must not take a fault (a helper thread,
// whose signals are all blocked).
int ct_syscall_copy(void* dst, const void* src, size_t n);

// One pointer-sized word; 1 if read.
int ct_safe_word(const void* src, uintptr_t* out);

// For this thread: reads go through the system call (nonzero) or the guarded copy (zero); returns
// the previous choice, for a signal handler to put back. Set by a reader that finds SIGSEGV or
// SIGBUS blocked: a fault would then kill the process whatever its handler.
int ct_safe_copy_by_syscall(int on);

// Whether reads can take the guarded route at all (the fault guard is installed). Set once.
void ct_safe_copy_enable_guarded(void);
// Off for good: every read by system call from now on (the guard was replaced, see fault_guard.h).
void ct_safe_copy_disable_guarded(void);

// The fault guard's question: if `pc` is an instruction of the guarded copy, the address to
// resume at (where the copy returns "failed"); otherwise 0.
uintptr_t ct_safe_copy_resume_at(uintptr_t pc);

#ifdef __cplusplus
}
#endif
