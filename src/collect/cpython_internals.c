#define PY_SSIZE_T_CLEAN
#include <Python.h>

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
// A shared libpython (the sanitizer build) does not export _PyOpcode_Deopt: take our own copy
// of the tables there. The static libpython defines them, so a copy would clash.
#ifdef CALLTREE_SHARED_LIBPYTHON
#define NEED_OPCODE_TABLES
#endif
#include <internal/pycore_opcode.h>
#include <internal/pycore_runtime.h>
#undef Py_BUILD_CORE

const void* ct_this_thread_state(void) { return PyGILState_GetThisThreadState(); }

static int looks_like_code(const PyCodeObject* code) { return code != NULL && Py_TYPE(code) == &PyCode_Type; }

size_t ct_read_stack(const void* thread_state, ct_raw_frame* out, size_t max, int* truncated) {
    *truncated = 0;
    const PyThreadState* tstate = thread_state;
    if (tstate == NULL || tstate->cframe == NULL) return 0;
    size_t n = 0;
    // Bounded: a signal handler must never loop forever, whatever it reads.
    size_t steps = 0;
    for (_PyInterpreterFrame* f = tstate->cframe->current_frame; f != NULL && steps < 100000; f = f->previous, ++steps) {
        PyCodeObject* code = f->f_code;
        if (!looks_like_code(code)) break;
        if (_PyFrame_IsIncomplete(f)) continue;
        if (n == max) {
            *truncated = 1;
            break;
        }
        PyObject* func = (PyObject*)f->f_func;
        out[n].code = code;
        out[n].function = func != NULL && Py_TYPE(func) == &PyFunction_Type ? func : NULL;
        out[n].globals = f->f_globals;
        out[n].lasti = (int32_t)(_PyInterpreterFrame_LASTI(f) * (int)sizeof(_Py_CODEUNIT));
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

void ct_for_each_thread(void (*visit)(void*, const void*, unsigned long), void* context) {
    PyThread_acquire_lock(_PyRuntime.interpreters.mutex, WAIT_LOCK);
    PyInterpreterState* interp = _PyRuntime.interpreters.main;
    for (PyThreadState* t = interp != NULL ? interp->threads.head : NULL; t != NULL; t = t->next)
        visit(context, t, t->native_thread_id);
    PyThread_release_lock(_PyRuntime.interpreters.mutex);
}

static void lock_thread_list(void) { PyThread_acquire_lock(_PyRuntime.interpreters.mutex, WAIT_LOCK); }
static void unlock_thread_list(void) { PyThread_release_lock(_PyRuntime.interpreters.mutex); }

void ct_guard_fork(void) {
    static int installed = 0;
    if (installed) return;
    installed = 1;
    // Python threads only take this lock for short list updates and never wait for the GIL
    // while holding it, so the forking thread (which holds the GIL) always gets it.
    pthread_atfork(lock_thread_list, unlock_thread_list, unlock_thread_list);
}
