// The C allocator and copy functions, defined in calltree's library (libcalltree.so), which the
// launcher preloads into the interpreter: the dynamic linker resolves a symbol in a preloaded
// library before libc's, so these definitions take precedence for python3 (and its libpython,
// when shared) and for every shared library loaded later: numpy's malloc and memmove land here.
// (The sanitizer build, which links libpython instead, leaves them out.) Each forwards to glibc's
// own entry points (__libc_malloc..., and the fortified __memcpy_chk/__memmove_chk with no bound,
// which call libc's internal memcpy), so there is no dlsym and no recursion. While --memory is
// off the only cost is one load and one predictable branch. Compiled with -fno-builtin: the
// compiler must not turn the forwarding calls back into calls to memcpy.
// calltree's own threads are served from the private heap instead (helper_thread.h), and never
// free into glibc's: glibc then keeps treating the program as single-threaded.
// Every libc symbol calltree defines, these and the others, is in libc_symbols.list.
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include "collect/memory/alloc_recorder.h"
#include "process/helper_thread.h"
#include "process/private_heap.h"

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void __libc_free(void*);
void* __libc_memalign(size_t, size_t);
size_t malloc_usable_size(void*);
// Renamed so the compiler cannot recognise (and fold) the fortified built-ins.
void* ct_libc_memcpy_chk(void*, const void*, size_t, size_t) __asm__("__memcpy_chk");
void* ct_libc_memmove_chk(void*, const void*, size_t, size_t) __asm__("__memmove_chk");
}

namespace mem = calltree::memory;
namespace heap = calltree::private_heap;
using calltree::helper_thread::t_is_helper;

namespace {

using mem::counting;

inline void* allocated(void* p, size_t size) {
    if (p != nullptr && counting()) mem::on_alloc(p, size);
    return p;
}

struct Linked {
    Linked() { calltree::g_interposers_linked = true; }
} g_linked;

inline bool helper() { return __builtin_expect(t_is_helper, 0); }

void* helper_allocate(size_t size, size_t alignment = 16) {
    void* p = heap::allocate(size, alignment);
    if (p == nullptr) errno = ENOMEM;
    return p;
}

// A block of the private heap resized, or one of glibc's resized by a helper: moved, since a
// helper never gives glibc's blocks back (the old one stays allocated).
void* move_block(void* p, size_t size) {
    bool ours = heap::owns(p);
    size_t old = ours ? heap::usable_size(p) : malloc_usable_size(p);
    if (ours && size <= old && size != 0) return p;
    if (size == 0) {
        if (ours) heap::release(p);
        return nullptr;
    }
    void* q = helper() ? helper_allocate(size) : malloc(size);
    if (q == nullptr) return nullptr;
    ct_libc_memcpy_chk(q, p, old < size ? old : size, SIZE_MAX);
    if (ours) heap::release(p);
    return q;
}

}  // namespace

extern "C" {

void* malloc(size_t size) noexcept {
    if (helper()) return helper_allocate(size);
    return allocated(__libc_malloc(size), size);
}

void* calloc(size_t n, size_t size) noexcept {
    if (helper()) {
        size_t bytes = 0;
        if (__builtin_mul_overflow(n, size, &bytes)) {
            errno = ENOMEM;
            return nullptr;
        }
        void* p = helper_allocate(bytes);
        if (p != nullptr) __builtin_memset(p, 0, bytes);
        return p;
    }
    void* p = __libc_calloc(n, size);
    return p == nullptr ? p : allocated(p, n * size);  // n * size cannot overflow: calloc checked
}

void free(void* p) noexcept {
    if (p == nullptr) return;
    if (heap::owns(p)) return heap::release(p);
    if (helper()) return;  // a helper never frees into glibc's heap (helper_thread.h)
    // Report the free before the block can be handed to another thread.
    if (counting()) mem::on_free(p);
    __libc_free(p);
}

void* realloc(void* p, size_t size) noexcept {
    if (p == nullptr) return malloc(size);
    if (helper() || heap::owns(p)) return move_block(p, size);
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

void* memalign(size_t alignment, size_t size) noexcept {
    if (helper()) return helper_allocate(size, alignment);
    return allocated(__libc_memalign(alignment, size), size);
}

void* aligned_alloc(size_t alignment, size_t size) noexcept { return memalign(alignment, size); }

// glibc's own valloc and pvalloc would bypass memalign above.
void* valloc(size_t size) noexcept { return memalign(static_cast<size_t>(sysconf(_SC_PAGESIZE)), size); }

void* pvalloc(size_t size) noexcept {
    size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    return memalign(page, (size + page - 1) & ~(page - 1));
}

int posix_memalign(void** out, size_t alignment, size_t size) noexcept {
    if (alignment % sizeof(void*) != 0 || (alignment & (alignment - 1)) != 0 || alignment == 0) return EINVAL;
    void* p = memalign(alignment, size);
    if (p == nullptr) return ENOMEM;
    *out = p;
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
