// calltree's one boundary with CPython's internals. Every read of what the C API does not
// promise (interpreter frames, the thread list and its lock, opcodes, the GIL's state and where it
// changes hands, code-object fields that are internal) is declared here and implemented in
// src/cpython/: generic readers (readers.c, threads.c, gil.c) over one table of offsets and a few
// operations per CPython minor version (layout.h, filled by layout_3XX.c compiled against that
// version's internal headers). Nothing outside src/cpython/ defines Py_BUILD_CORE or includes an
// internal header. tests/unit/test_cpython_internals.cpp checks every assumption on the version it
// is built for.
//
// C, because CPython's internal headers are C. The readers take no locks, allocate nothing and
// call no C API that could, so they can run in a signal handler on the thread being sampled
// (except the thread-list walk), and every read they make of the interpreter's memory goes
// through process/safe_copy.h: given any pointer, stale or freed, they fail, never fault.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

// The interpreter's thread state for the calling thread, or NULL. Signal-safe.
const void* ct_this_thread_state(void);

// One Python frame as seen from outside: the code object and function (borrowed, alive while
// the frame is) and the byte offset of the instruction being executed.
typedef struct {
    const void* code;
    const void* function;  // may be NULL
    const void* globals;
    const void* frame;  // the frame's address: tells two activations of one code object apart
    int32_t lasti;
} ct_raw_frame;

// The thread's Python stack, innermost frame first; returns how many frames were written (at
// most `max`). Frames still being set up (before their first traceable instruction) are skipped.
// `*truncated` is set when frames beyond `max` were left out; `*unreadable` when the walk met a
// link it could not follow (memory that is not a frame: a pointer not yet stored, or stale), so
// the frames read may be only part of the stack.
size_t ct_read_stack(const void* thread_state, ct_raw_frame* out, size_t max, int* truncated, int* unreadable);

// Nonzero if the instruction at `lasti` is a call (any specialisation of CALL, CALL_KW, PRECALL
// (3.11), CALL_FUNCTION_EX, instrumented or not): when it is the innermost frame's instruction, the thread is inside a
// function that is not Python code (a C function, an extension, a method of a builtin type).
int ct_is_calling(const void* code, int32_t lasti);

// What a code object says about itself, as pointers into the interpreter's own objects: valid
// only while the code object is alive, so copy them at once (with ct_safe_copy, ct_text_bytes).
typedef struct {
    const void* qualname_object;  // identity of the code object beyond its address
    const void* filename_object;
    const void* linetable_object;
    int32_t first_line;
    const char* line_table;  // co_linetable's bytes (the location table of 3.11+), in the interpreter's
                             // memory: copy it with ct_safe_copy
    size_t line_table_size;
} ct_code_facts;
// Zero if `code` does not look like a code object. Without `with_line_table`, only the four
// fields that tell code objects apart (the line table's pointer among them) are read.
int ct_code_facts_of(const void* code, ct_code_facts* facts, int with_line_table);

// Writes the UTF-8 bytes of a str object into out[0, capacity); returns the full length (which
// may exceed capacity) or -1 if `text` is not a str. File names keep their original bytes:
// surrogateescape'd bytes (U+DC80..U+DCFF) turn back into the byte. Signal-safe.
ptrdiff_t ct_text_bytes(const void* text, char* out, size_t capacity);

// The module name of a frame (its function's __module__, else __name__ of its globals) as a
// str object, or NULL. Signal-safe: no dict lookup, only a bounded scan of the globals' entries.
const void* ct_frame_module(const ct_raw_frame* frame);

// Where a thread is now, read from another thread: its innermost frame, that frame's code and
// instruction offset. All zero when it cannot be read (no frame, or memory that is changing).
typedef struct {
    const void* frame;
    const void* code;
    int32_t lasti;
    // The instruction is one where the eval loop hands the GIL over (RESUME or JUMP_BACKWARD,
    // where it checks for a drop request): a thread that sits there without running is waiting
    // to get the GIL back. A thread blocked in a C call sits at a call instead.
    int at_gil_handover;
} ct_position;

// The address range of the GIL's own state (its mutexes and condition variables): a thread
// blocked in a futex wait on an address in it is waiting for the GIL.
void ct_gil_state_range(uintptr_t* start, uintptr_t* end);

// Registers the fork guard of ct_for_each_thread. Call on the program's thread before the first
// walk: registered by the walking thread itself, a fork racing with the registration ran without
// it (glibc, believing the process single-threaded, iterates its fork handlers unlocked), and
// the child inherited the thread-list lock taken.
void ct_prepare_thread_walks(void);

// Calls visit(context, thread_state, native_thread_id) for every thread of the main
// interpreter, under the interpreter's own thread-list lock (so the thread states stay valid
// while they are read). Not signal-safe.
void ct_for_each_thread(void (*visit)(void* context, const void* thread_state, unsigned long native_id),
                        void* context);

// Where a thread is: its innermost frame, read from outside with two process_vm_readv. Only
// inside a ct_for_each_thread visit (the thread state must stay valid). Each read takes the
// process's mmap_lock, which the program's own munmap calls wait for: read only when needed.
void ct_position_of(const void* thread_state, ct_position* position);



