// CPython 3.13's internals as src/cpython/ reads them (layout.h says what each entry is; what
// 3.13 shares with later versions is in layout_since_313.h).
// Differences from 3.11: tstate->current_frame (no cframe), f_executable (None in shim frames,
// owned by the C stack), instr_ptr is the current instruction, the GIL lives in the interpreter
// (interp->ceval.gil), the thread list's lock is a PyMutex held across fork(), a GIL request sets a
// bit in the holder's own eval_breaker, PRECALL is gone and CALL_KW/INSTRUMENTED_* exist.
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#if PY_VERSION_HEX < 0x030D0000 || PY_VERSION_HEX >= 0x030E0000
#error "layout_313.c is CPython 3.13's layout; the build picks layout_3XX.c by the headers' version"
#endif
#define Py_BUILD_CORE 1
// The internal headers are CPython's, not ours to warn about.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#include <internal/pycore_ceval.h>
#include <internal/pycore_code.h>
#include <internal/pycore_dict.h>
#include <internal/pycore_frame.h>
#include <internal/pycore_interp.h>
#include <internal/pycore_lock.h>
#pragma GCC diagnostic pop

// f_executable and f_funcobj are plain object pointers; a frame owned by the C stack (a shim)
// is the only owner after the generator's that is not a Python frame.
#define CT_FRAME_REF_TAG 0
#define CT_OWNER_NOT_PYTHON FRAME_OWNED_BY_CSTACK
#include "cpython/layout_since_313.h"
