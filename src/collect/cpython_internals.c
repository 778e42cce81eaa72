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
#include "interpose/safe_copy.h"

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

// Every read below of the interpreter's memory goes through safe_copy.h and fails instead of
// faulting. That is the invariant the readers rely on, and the only one: no pointer read from a
// frame or object is assumed valid, because at the instruction a signal (or an allocation inside
// the eval loop) interrupts, some are not. Observed on 3.11: _PyEval_EvalFrameDefault makes its
// new C frame current before storing its first frame pointer (a stale value from the C stack for
// a few instructions); a frame entered from C (tp_init, tp_call) may be current before its
// `previous` is stored, so `previous` holds whatever the data stack held there (a popped frame
// pointing at a freed generator); a popped frame's code object may be freed and its arena
// unmapped. Reading such a pointer in place killed the program (issue 14). What can go wrong now
// is a wrong frame in one sample, which the checks below make rare (a frame's code must be a code
// object, its function a function) and the sample can afford.
#define READ(dst, src) ct_safe_copy(&(dst), (src), sizeof(dst))

// Whether a pointer read from memory may be used to form a member's address (a misaligned one,
// even unread, is undefined behaviour, and the sanitizers say so).
static int aligned(const void* p) { return p != NULL && ((uintptr_t)p & (sizeof(void*) - 1)) == 0; }

static const PyTypeObject* type_of(const void* object) {
    uintptr_t type = 0;
    if (!aligned(object) ||
        !ct_safe_word(&((const PyObject*)object)->ob_type, &type))
        return NULL;
    return (const PyTypeObject*)type;
}

static int looks_like_code(const void* code) { return type_of(code) == &PyCode_Type; }

// What one stack read has already checked: consecutive frames of a recursion share their code
// object and often their function, and each check is a guarded read. Valid within one read only
// (a code object checked a moment ago in the same stack is the same object).
typedef struct {
    const void* code;
    int first_traceable;
    const void* function;
} checked;

// A copy of the frame's header, if `f` is a frame of a code object.
static int read_frame(const _PyInterpreterFrame* f, _PyInterpreterFrame* copy, checked* seen) {
    const size_t header = offsetof(_PyInterpreterFrame, localsplus);
    if (((uintptr_t)f & (sizeof(void*) - 1)) != 0 || !ct_safe_copy(copy, f, header)) return 0;
    if (copy->f_code == seen->code) return 1;
    int first = 0;
    if (!looks_like_code(copy->f_code) || !READ(first, &copy->f_code->_co_firsttraceable)) return 0;
    seen->code = copy->f_code;
    seen->first_traceable = first;
    return 1;
}

// _PyFrame_IsIncomplete, with the code object's field read by read_frame.
static int frame_incomplete(const _PyInterpreterFrame* f, const checked* seen) {
    return f->owner != FRAME_OWNED_BY_GENERATOR && f->prev_instr < _PyCode_CODE(f->f_code) + seen->first_traceable;
}

static const void* function_of(const _PyInterpreterFrame* f, checked* seen) {
    if (f->f_func == NULL) return NULL;
    if (f->f_func != seen->function) {
        if (type_of(f->f_func) != &PyFunction_Type) return NULL;
        seen->function = f->f_func;
    }
    return f->f_func;
}

size_t ct_read_stack(const void* thread_state, ct_raw_frame* out, size_t max, int* truncated, int* unreadable) {
    *truncated = 0;
    *unreadable = 0;
    const PyThreadState* tstate = thread_state;
    const _PyCFrame* cframe = NULL;
    const _PyInterpreterFrame* at = NULL;
    if (tstate == NULL || !READ(cframe, &tstate->cframe) || !aligned(cframe) || !READ(at, &cframe->current_frame))
        return 0;
    size_t n = 0;
    // Bounded: a signal handler must never loop for long, whatever it reads (a stale link can
    // make a cycle). Incomplete frames are at most one per C-level entry into the eval loop.
    const size_t max_steps = 2 * max + 64;
    _PyInterpreterFrame f;
    checked seen = {NULL, 0, NULL};
    size_t steps = 0;
    for (; at != NULL && steps < max_steps; at = f.previous, ++steps) {
        if (!read_frame(at, &f, &seen)) {
            *unreadable = 1;
            break;
        }
        if (frame_incomplete(&f, &seen)) continue;
        if (n == max) {
            *truncated = 1;
            break;
        }
        out[n].code = f.f_code;
        out[n].function = function_of(&f, &seen);
        out[n].globals = f.f_globals;
        out[n].frame = at;
        out[n].lasti = (int32_t)(_PyInterpreterFrame_LASTI(&f) * (int)sizeof(_Py_CODEUNIT));
        ++n;
    }
    if (at != NULL && steps == max_steps) *unreadable = 1;
    return n;
}

