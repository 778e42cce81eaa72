// C, not C++: CPython's internal headers use C11 atomics.
#define Py_BUILD_CORE 1
#include "runner/gil_request.h"

#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
#include <internal/pycore_interp.h>

void calltree_request_gil_drop(PyInterpreterState* interp) {
    // SET_GIL_DROP_REQUEST in CPython 3.11's Python/ceval.c.
    _Py_atomic_store_relaxed(&interp->ceval.gil_drop_request, 1);
    _Py_atomic_store_relaxed(&interp->ceval.eval_breaker, 1);
}
#else
// Other versions: the writer's own GIL request does it after the switch interval.
void calltree_request_gil_drop(PyInterpreterState* interp) { (void)interp; }
#endif
