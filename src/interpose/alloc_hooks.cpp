// The C allocator and copy functions, defined in the calltree executable. The executable is
// linked with --export-dynamic, so these definitions take precedence over libc's for libpython
// (linked in) and for every shared library loaded later: numpy's malloc and memmove land here
// without LD_PRELOAD. Each forwards to glibc's own entry points (__libc_malloc..., and the
// fortified __memcpy_chk/__memmove_chk with no bound, which call libc's internal memcpy), so
// there is no dlsym and no recursion. While --memory is off the only cost is one load and one
// predictable branch. Compiled with -fno-builtin: the compiler must not turn the forwarding
// calls back into calls to memcpy.
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "collect/alloc_recorder.h"

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void __libc_free(void*);
void* __libc_memalign(size_t, size_t);
// Renamed so the compiler cannot recognise (and fold) the fortified built-ins.
void* ct_libc_memcpy_chk(void*, const void*, size_t, size_t) __asm__("__memcpy_chk");
void* ct_libc_memmove_chk(void*, const void*, size_t, size_t) __asm__("__memmove_chk");
}

namespace mem = calltree::memory;

namespace {

using mem::counting;

inline void* allocated(void* p, size_t size) {
    if (p != nullptr && counting()) mem::on_alloc(p, size);
    return p;
}

struct Linked {
    Linked() { mem::g_interposers_linked = true; }
} g_linked;

}  // namespace

extern "C" {

void* malloc(size_t size) noexcept { return allocated(__libc_malloc(size), size); }

void* calloc(size_t n, size_t size) noexcept {
    void* p = __libc_calloc(n, size);
    return p == nullptr ? p : allocated(p, n * size);  // n * size cannot overflow: calloc checked
}

void free(void* p) noexcept {
    if (p == nullptr) return;
    // Report the free before the block can be handed to another thread.
    if (counting()) mem::on_free(p);
    __libc_free(p);
}

void* realloc(void* p, size_t size) noexcept {
    if (!counting()) return __libc_realloc(p, size);
    mem::Taken old = mem::take_for_realloc(p);
    void* q = __libc_realloc(p, size);
    if (q == nullptr) {
        if (size != 0) mem::put_back(p, old);  // failed: the old block is still there
        return q;
    }
    return allocated(q, size);
}

// glibc's own reallocarray would move a sampled block without telling the hooks.
void* reallocarray(void* p, size_t n, size_t size) noexcept {
    size_t bytes = 0;
    if (__builtin_mul_overflow(n, size, &bytes)) {
        errno = ENOMEM;
        return nullptr;
    }
    return realloc(p, bytes);
}

void* memalign(size_t alignment, size_t size) noexcept { return allocated(__libc_memalign(alignment, size), size); }

void* aligned_alloc(size_t alignment, size_t size) noexcept {
    return allocated(__libc_memalign(alignment, size), size);
}

int posix_memalign(void** out, size_t alignment, size_t size) noexcept {
    if (alignment % sizeof(void*) != 0 || (alignment & (alignment - 1)) != 0 || alignment == 0) return EINVAL;
    void* p = __libc_memalign(alignment, size);
    if (p == nullptr) return ENOMEM;
    *out = allocated(p, size);
    return 0;
}

void* memcpy(void* dst, const void* src, size_t n) noexcept {
    if (counting()) mem::on_copy(n);
    return ct_libc_memcpy_chk(dst, src, n, SIZE_MAX);
}

void* memmove(void* dst, const void* src, size_t n) noexcept {
    if (counting()) mem::on_copy(n);
    return ct_libc_memmove_chk(dst, src, n, SIZE_MAX);
}

}  // extern "C"
