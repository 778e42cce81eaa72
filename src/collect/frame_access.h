// The two frame facts the tracer needs on every event: the code object and the offset of the
// current instruction. CPython 3.11's public getters are out-of-line calls with a reference
// count round trip; its frame layout is fixed for the 3.11 series, so read the fields directly
// there and fall back to the public API on any other version.
#pragma once
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>

#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
#define CALLTREE_DIRECT_FRAME_ACCESS 1
#ifndef Py_BUILD_CORE
#define Py_BUILD_CORE 1
#define CALLTREE_UNDEF_BUILD_CORE 1
#endif
#include <internal/pycore_frame.h>
#ifdef CALLTREE_UNDEF_BUILD_CORE
#undef Py_BUILD_CORE
#undef CALLTREE_UNDEF_BUILD_CORE
#endif
#endif

namespace calltree {

// Borrowed: the frame keeps its code alive.
inline PyCodeObject* frame_code(PyFrameObject* frame) {
#ifdef CALLTREE_DIRECT_FRAME_ACCESS
    return frame->f_frame->f_code;
#else
    PyCodeObject* code = PyFrame_GetCode(frame);
    Py_DECREF(code);
    return code;
#endif
}

// Byte offset of the instruction being executed, as PyFrame_GetLasti returns it.
inline int frame_lasti(PyFrameObject* frame) {
#ifdef CALLTREE_DIRECT_FRAME_ACCESS
    return _PyInterpreterFrame_LASTI(frame->f_frame) * static_cast<int>(sizeof(_Py_CODEUNIT));
#else
    return PyFrame_GetLasti(frame);
#endif
}

}  // namespace calltree
