// C, not C++: CPython's internal headers use C11 atomics.
#define Py_BUILD_CORE 1
#include "runner/gil_request.h"

#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
#include <internal/pycore_interp.h>
#include <internal/pycore_runtime.h>

void calltree_request_gil_drop(PyInterpreterState* interp) {
    // SET_GIL_DROP_REQUEST in CPython 3.11's Python/ceval.c.
    _Py_atomic_store_relaxed(&interp->ceval.gil_drop_request, 1);
    _Py_atomic_store_relaxed(&interp->ceval.eval_breaker, 1);
}

void calltree_wake_gil_mutex_waiters(void) {
    struct _gil_runtime_state* gil = &_PyRuntime.ceval.gil;
    // The futex word of a glibc mutex is its first member.
    syscall(SYS_futex, &gil->mutex, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
    syscall(SYS_futex, &gil->switch_mutex, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}
#else
// Other versions: the writer's own GIL request does it after the switch interval.
void calltree_request_gil_drop(PyInterpreterState* interp) { (void)interp; }
void calltree_wake_gil_mutex_waiters(void) {}
#endif
