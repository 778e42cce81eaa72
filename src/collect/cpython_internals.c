#define _GNU_SOURCE 1
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <pthread.h>
#include <string.h>

#include "collect/cpython_internals.h"

#if PY_VERSION_HEX < 0x030B0000 || PY_VERSION_HEX >= 0x030C0000
#error "cpython_internals.c reads CPython 3.11's frame layout; port it before building for another version"
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
#undef Py_BUILD_CORE

const void* ct_this_thread_state(void) { return PyGILState_GetThisThreadState(); }

static int looks_like_code(const PyCodeObject* code) { return code != NULL && Py_TYPE(code) == &PyCode_Type; }

// Frames pushed by a Python-to-Python call live in the thread's data stack: memory the thread
// owns, always mapped and fully written before a frame is linked. Anything else (a generator's
// frame inside its object, or, in the few instructions where _PyEval_EvalFrameDefault has made
// its new C frame current but not yet stored its first frame pointer, a stale value from the C
// stack) is read with process_vm_readv, which fails instead of faulting on unmapped memory.
// `live_only`: only below each chunk's top, where frames are pushed and not yet popped (a popped
// frame's memory stays mapped until its chunk is freed, and a stale first frame may point there).
static int in_data_stack(const PyThreadState* tstate, const void* p, size_t size, int live_only) {
    size_t chunks = 0;
    for (const _PyStackChunk* c = tstate->datastack_chunk; c != NULL && chunks < 64; c = c->previous, ++chunks) {
        const char* end = !live_only ? (const char*)c + c->size
                          : chunks == 0 ? (const char*)tstate->datastack_top
                                        : (const char*)(c->data + c->top);
        if ((const char*)p >= (const char*)c->data && (const char*)p + size <= end) return 1;
    }
    return 0;
}

// getpid() is a system call in glibc: the pid is kept, and forgotten in a forked child.
static pid_t g_pid;
static void forget_pid(void) { __atomic_store_n(&g_pid, 0, __ATOMIC_RELAXED); }
__attribute__((constructor)) static void register_forget_pid(void) { pthread_atfork(NULL, NULL, forget_pid); }

static int safe_read(const void* address, void* out, size_t size) {
    struct iovec local = {out, size};
    struct iovec remote = {(void*)address, size};
    pid_t pid = __atomic_load_n(&g_pid, __ATOMIC_RELAXED);
    if (pid == 0) {
        pid = getpid();
        __atomic_store_n(&g_pid, pid, __ATOMIC_RELAXED);
    }
    return syscall(SYS_process_vm_readv, (long)pid, &local, 1UL, &remote, 1UL, 0UL) == (long)size;
}

// A copy of the frame's header and the checked code object, or 0 if `f` is not a readable frame.
// `linked_from_live`: `f` is the `previous` of a frame that is live, so it is live too (a caller
// outlives its callee: a generator's frame, inside the generator object, is held by whoever
// resumed it), and is read in place rather than through a system call.
static int frame_header(const PyThreadState* tstate, const _PyInterpreterFrame* f, _PyInterpreterFrame* copy,
                        int linked_from_live) {
    const size_t header = offsetof(_PyInterpreterFrame, localsplus);
    if (((uintptr_t)f & (sizeof(void*) - 1)) != 0) return 0;
    if (linked_from_live || in_data_stack(tstate, f, header, 0)) {
        memcpy(copy, f, header);
        return looks_like_code(copy->f_code);
    }
    PyTypeObject* type = NULL;
    return safe_read(f, copy, header) && copy->f_code != NULL &&
           safe_read((const char*)copy->f_code + offsetof(PyObject, ob_type), &type, sizeof type) && type == &PyCode_Type;
}

size_t ct_read_stack(const void* thread_state, ct_raw_frame* out, size_t max, int* truncated) {
    *truncated = 0;
    const PyThreadState* tstate = thread_state;
    if (tstate == NULL || tstate->cframe == NULL) return 0;
    size_t n = 0;
    // Bounded: a signal handler must never loop forever, whatever it reads.
    size_t steps = 0;
    _PyInterpreterFrame f;
    // Only the first frame can be stale (see in_data_stack): once one frame is known to be live,
    // the chain of callers from it is.
    int live = 0;
    for (const _PyInterpreterFrame* at = tstate->cframe->current_frame; at != NULL && steps < 100000;
         at = f.previous, ++steps) {
        if (!frame_header(tstate, at, &f, live)) break;
        live = live || in_data_stack(tstate, at, 1, 1);
        if (_PyFrame_IsIncomplete(&f)) continue;
        if (n == max) {
            *truncated = 1;
            break;
        }
        PyObject* func = (PyObject*)f.f_func;
        out[n].code = f.f_code;
        out[n].function = func != NULL && Py_TYPE(func) == &PyFunction_Type ? func : NULL;
        out[n].globals = f.f_globals;
        out[n].frame = at;
        out[n].lasti = (int32_t)(_PyInterpreterFrame_LASTI(&f) * (int)sizeof(_Py_CODEUNIT));
        ++n;
    }
    return n;
}