// Where the eval loop hands the GIL over and who holds it (formerly collect/gil_holder.h).
//
// What the sampler needs it for: it signals a thread only while the thread runs Python, never
// while it is blocked in the kernel (pause() would return, a blocking write would stop short).
// CPython releases the GIL before every call that may block (sleep, I/O, pause, lock waits), so
// a thread that holds the GIL is not in one; and while the sampler holds the GIL's mutex the
// thread cannot release the GIL, so it cannot get into one either until our signal has been
// handled.
//
// ct_pin_gil tries to take the GIL's internal mutex, never waits: 0 if it is taken (a hand-over is
// under way). Held, the GIL cannot change hands: a thread that wants to release it (before a
// blocking call) or take it waits. Hold it for microseconds only, and never across anything that
// waits for the GIL. Uses the mutex's futex word directly, as glibc's lock does (not pthread
// calls: with calltree's hidden helper threads glibc may believe the process single-threaded, and
// its pthread_mutex_unlock would then skip waking a waiter).
int ct_pin_gil(void);
void ct_unpin_gil(void);

// Whether `thread_state` holds the GIL. Two relaxed loads of the GIL's state, never a dereference
// of `thread_state`: any thread may ask about any thread (even one that ended). Exact while the
// GIL is pinned; otherwise momentarily wrong inside take_gil, between its two stores.
int ct_holds_gil(const void* thread_state);

// Asks the thread that holds the GIL to release it at its next bytecode boundary, without waiting
// the switch interval (5 ms) a plain GIL request waits first: what CPython's own GIL waiters set.
// Async-signal-safe (relaxed atomic stores). Only call when a thread is certain to take the GIL
// soon: the holder waits for someone to take it before it continues. `interp` is the
// PyInterpreterState.
void ct_request_gil_drop(void* interp);

// Wakes whoever waits for the GIL's mutexes. A thread that began unlocking one while glibc
// believed the process had a single thread (process/helper_thread.h) does not wake its waiters;
// a spurious wake-up costs a waiter one more look.
void ct_wake_gil_mutex_waiters(void);

// The calling thread's PyThreadState if it has one attached, else NULL; never fails, never checks
// (_PyThreadState_UncheckedGet / PyThreadState_GetUnchecked).
const void* ct_current_thread_state(void);

// Installs `func`/`obj` (a Py_tracefunc and its object) as the calling thread's profile hook as
// PyEval_SetProfile does, but without the "sys.setprofile" audit event the program would see (on
// 3.12+ its audit hooks are out of sight for the call). The caller holds the GIL. Returns 0 on
// success.
int ct_set_profile_quietly(void* func, void* obj);

// The same on `tstate`, another thread of the interpreter (in its thread list). The caller holds
// the GIL. Returns 0 on success.
int ct_set_profile_quietly_on(void* tstate, void* func, void* obj);

// How _PyEval_SetProfile changes a thread's profile function, which calltree's sys.setprofile
// imitates for the program's own function. Nonzero (3.11): a change made while another is under
// way (from the old function's __del__, from an audit hook) is refused with a RuntimeError, and
// the old function is released before the new one is stored. Zero (3.12+, sys.monitoring's
// legacy events): no such guard, and the new function is stored before the old is released.
int ct_profile_change_is_guarded(void);

// When python3 reports the end of a C call (c_return, c_exception) to a profile function: only if
// its profile events were on when the call began. Zero (3.11): events are per thread, on while
// that thread has a profile function. Nonzero (3.12+, sys.monitoring's legacy events): per
// interpreter, on while some thread has one (a thread's exit does not turn them off; the next
// change of any thread's profile function decides again).
int ct_profile_events_are_per_interpreter(void);

// Takes the profile hook `func` off another thread `tstate` as ct_set_profile_quietly would (its
// object released); a thread whose hook is not `func` is left alone. The caller holds the GIL and
// `tstate` is in the interpreter's thread list. Returns 1 if it was removed.
int ct_remove_profile_hook_of(void* tstate, void* func);

// Bytes per code unit (an instruction is one unit, its caches more), and how many units a code
// object's bytecode has. `code` is a live code object (the caller holds a reference).
enum { CT_CODE_UNIT_BYTES = 2 };
int ct_code_units(const void* code);

// The name of the allocator under the PyMem/PyObject domains ("pymalloc", "malloc",
// "pymalloc_debug", "mimalloc", ...): _PyMem_GetCurrentAllocatorName, internal from 3.13.
const char* ct_python_allocator_name(void);

// The CPython version the boundary was built for (PY_VERSION_HEX of its headers).
unsigned ct_python_version_hex(void);

// A self-check at start-up: on 3.13+ the offsets calltree was compiled with are compared with
// the running interpreter's own _PyRuntime.debug_offsets. NULL when they agree (or there is
// nothing to compare), else a one-line reason.
const char* ct_layout_mismatch(void);

#ifdef __cplusplus
}
#endif