int ct_is_calling(const void* code_object, int32_t lasti) {
    const PyCodeObject* code = code_object;
    Py_ssize_t units = 0;
    if (!looks_like_code(code) || !READ(units, &((const PyVarObject*)code)->ob_size)) return 0;
    if (lasti < 0 || lasti / (int32_t)sizeof(_Py_CODEUNIT) >= units) return 0;
    _Py_CODEUNIT word = 0;
    if (!READ(word, &_PyCode_CODE(code)[lasti / (int32_t)sizeof(_Py_CODEUNIT)])) return 0;
    int base = _PyOpcode_Deopt[_Py_OPCODE(word)];
    return base == PRECALL || base == CALL || base == CALL_FUNCTION_EX;
}

// Longest location table, and longest name, believed: a larger size read from a stale object
// would only make the copy long.
enum { kMaxLineTable = 1 << 24, kMaxText = 1 << 16 };

// An int field, read as the aligned word that holds it (one guarded read, not four).
static int read_int_field(const int* field, int* out) {
    uintptr_t at = (uintptr_t)field, word = 0;
    if (!ct_safe_word((const void*)(at & ~(uintptr_t)(sizeof word - 1)), &word)) return 0;
    memcpy(out, (const char*)&word + (at & (sizeof word - 1)), sizeof *out);
    return 1;
}

