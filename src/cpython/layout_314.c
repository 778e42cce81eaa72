// CPython 3.14's internals as src/cpython/ reads them (layout.h says what each entry is; what
// 3.14 shares with 3.13 is in layout_since_313.h).
// Differences from 3.13: f_executable and f_funcobj are tagged _PyStackRef (the low Py_TAG_BITS
// are flags), frame owners renumbered (FRAME_OWNED_BY_INTERPRETER, then CSTACK: neither is a
// Python frame), the frame struct moved to pycore_interpframe_structs.h.
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#if PY_VERSION_HEX < 0x030E0000 || PY_VERSION_HEX >= 0x030F0000
#error "layout_314.c is CPython 3.14's layout; the build picks layout_3XX.c by the headers' version"
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
#include <internal/pycore_interpframe.h>
#include <internal/pycore_stackref.h>
#include <internal/pycore_interp.h>
#include <internal/pycore_lock.h>
#pragma GCC diagnostic pop

#define CT_FRAME_REF_TAG Py_TAG_BITS
#define CT_OWNER_NOT_PYTHON FRAME_OWNED_BY_INTERPRETER
#include "cpython/layout_since_313.h"

_Static_assert(FRAME_OWNED_BY_CSTACK > FRAME_OWNED_BY_INTERPRETER, "owners from INTERPRETER up are not Python frames");
_Static_assert(sizeof(_PyStackRef) == sizeof(void*), "a stack reference is a tagged pointer");
