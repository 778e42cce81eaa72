// What the layouts of CPython 3.13 and later have in common, included once by each of their
// layout files (layout_313.c, layout_314.c) after that version's internal headers. Each file
// defines first what differs:
//   CT_FRAME_REF_TAG     the tag bits of f_executable and f_funcobj (0: plain PyObject*)
//   CT_OWNER_NOT_PYTHON  the first frame owner that is not a Python frame
// A later version that differs elsewhere keeps that part in its own file instead.
#ifndef CT_FRAME_REF_TAG
#error "define CT_FRAME_REF_TAG and CT_OWNER_NOT_PYTHON before including layout_since_313.h"
#endif
#ifdef Py_GIL_DISABLED
#error "calltree does not support the free-threaded build"
#endif

// The internal headers are CPython's, not ours to warn about.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
// Our own copy of the opcode tables, renamed: libpython does not export them, and a static one
// must not see a second definition.
#define _PyOpcode_num_popped ct_opcode_num_popped
#define _PyOpcode_num_pushed ct_opcode_num_pushed
#define _PyOpcode_opcode_metadata ct_opcode_opcode_metadata
#define _PyOpcode_macro_expansion ct_opcode_macro_expansion
#define _PyOpcode_OpName ct_opcode_opname
#define _PyOpcode_Caches ct_opcode_caches
#define _PyOpcode_Deopt ct_opcode_deopt
#define _PyOpcode_PseudoTargets ct_opcode_pseudo_targets
#define NEED_OPCODE_METADATA 1
#include <internal/pycore_opcode_metadata.h>
#undef NEED_OPCODE_METADATA
#include <internal/pycore_runtime.h>
#pragma GCC diagnostic pop
#include "cpython/quiet_profile_312.h"

#include <string.h>

#include "cpython/layout.h"

ct_layout ct_layout_of_python = {
    .version_hex = PY_VERSION_HEX,
    .tstate_cframe = CT_NO_FIELD,
    .cframe_current_frame = offsetof(PyThreadState, current_frame),
    .tstate_next = offsetof(PyThreadState, next),
    .tstate_native_thread_id = offsetof(PyThreadState, native_thread_id),
    .frame_header_size = offsetof(_PyInterpreterFrame, localsplus),
    .frame_code = offsetof(_PyInterpreterFrame, f_executable),
    .frame_code_tag = CT_FRAME_REF_TAG,
    .frame_function = offsetof(_PyInterpreterFrame, f_funcobj),
    .frame_function_tag = CT_FRAME_REF_TAG,
    .frame_globals = offsetof(_PyInterpreterFrame, f_globals),
    .frame_previous = offsetof(_PyInterpreterFrame, previous),
    .frame_instruction = offsetof(_PyInterpreterFrame, instr_ptr),
    .frame_owner = offsetof(_PyInterpreterFrame, owner),
    .owner_generator = FRAME_OWNED_BY_GENERATOR,
    .owner_not_python = CT_OWNER_NOT_PYTHON,
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
    .fork_holds_thread_lock = 1,
};

_Static_assert(sizeof(_Py_CODEUNIT) == 2, "code units are 16 bits");
_Static_assert(sizeof(((struct _gil_runtime_state*)0)->locked) == sizeof(int), "locked is an int");
_Static_assert(sizeof(((_PyInterpreterFrame*)0)->owner) == 1, "owner is a char");
_Static_assert(sizeof(((PyDictKeysObject*)0)->dk_kind) == 1, "dk_kind is a byte");

__attribute__((constructor)) static void classify_opcodes(void) {
    for (int op = 0; op < 256; ++op) {
        int base = ct_opcode_deopt[op];
        unsigned char c = 0;
        if (base == CALL || base == CALL_KW || base == CALL_FUNCTION_EX || base == INSTRUMENTED_CALL ||
            base == INSTRUMENTED_CALL_KW || base == INSTRUMENTED_CALL_FUNCTION_EX)
            c |= CT_OP_CALL;
        // Where the eval loop checks for a GIL drop request before running the instruction.
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

// HEAD_LOCK(&_PyRuntime), through the exported PyMutex_Lock on contention (the caller, a helper
// thread, has no thread state to detach).
void ct_layout_lock_threads(void) {
    PyMutex* m = &_PyRuntime.interpreters.mutex;
    uint8_t expected = 0;
    if (!__atomic_compare_exchange_n(&m->_bits, &expected, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) PyMutex_Lock(m);
}
void ct_layout_unlock_threads(void) { PyMutex_Unlock(&_PyRuntime.interpreters.mutex); }

const void* ct_layout_first_thread(void) {
    PyInterpreterState* interp = main_interp();
    return interp != NULL ? interp->threads.head : NULL;
}

// take_gil's request: the drop-request bit in the holder's own eval_breaker.
void ct_layout_request_gil_drop(void* interp_state) {
    PyInterpreterState* interp = interp_state;
    struct _gil_runtime_state* gil = interp->ceval.gil;
    if (gil == NULL || __atomic_load_n(&gil->locked, __ATOMIC_RELAXED) != 1) return;
    PyThreadState* holder = __atomic_load_n(&gil->last_holder, __ATOMIC_RELAXED);
    if (holder != NULL) __atomic_fetch_or(&holder->eval_breaker, (uintptr_t)_PY_GIL_DROP_REQUEST_BIT, __ATOMIC_RELAXED);
}

int ct_layout_set_profile_quietly(void* tstate, void* func, void* obj) {
    return ct_set_profile_without_audit(tstate, (Py_tracefunc)func, obj);
}

const void* ct_layout_thread_state_unchecked(void) { return PyThreadState_GetUnchecked(); }

// Our table against the running interpreter's own _PyRuntime.debug_offsets.
const char* ct_layout_check_debug_offsets(void) {
    const _Py_DebugOffsets* d = &_PyRuntime.debug_offsets;
    if (memcmp(d->cookie, _Py_Debug_Cookie, sizeof d->cookie) != 0) return "no _Py_DebugOffsets cookie";
    if ((d->version >> 16) != (PY_VERSION_HEX >> 16)) return "debug offsets of another Python version";
    const ct_layout* l = &ct_layout_of_python;
#define SAME(debug, ours) \
    if ((uint64_t)(debug) != (uint64_t)(ours)) return #debug " differs from the offset calltree was built with"
    SAME(d->thread_state.current_frame, l->cframe_current_frame);
    SAME(d->thread_state.next, l->tstate_next);
    SAME(d->thread_state.native_thread_id, l->tstate_native_thread_id);
    SAME(d->interpreter_frame.previous, l->frame_previous);
    SAME(d->interpreter_frame.executable, l->frame_code);
    SAME(d->interpreter_frame.instr_ptr, l->frame_instruction);
    SAME(d->interpreter_frame.localsplus, l->frame_header_size);
    SAME(d->interpreter_frame.owner, l->frame_owner);
    SAME(d->code_object.filename, l->code_filename);
    SAME(d->code_object.qualname, l->code_qualname);
    SAME(d->code_object.linetable, l->code_linetable);
    SAME(d->code_object.firstlineno, l->code_firstlineno);
    SAME(d->code_object.co_code_adaptive, l->code_bytecode);
#undef SAME
    return NULL;
}