int ct_code_facts_of(const void* code_object, ct_code_facts* facts, int with_line_table) {
    const PyCodeObject* code = code_object;
    uintptr_t qualname = 0, filename = 0, linetable = 0;
    int first_line = 0;
    // Field by field: this runs for every frame of every sample, and the fields are far apart.
    if (!looks_like_code(code) || !ct_safe_word(&code->co_qualname, &qualname) ||
        !ct_safe_word(&code->co_filename, &filename) || !ct_safe_word(&code->co_linetable, &linetable) ||
        !read_int_field(&code->co_firstlineno, &first_line))
        return 0;
    facts->qualname_object = (const void*)qualname;
    facts->filename_object = (const void*)filename;
    facts->linetable_object = (const void*)linetable;
    facts->first_line = first_line;
    facts->line_table = NULL;
    facts->line_table_size = 0;
    if (!with_line_table) return 1;
    const PyObject* table = (const PyObject*)linetable;
    Py_ssize_t size = 0;
    if (type_of(table) == &PyBytes_Type && READ(size, &((const PyVarObject*)table)->ob_size) && size > 0 &&
        size <= kMaxLineTable) {
        facts->line_table = (const char*)table + offsetof(PyBytesObject, ob_sval);
        facts->line_table_size = (size_t)size;
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

static int is_str(const void* object) {
    const PyTypeObject* type = type_of(object);
    unsigned long flags = 0;
    return type == &PyUnicode_Type || (aligned(type) && READ(flags, &type->tp_flags) && (flags & Py_TPFLAGS_UNICODE_SUBCLASS) != 0);
}

ptrdiff_t ct_text_bytes(const void* text_object, char* out, size_t capacity) {
    PyASCIIObject head;
    if (!is_str(text_object) || !READ(head, text_object) || !head.state.compact || head.length < 0 || head.length > kMaxText)
        return -1;
    size_t length = (size_t)head.length;
    if (head.state.ascii) {
        const char* data = (const char*)text_object + sizeof(PyASCIIObject);
        size_t n = length < capacity ? length : capacity;
        return ct_safe_copy(out, data, n) ? (ptrdiff_t)length : -1;
    }
    unsigned kind = head.state.kind;
    if (kind != PyUnicode_1BYTE_KIND && kind != PyUnicode_2BYTE_KIND && kind != PyUnicode_4BYTE_KIND) return -1;
    const char* data = (const char*)text_object + sizeof(PyCompactUnicodeObject);
    size_t written = 0;
    char buf[4];
    // Read a bounded chunk at a time onto our stack, then encode.
    unsigned char chunk[256];
    const size_t per_chunk = sizeof chunk / kind;
    for (size_t i = 0; i < length; i += per_chunk) {
        size_t count = length - i < per_chunk ? length - i : per_chunk;
        if (!ct_safe_copy(chunk, data + i * kind, count * kind)) return -1;
        for (size_t j = 0; j < count; ++j) {
            size_t n = put_utf8(PyUnicode_READ(kind, chunk, j), buf);
            for (size_t k = 0; k < n; ++k, ++written)
                if (written < capacity) out[written] = buf[k];
        }
    }
    return (ptrdiff_t)written;
}

// globals["__name__"] by scanning the first entries of a str-keyed dict: no hashing, no
// comparison that could run Python code. Module dicts get "__name__" first, so this is short.
static const void* name_in_globals(const void* globals) {
    PyDictObject dict;
    if (type_of(globals) != &PyDict_Type || !READ(dict, globals) || dict.ma_values != NULL || dict.ma_keys == NULL) return NULL;
    PyDictKeysObject keys;
    if (!ct_safe_copy(&keys, dict.ma_keys, offsetof(PyDictKeysObject, dk_indices)) || keys.dk_kind != DICT_KEYS_UNICODE ||
        keys.dk_log2_index_bytes > 32)
        return NULL;
    PyDictUnicodeEntry entries[8];
    Py_ssize_t n = keys.dk_nentries < 8 ? keys.dk_nentries : 8;
    if (n <= 0) return NULL;
    const char* first = (const char*)dict.ma_keys + offsetof(PyDictKeysObject, dk_indices) + ((size_t)1 << keys.dk_log2_index_bytes);
    if (!ct_safe_copy(entries, first, (size_t)n * sizeof entries[0])) return NULL;
    for (Py_ssize_t i = 0; i < n; ++i) {
        struct {
            PyASCIIObject head;
            char data[8];
        } key;
        if (type_of(entries[i].me_key) != &PyUnicode_Type || !READ(key, entries[i].me_key) || !key.head.state.compact ||
            !key.head.state.ascii || key.head.length != 8 || memcmp(key.data, "__name__", 8) != 0)
            continue;
        return is_str(entries[i].me_value) ? entries[i].me_value : NULL;
    }
    return NULL;
}

const void* ct_frame_module(const ct_raw_frame* frame) {
    const PyFunctionObject* func = frame->function;
    PyObject* module = NULL;
    if (type_of(func) == &PyFunction_Type && READ(module, &func->func_module) && is_str(module)) return module;
    // Module-level code runs in a function object without __module__ (PyEval_EvalCode).
    return name_in_globals(frame->globals);
}

// While the thread-list lock is held no thread state is deleted, so its thread (and the C stack
// its cframe lives on) still exists; the frame itself may be mid-update. Read from the sampler's
// thread, which blocks every signal, so through the system call (a fault there would be fatal).
static void position_of(const PyThreadState* t, ct_position* pos) {
    pos->frame = pos->code = NULL;
    pos->lasti = -1;
    pos->at_gil_handover = 0;
    const _PyCFrame* cframe = NULL;
    const _PyInterpreterFrame* frame = NULL;
    if (!ct_syscall_copy(&cframe, &t->cframe, sizeof cframe) || !aligned(cframe) ||
        !ct_syscall_copy(&frame, &cframe->current_frame, sizeof frame))
        return;
    _PyInterpreterFrame copy;
    const size_t header = offsetof(_PyInterpreterFrame, localsplus);
    if (frame == NULL || !ct_syscall_copy(&copy, frame, header) || copy.f_code == NULL) return;
    pos->frame = frame;
    pos->code = copy.f_code;
    // Address arithmetic only: the code object is not read here, and may be anything.
    uintptr_t first_instruction = (uintptr_t)copy.f_code + offsetof(PyCodeObject, co_code_adaptive);
    intptr_t units = (intptr_t)((uintptr_t)copy.prev_instr - first_instruction) / (intptr_t)sizeof(_Py_CODEUNIT);
    // -1: not started yet; anything past any real code object's size is a frame mid-update.
    pos->lasti = units >= -1 && units < ((intptr_t)1 << 28) ? (int32_t)(units * (intptr_t)sizeof(_Py_CODEUNIT)) : -1;
    _Py_CODEUNIT word = 0;
    if (copy.prev_instr != NULL && ct_syscall_copy(&word, copy.prev_instr, sizeof word)) {
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