int ct_is_calling(const void* code_object, int32_t lasti) {
    const PyCodeObject* code = code_object;
    if (!looks_like_code(code) || lasti < 0 || lasti >= _PyCode_NBYTES(code)) return 0;
    int opcode = _Py_OPCODE(_PyCode_CODE(code)[lasti / (int32_t)sizeof(_Py_CODEUNIT)]);
    int base = _PyOpcode_Deopt[opcode];
    return base == PRECALL || base == CALL || base == CALL_FUNCTION_EX;
}

int ct_code_facts_of(const void* code_object, ct_code_facts* facts) {
    const PyCodeObject* code = code_object;
    if (!looks_like_code(code)) return 0;
    facts->qualname_object = code->co_qualname;
    facts->filename_object = code->co_filename;
    facts->linetable_object = code->co_linetable;
    facts->first_line = code->co_firstlineno;
    PyObject* table = code->co_linetable;
    if (table != NULL && Py_TYPE(table) == &PyBytes_Type) {
        facts->line_table = PyBytes_AS_STRING(table);
        facts->line_table_size = (size_t)PyBytes_GET_SIZE(table);
    } else {
        facts->line_table = NULL;
        facts->line_table_size = 0;
    }
    return 1;
}

static size_t put_utf8(uint32_t cp, char* buf) {
    if (cp >= 0xDC80 && cp <= 0xDCFF) {  // surrogateescape: an undecodable byte of a file name
        buf[0] = (char)(cp - 0xDC00);
        return 1;
    }
    if (cp < 0x80) {
        buf[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        buf[0] = (char)(0xC0 | (cp >> 6));
        buf[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        buf[0] = (char)(0xE0 | (cp >> 12));
        buf[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        buf[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    buf[0] = (char)(0xF0 | (cp >> 18));
    buf[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    buf[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    buf[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

ptrdiff_t ct_text_bytes(const void* text_object, char* out, size_t capacity) {
    PyObject* text = (PyObject*)text_object;
    if (text == NULL || !PyUnicode_Check(text) || !PyUnicode_IS_COMPACT(text)) return -1;
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    if (PyUnicode_IS_ASCII(text)) {
        const char* data = PyUnicode_DATA(text);
        for (size_t i = 0; i < (size_t)length && i < capacity; ++i) out[i] = data[i];
        return length;
    }
    int kind = PyUnicode_KIND(text);
    const void* data = PyUnicode_DATA(text);
    size_t written = 0;
    char buf[4];
    for (Py_ssize_t i = 0; i < length; ++i) {
        size_t n = put_utf8(PyUnicode_READ(kind, data, i), buf);
        for (size_t j = 0; j < n; ++j, ++written)
            if (written < capacity) out[written] = buf[j];
    }
    return (ptrdiff_t)written;
}

// globals["__name__"] by scanning the first entries of a str-keyed dict: no hashing, no
// comparison that could run Python code. Module dicts get "__name__" first, so this is short.
static const void* name_in_globals(const PyObject* globals) {
    if (globals == NULL || Py_TYPE(globals) != &PyDict_Type) return NULL;
    const PyDictObject* dict = (const PyDictObject*)globals;
    const PyDictKeysObject* keys = dict->ma_keys;
    if (keys == NULL || keys->dk_kind != DICT_KEYS_UNICODE || dict->ma_values != NULL) return NULL;
    const PyDictUnicodeEntry* entries =
        (const PyDictUnicodeEntry*)(&((const int8_t*)keys->dk_indices)[(size_t)1 << keys->dk_log2_index_bytes]);
    Py_ssize_t n = keys->dk_nentries < 8 ? keys->dk_nentries : 8;
    for (Py_ssize_t i = 0; i < n; ++i) {
        PyObject* key = entries[i].me_key;
        if (key == NULL || Py_TYPE(key) != &PyUnicode_Type || !PyUnicode_IS_COMPACT_ASCII(key) ||
            PyUnicode_GET_LENGTH(key) != 8 || memcmp(PyUnicode_DATA(key), "__name__", 8) != 0)
            continue;
        PyObject* value = entries[i].me_value;
        return value != NULL && PyUnicode_Check(value) ? value : NULL;
    }
    return NULL;
}

const void* ct_frame_module(const ct_raw_frame* frame) {
    const PyFunctionObject* func = frame->function;
    if (func != NULL && Py_TYPE(func) == &PyFunction_Type && func->func_module != NULL &&
        PyUnicode_Check(func->func_module))
        return func->func_module;
    // Module-level code runs in a function object without __module__ (PyEval_EvalCode).
    return name_in_globals(frame->globals);
}

// While the thread-list lock is held no thread state is deleted, so its thread (and the C stack
// its cframe lives on) still exists; the frame itself may be mid-update, so it is read safely.
static void position_of(const PyThreadState* t, ct_position* pos) {
    pos->frame = pos->code = NULL;
    pos->lasti = -1;
    pos->at_gil_handover = 0;
    const _PyCFrame* cframe = t->cframe;
    if (cframe == NULL) return;
    const _PyInterpreterFrame* frame = cframe->current_frame;
    _PyInterpreterFrame copy;
    const size_t header = offsetof(_PyInterpreterFrame, localsplus);
    if (frame == NULL || !safe_read(frame, &copy, header) || copy.f_code == NULL) return;
    pos->frame = frame;
    pos->code = copy.f_code;
    pos->lasti = (int32_t)((copy.prev_instr - (_Py_CODEUNIT*)copy.f_code->co_code_adaptive) * (int)sizeof(_Py_CODEUNIT));
    _Py_CODEUNIT word = 0;
    if (copy.prev_instr != NULL && safe_read(copy.prev_instr, &word, sizeof word)) {
        int base = _PyOpcode_Deopt[_Py_OPCODE(word)];
        pos->at_gil_handover = base == RESUME || base == JUMP_BACKWARD;
    }
}

void ct_gil_state_range(uintptr_t* start, uintptr_t* end) {
    *start = (uintptr_t)&_PyRuntime.ceval.gil;
    *end = *start + sizeof _PyRuntime.ceval.gil;
}

// CPython 3.11's forked child takes the thread-list lock (in _PyEval_ReInitThreads) before it
// replaces it (in _PyRuntimeState_ReInitThreads): a fork while another thread holds it leaves the
// child blocked forever. Our walk holds it every interval, so fork waits for the walk to finish.
// A futex lock of our own, not a pthread mutex: the sampler runs on a helper thread that glibc
// is not told about (interpose/helper_thread.h), and glibc's mutexes skip their atomic
// operations and wake-ups while it believes the process has one thread.
static _Atomic int g_walk;  // 0 free, 1 taken, 2 taken with waiters
static void walk_lock(void) {
    int expected = 0;
    if (atomic_compare_exchange_strong(&g_walk, &expected, 1)) return;
    while (atomic_exchange(&g_walk, 2) != 0) syscall(SYS_futex, &g_walk, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
}
static void walk_unlock(void) {
    if (atomic_exchange(&g_walk, 0) == 2) syscall(SYS_futex, &g_walk, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}
static pthread_once_t g_walk_once = PTHREAD_ONCE_INIT;
static void register_walk_fork_guard(void) { pthread_atfork(walk_lock, walk_unlock, walk_unlock); }

void ct_prepare_thread_walks(void) { pthread_once(&g_walk_once, register_walk_fork_guard); }

void ct_position_of(const void* thread_state, ct_position* position) { position_of(thread_state, position); }

void ct_for_each_thread(void (*visit)(void*, const void*, unsigned long), void* context) {
    ct_prepare_thread_walks();
    walk_lock();
    PyThread_acquire_lock(_PyRuntime.interpreters.mutex, WAIT_LOCK);
    PyInterpreterState* interp = _PyRuntime.interpreters.main;
    for (PyThreadState* t = interp != NULL ? interp->threads.head : NULL; t != NULL; t = t->next) {
        visit(context, t, t->native_thread_id);
    }
    PyThread_release_lock(_PyRuntime.interpreters.mutex);
    walk_unlock();
}

