// CPython 3.11's internals as src/cpython/ reads them (layout.h says what each entry is).
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#if PY_VERSION_HEX < 0x030B0000 || PY_VERSION_HEX >= 0x030C0000
#error "layout_311.c is CPython 3.11's layout; the build picks layout_3XX.c by the headers' version"
#endif
#define Py_BUILD_CORE 1
#undef _PyGC_FINALIZED  // objimpl.h and pycore_gc.h both define it
#include <internal/pycore_code.h>
#include <internal/pycore_dict.h>
#include <internal/pycore_frame.h>
#include <internal/pycore_interp.h>
// Our own copy of the opcode tables, renamed: the shared libpython (sanitizer builds) does not
// export them, and the static one must not see a second definition.
#define _PyOpcode_Caches ct_opcode_caches
#define _PyOpcode_Deopt ct_opcode_deopt
#define NEED_OPCODE_TABLES 1
#include <internal/pycore_opcode.h>
#undef NEED_OPCODE_TABLES
#include <internal/pycore_runtime.h>

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
    .frame_function = offsetof(_PyInterpreterFrame, f_func),
    .frame_function_tag = 0,
    .frame_globals = offsetof(_PyInterpreterFrame, f_globals),
    .frame_previous = offsetof(_PyInterpreterFrame, previous),
    .frame_instruction = offsetof(_PyInterpreterFrame, prev_instr),
    .frame_owner = offsetof(_PyInterpreterFrame, owner),
    .owner_generator = FRAME_OWNED_BY_GENERATOR,
    .owner_not_python = 0x100,  // no shim frames before 3.12
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

__attribute__((constructor)) static void classify_opcodes(void) {
    for (int op = 0; op < 256; ++op) {
        int base = ct_opcode_deopt[op];
        unsigned char c = 0;
        if (base == PRECALL || base == CALL || base == CALL_FUNCTION_EX) c |= CT_OP_CALL;
        // Where the eval loop checks for a GIL drop request.
        if (base == RESUME || base == JUMP_BACKWARD) c |= CT_OP_GIL_HANDOVER;
        ct_layout_of_python.opcode_class[op] = c;
    }
}

void* ct_layout_gil(void) { return &_PyRuntime.ceval.gil; }

void ct_layout_lock_threads(void) { PyThread_acquire_lock(_PyRuntime.interpreters.mutex, WAIT_LOCK); }
void ct_layout_unlock_threads(void) { PyThread_release_lock(_PyRuntime.interpreters.mutex); }

const void* ct_layout_first_thread(void) {
    PyInterpreterState* interp = _PyRuntime.interpreters.main;
    return interp != NULL ? interp->threads.head : NULL;
}

void ct_layout_request_gil_drop(void* interp_state) {
    PyInterpreterState* interp = interp_state;
    // SET_GIL_DROP_REQUEST in Python/ceval.c.
    _Py_atomic_store_relaxed(&interp->ceval.gil_drop_request, 1);
    _Py_atomic_store_relaxed(&interp->ceval.eval_breaker, 1);
}

// _PyEval_SetProfile without its audit event; the tracing flag as
// _PyThreadState_UpdateTracingState sets it.
static void update_tracing(PyThreadState* ts) {
    int on = ts->tracing == 0 && (ts->c_tracefunc != NULL || ts->c_profilefunc != NULL);
    ts->cframe->use_tracing = on ? 255 : 0;
}
int ct_layout_set_profile_quietly(void* tstate, void* func, void* obj) {
    PyThreadState* ts = tstate;
    PyObject* old = ts->c_profileobj;
    ts->c_profilefunc = NULL;
    ts->c_profileobj = NULL;
    update_tracing(ts);
    Py_XDECREF(old);  // may run Python code (a cProfile.Profile's last reference)
    Py_XINCREF((PyObject*)obj);
    Py_XSETREF(ts->c_profileobj, (PyObject*)obj);
    ts->c_profilefunc = (Py_tracefunc)func;
    update_tracing(ts);
    return 0;
}

const void* ct_layout_thread_state_unchecked(void) { return _PyThreadState_UncheckedGet(); }

const char* ct_layout_check_debug_offsets(void) { return NULL; }  // 3.13+
