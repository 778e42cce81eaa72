// What one CPython minor version looks like inside, as the rest of src/cpython/ reads it: byte
// offsets of the fields calltree reads, the opcode classes it needs, and the few operations that
// are more than a read (taking the thread-list lock, asking for the GIL). One layout_3XX.c per
// supported version fills it, compiled against that version's internal headers
// (Py_BUILD_CORE); the build compiles exactly one, the one matching the headers it builds for.
// 3.13 and later share most of theirs (layout_since_313.h): their files keep only what differs.
// Only src/cpython/ includes this file: everything else uses boundary.h.
//
// Adding a version: copy the nearest layout_3XX.c (for one like 3.13's, define what differs and
// include layout_since_313.h; move out of it what the new version changes), follow the compiler
// through the new headers, run tests/unit/test_cpython_internals.cpp built for that version (it
// checks every entry).
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { CT_NO_FIELD = (size_t)-1 };

// Opcode classes, per (unspecialised or specialised, instrumented or not) opcode byte.
enum { CT_OP_CALL = 1, CT_OP_GIL_HANDOVER = 2 };

typedef struct {
    unsigned version_hex;  // PY_VERSION_HEX of the headers (the build refuses another minor)

    // PyThreadState: the innermost frame is tstate->current_frame (3.13+), or
    // tstate->cframe->current_frame (3.11, 3.12: tstate_cframe is then the cframe pointer's offset).
    size_t tstate_cframe;          // CT_NO_FIELD on 3.13+
    size_t cframe_current_frame;   // offset in the cframe (3.11, 3.12) or in the thread state
    size_t tstate_next;
    size_t tstate_native_thread_id;

    // _PyInterpreterFrame: its header (everything before localsplus) is copied in one read.
    size_t frame_header_size;
    size_t frame_code;            // f_code / f_executable
    uintptr_t frame_code_tag;     // low bits set in that word that are not part of the pointer
    size_t frame_function;        // f_func / f_funcobj
    uintptr_t frame_function_tag;
    size_t frame_globals;
    size_t frame_previous;
    size_t frame_instruction;     // prev_instr (3.11, 3.12: last begun) / instr_ptr (3.13+: current)
    size_t frame_owner;           // a char
    int owner_generator;          // the owner value of a generator's or coroutine's frame
    int owner_not_python;         // owners from this value up are not Python frames (shim
                                  // frames of a C->Python entry); 0x100 when there are none

    // PyFrameObject (the tracer's frame argument) -> its _PyInterpreterFrame.
    size_t frameobject_frame;

    // PyCodeObject
    size_t code_bytecode;          // co_code_adaptive: the first code unit
    size_t code_first_traceable;   // _co_firsttraceable, an int
    size_t code_qualname;
    size_t code_filename;
    size_t code_linetable;
    size_t code_firstlineno;

    // PyFunctionObject.func_module
    size_t function_module;

    // PyDictObject / PyDictKeysObject, for a bounded scan of a module's globals.
    size_t dict_keys;
    size_t dict_values;
    size_t keys_log2_index_bytes;  // uint8_t
    size_t keys_kind;              // uint8_t
    size_t keys_nentries;          // Py_ssize_t
    size_t keys_indices;
    int keys_kind_unicode;         // DICT_KEYS_UNICODE
    size_t unicode_entry_size;     // sizeof(PyDictUnicodeEntry): key, then value

    // The main interpreter's GIL (struct _gil_runtime_state): its address, size and fields.
    size_t gil_size;
    size_t gil_locked;        // an int, 1 while held
    size_t gil_last_holder;   // the PyThreadState* that holds it, or held it last
    size_t gil_mutex;         // pthread mutexes: their first word is glibc's futex word
    size_t gil_switch_mutex;

    // os.fork() holds the thread list's lock across fork() (3.13+: PyOS_BeforeFork takes
    // HEAD_LOCK) and the child starts with it released. Before 3.13 the child can inherit it taken
    // (threads.c guards the walk against that); from 3.13 that guard would deadlock against it.
    int fork_holds_thread_lock;

    // Opcode byte -> CT_OP_* bits.
    unsigned char opcode_class[256];
} ct_layout;

// Filled by the layout file: offsets statically, the opcode classes by a constructor (from the
// version's own opcode tables) before anything can read them.
extern ct_layout ct_layout_of_python;

// The per-version operations.
void* ct_layout_gil(void);                        // &the main interpreter's _gil_runtime_state
void ct_layout_lock_threads(void);                // HEAD_LOCK(&_PyRuntime): the thread list's lock
void ct_layout_unlock_threads(void);
const void* ct_layout_first_thread(void);         // main interpreter's threads.head (lock held)
void ct_layout_request_gil_drop(void* interp);    // SET_GIL_DROP_REQUEST
// Installs func/obj as the calling thread's profile hook as _PyEval_SetProfile does, without its
// audit event. Returns 0 on success.
int ct_layout_set_profile_quietly(void* tstate, void* func, void* obj);
const void* ct_layout_thread_state_unchecked(void);  // the thread's state, NULL-safe, no check
// On 3.13+: compares the table with _PyRuntime.debug_offsets; returns NULL if they agree, else
// the name of the first field that differs. NULL on older versions (nothing to compare).
const char* ct_layout_check_debug_offsets(void);

#ifdef __cplusplus
}
#endif
