// C, not C++: CPython's internal headers use C11 atomics.
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "collect/gil_holder.h"

#if PY_VERSION_HEX < 0x030B0000 || PY_VERSION_HEX >= 0x030C0000
#error "gil_holder.c reads CPython 3.11's GIL (3.12 moved it into the interpreter); port it before building for another version"
#endif
#define Py_BUILD_CORE 1
#undef _PyGC_FINALIZED  // objimpl.h and pycore_gc.h both define it
#include <internal/pycore_runtime.h>

// glibc's futex word of a normal mutex, its first member: 0 free, 1 locked, 2 locked with
// waiters (lll_lock, lll_unlock).
static int* gil_mutex_word(void) { return (int*)&_PyRuntime.ceval.gil.mutex; }

int ct_pin_gil(void) {
    int unlocked = 0;
    return __atomic_compare_exchange_n(gil_mutex_word(), &unlocked, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

void ct_unpin_gil(void) {
    int* word = gil_mutex_word();
    if (__atomic_exchange_n(word, 0, __ATOMIC_RELEASE) == 2) syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

int ct_holds_gil(const void* thread_state) {
    struct _gil_runtime_state* gil = &_PyRuntime.ceval.gil;
    if (_Py_atomic_load_relaxed(&gil->locked) != 1) return 0;
    return (const void*)_Py_atomic_load_relaxed(&gil->last_holder) == thread_state;
}
