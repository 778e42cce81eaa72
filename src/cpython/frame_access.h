// The two frame facts the tracer needs on every profile event: the code object and the offset of
// the current instruction. The public getters (PyFrame_GetCode, PyFrame_GetLasti) are out-of-line
// calls with a reference-count round trip; these read the same fields through the layout table
// (three loads). Part of the CPython boundary (boundary.h).
#pragma once
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>

#include <cstdint>
#include <cstring>

#include "cpython/layout.h"

namespace calltree {

namespace frame_detail {
inline const char* interpreter_frame(PyFrameObject* frame) {
    const char* f;
    std::memcpy(&f, reinterpret_cast<const char*>(frame) + ct_layout_of_python.frameobject_frame, sizeof f);
    return f;
}
inline const char* word_at(const char* base, size_t offset) {
    const char* p;
    std::memcpy(&p, base + offset, sizeof p);
    return p;
}
}  // namespace frame_detail

// Borrowed: the frame keeps its code alive.
inline PyCodeObject* frame_code(PyFrameObject* frame) {
    const ct_layout& l = ct_layout_of_python;
    uintptr_t code = reinterpret_cast<uintptr_t>(frame_detail::word_at(frame_detail::interpreter_frame(frame), l.frame_code));
    return reinterpret_cast<PyCodeObject*>(code & ~l.frame_code_tag);
}

// Byte offset of the instruction being executed, as PyFrame_GetLasti returns it (but -2, not -1,
// for a frame that has not begun on 3.11).
inline int frame_lasti(PyFrameObject* frame) {
    const ct_layout& l = ct_layout_of_python;
    const char* f = frame_detail::interpreter_frame(frame);
    const char* code = reinterpret_cast<const char*>(frame_code(frame));
    const char* instruction = frame_detail::word_at(f, l.frame_instruction);
    return static_cast<int>(instruction - (code + l.code_bytecode));
}

}  // namespace calltree
