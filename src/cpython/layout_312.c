// CPython 3.12's internals as src/cpython/ reads them (layout.h says what each entry is).
// Between 3.11 and 3.13: the cframe and prev_instr (last begun) of 3.11; from 3.12 shim frames
// (FRAME_OWNED_BY_CSTACK) of C->Python entries, the GIL in the interpreter (interp->ceval.gil),
// PRECALL gone and INSTRUMENTED_* opcodes (sys.monitoring), and the profile hook built on
// sys.monitoring. The thread list's lock is still a PyThread lock that fork() does not hold.
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#if PY_VERSION_HEX < 0x030C0000 || PY_VERSION_HEX >= 0x030D0000
#error "layout_312.c is CPython 3.12's layout; the build picks layout_3XX.c by the headers' version"
#endif
#define Py_BUILD_CORE 1
#undef _PyGC_FINALIZED  // objimpl.h and pycore_gc.h both define it
// The internal headers are CPython's, not ours to warn about.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#include <internal/pycore_code.h>
#include <internal/pycore_dict.h>
#include <internal/pycore_frame.h>
#include <internal/pycore_interp.h>
// Our own copy of the opcode tables, renamed: a shared libpython exports its own, and a
// preloaded definition of the same name would take their place.
#define _PyOpcode_Jump ct_opcode_jump
#define _PyOpcode_Caches ct_opcode_caches
#define _PyOpcode_Deopt ct_opcode_deopt
#define NEED_OPCODE_TABLES 1
#include <internal/pycore_opcode.h>
#undef NEED_OPCODE_TABLES
#include <internal/pycore_runtime.h>
#pragma GCC diagnostic pop
#include "cpython/quiet_profile_312.h"

#include "cpython/layout.h"

ct_layout ct_layout_of_python = {
    .version_hex = PY_VERSION_HEX,
    .tstate_cframe = offsetof(PyThreadState, cframe),
    .cframe_current_frame = offsetof(_PyCFrame, current_frame),
    .tstate_next = offsetof(PyThreadState, next),
    .tstate_native_thread_id = offsetof(PyThreadState, native_thread_id),
    .frame_header_size = offsetof(_PyInterpreterFrame, localsplus),
    .frame_code = offsetof(_PyInterpreterFrame, f_code),
    .frame_code_tag = 0,
    .frame_function = offsetof(_PyInterpreterFrame, f_funcobj),
    .frame_function_tag = 0,
    .frame_globals = offsetof(_PyInterpreterFrame, f_globals),
    .frame_previous = offsetof(_PyInterpreterFrame, previous),
    .frame_instruction = offsetof(_PyInterpreterFrame, prev_instr),
    .frame_owner = offsetof(_PyInterpreterFrame, owner),
    .owner_generator = FRAME_OWNED_BY_GENERATOR,
    .owner_not_python = FRAME_OWNED_BY_CSTACK,
    .frameobject_frame = offsetof(PyFrameObject, f_frame),
    .code_bytecode = offsetof(PyCodeObject, co_code_adaptive),
    .code_first_traceable = offsetof(PyCodeObject, _co_firsttraceable),
    .code_qualname = offsetof(PyCodeObject, co_qualname),
    .code_filename = offsetof(PyCodeObject, co_filename),
    .code_linetable = offsetof(PyCodeObject, co_linetable),
    .code_firstlineno = offsetof(PyCodeObject, co_firstlineno),
    .function_module = offsetof(PyFunctionObject, func_module),
    .dict_keys = offsetof(PyDictObject, ma_keys),
    .dict_values = offsetof(PyDictObject, ma_values),
    .keys_log2_index_bytes = offsetof(PyDictKeysObject, dk_log2_index_bytes),
    .keys_kind = offsetof(PyDictKeysObject, dk_kind),
    .keys_nentries = offsetof(PyDictKeysObject, dk_nentries),
    .keys_indices = offsetof(PyDictKeysObject, dk_indices),
    .keys_kind_unicode = DICT_KEYS_UNICODE,
    .unicode_entry_size = sizeof(PyDictUnicodeEntry),
    .gil_size = sizeof(struct _gil_runtime_state),
    .gil_locked = offsetof(struct _gil_runtime_state, locked),
    .gil_last_holder = offsetof(struct _gil_runtime_state, last_holder),
    .gil_mutex = offsetof(struct _gil_runtime_state, mutex),
    .gil_switch_mutex = offsetof(struct _gil_runtime_state, switch_mutex),
    .fork_holds_thread_lock = 0,
};

_Static_assert(sizeof(_Py_CODEUNIT) == 2, "code units are 16 bits");
_Static_assert(sizeof(((struct _gil_runtime_state*)0)->locked) == sizeof(int), "locked is an int");
_Static_assert(sizeof(((_PyInterpreterFrame*)0)->owner) == 1, "owner is a char");
_Static_assert(sizeof(((PyDictKeysObject*)0)->dk_kind) == 1, "dk_kind is a byte");

__attribute__((constructor)) static void classify_opcodes(void) {
    for (int op = 0; op < 256; ++op) {
        int base = ct_opcode_deopt[op];
        unsigned char c = 0;
        // A C function is called while prev_instr is the CALL itself (a Python callee's caller
        // has moved on to the CALL's last cache entry, which maps to the same line).
        if (base == CALL || base == CALL_FUNCTION_EX || base == INSTRUMENTED_CALL || base == INSTRUMENTED_CALL_FUNCTION_EX)
            c |= CT_OP_CALL;
        // Where the eval loop checks for a GIL drop request.
        if (base == RESUME || base == JUMP_BACKWARD || base == INSTRUMENTED_RESUME || base == INSTRUMENTED_JUMP_BACKWARD)
            c |= CT_OP_GIL_HANDOVER;
        ct_layout_of_python.opcode_class[op] = c;
    }
}

static PyInterpreterState* main_interp(void) { return _PyRuntime.interpreters.main; }

void* ct_layout_gil(void) {
    PyInterpreterState* interp = main_interp();
    // Before the interpreter exists, its own (not yet used) GIL.
    return interp != NULL && interp->ceval.gil != NULL ? (void*)interp->ceval.gil : (void*)&_PyRuntime._main_interpreter._gil;
}

void ct_layout_lock_threads(void) { PyThread_acquire_lock(_PyRuntime.interpreters.mutex, WAIT_LOCK); }
void ct_layout_unlock_threads(void) { PyThread_release_lock(_PyRuntime.interpreters.mutex); }

const void* ct_layout_first_thread(void) {
    PyInterpreterState* interp = main_interp();
    return interp != NULL ? interp->threads.head : NULL;
}

void ct_layout_request_gil_drop(void* interp_state) {
    PyInterpreterState* interp = interp_state;
    // SET_GIL_DROP_REQUEST in Python/ceval_gil.c.
    _Py_atomic_store_relaxed(&interp->ceval.gil_drop_request, 1);
    _Py_atomic_store_relaxed(&interp->ceval.eval_breaker, 1);
}

int ct_layout_set_profile_quietly(void* tstate, void* func, void* obj) {
    return ct_set_profile_without_audit(tstate, (Py_tracefunc)func, obj);
}

const void* ct_layout_thread_state_unchecked(void) { return _PyThreadState_UncheckedGet(); }

const char* ct_layout_check_debug_offsets(void) { return NULL; }  // 3.13+
