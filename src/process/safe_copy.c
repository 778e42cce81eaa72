#define _GNU_SOURCE 1
#include "process/safe_copy.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#if defined(__x86_64__)
// The guarded copy. Every instruction between ct_guarded_*_begin and *_end may read `src`; a
// fault there is redirected by the fault guard to the *_failed label, which returns 0 from the
// very frame the fault interrupted (the functions are leaves that keep nothing on the stack, so
// the stack is as at entry). Registers left half-advanced by the failed copy are dead after it.
// Words, then bytes: the frames and object headers read here are a few dozen bytes, where
// `rep movsb` costs more than the copy on CPUs without fast short string moves.
__asm__(
    ".text\n"
    ".p2align 4\n"
    ".type ct_guarded_copy, @function\n"
    "ct_guarded_copy:\n"  // rdi = dst, rsi = src, rdx = n
    "    xor %ecx, %ecx\n"
    "ct_guarded_copy_begin:\n"
    "1:  lea 8(%rcx), %r8\n"
    "    cmp %rdx, %r8\n"
    "    ja 2f\n"
    "    mov (%rsi,%rcx), %rax\n"
    "    mov %rax, (%rdi,%rcx)\n"
    "    mov %r8, %rcx\n"
    "    jmp 1b\n"
    "2:  cmp %rdx, %rcx\n"
    "    jae 3f\n"
    "    movzbl (%rsi,%rcx), %eax\n"
    "    mov %al, (%rdi,%rcx)\n"
    "    inc %rcx\n"
    "    jmp 2b\n"
    "ct_guarded_copy_end:\n"
    "3:  mov $1, %eax\n"
    "    ret\n"
    "ct_guarded_copy_failed:\n"
    "    xor %eax, %eax\n"
    "    ret\n"
    ".size ct_guarded_copy, . - ct_guarded_copy\n"
    ".p2align 4\n"
    ".type ct_guarded_word, @function\n"
    "ct_guarded_word:\n"  // rdi = src, rsi = out
    "ct_guarded_word_begin:\n"
    "    mov (%rdi), %rax\n"
    "ct_guarded_word_end:\n"
    "    mov %rax, (%rsi)\n"
    "    mov $1, %eax\n"
    "    ret\n"
    "ct_guarded_word_failed:\n"
    "    xor %eax, %eax\n"
    "    ret\n"
    ".size ct_guarded_word, . - ct_guarded_word\n");
int ct_guarded_copy(void* dst, const void* src, size_t n);
int ct_guarded_word(const void* src, uintptr_t* out);
extern const char ct_guarded_copy_begin[], ct_guarded_copy_end[], ct_guarded_copy_failed[];
extern const char ct_guarded_word_begin[], ct_guarded_word_end[], ct_guarded_word_failed[];
#define CT_HAVE_GUARDED_COPY 1
#endif

static atomic_int g_guarded;           // the fault guard is installed
// Initial-exec: the library is loaded at start-up, and this is read in signal handlers, where a
// lazily allocated TLS block must not be.
static __thread int t_by_syscall __attribute__((tls_model("initial-exec")));

void ct_safe_copy_enable_guarded(void) {
#ifdef CT_HAVE_GUARDED_COPY
    atomic_store(&g_guarded, 1);
#endif
}

void ct_safe_copy_disable_guarded(void) { atomic_store(&g_guarded, 0); }

int ct_safe_copy_by_syscall(int on) {
    int was = t_by_syscall;
    t_by_syscall = on;
    return was;
}

uintptr_t ct_safe_copy_resume_at(uintptr_t pc) {
#ifdef CT_HAVE_GUARDED_COPY
    if (pc >= (uintptr_t)ct_guarded_copy_begin && pc < (uintptr_t)ct_guarded_copy_end)
        return (uintptr_t)ct_guarded_copy_failed;
    if (pc >= (uintptr_t)ct_guarded_word_begin && pc < (uintptr_t)ct_guarded_word_end)
        return (uintptr_t)ct_guarded_word_failed;
#else
    (void)pc;
#endif
    return 0;
}

// getpid() is a system call in glibc: the pid is kept, and forgotten in a forked child.
static pid_t g_pid;
static void forget_pid(void) { __atomic_store_n(&g_pid, 0, __ATOMIC_RELAXED); }
__attribute__((constructor)) static void register_forget_pid(void) { pthread_atfork(NULL, NULL, forget_pid); }

int ct_syscall_copy(void* dst, const void* src, size_t n) {
    struct iovec local = {dst, n};
    struct iovec remote = {(void*)src, n};
    pid_t pid = __atomic_load_n(&g_pid, __ATOMIC_RELAXED);
    if (pid == 0) {
        pid = (pid_t)syscall(SYS_getpid);
        __atomic_store_n(&g_pid, pid, __ATOMIC_RELAXED);
    }
    return syscall(SYS_process_vm_readv, (long)pid, &local, 1UL, &remote, 1UL, 0UL) == (long)n;
}

int ct_safe_copy(void* dst, const void* src, size_t n) {
    if (n == 0) return 1;
    if ((uintptr_t)src + n < (uintptr_t)src) return 0;
#ifdef CT_HAVE_GUARDED_COPY
    if (!t_by_syscall && atomic_load_explicit(&g_guarded, memory_order_relaxed)) return ct_guarded_copy(dst, src, n);
#endif
    return ct_syscall_copy(dst, src, n);
}

int ct_safe_word(const void* src, uintptr_t* out) {
#ifdef CT_HAVE_GUARDED_COPY
    if (!t_by_syscall && atomic_load_explicit(&g_guarded, memory_order_relaxed)) return ct_guarded_word(src, out);
#endif
    return ct_syscall_copy(out, src, sizeof *out);
}
