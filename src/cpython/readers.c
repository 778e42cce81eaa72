// The signal-safe readers of boundary.h: stacks, code objects, str objects, a frame's module, a
// thread's position. Version-independent: every internal field is found through the layout
// table (layout.h); only public object layouts (PyObject, PyVarObject, str, bytes) are used by
// name.
//
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
#define _GNU_SOURCE 1
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "cpython/boundary.h"
#include "cpython/layout.h"
#include "process/safe_copy.h"

#define L ct_layout_of_python
#define READ(dst, src) ct_safe_copy(&(dst), (src), sizeof(dst))

// Largest frame header of any supported version: copied in one read.
enum { kMaxFrameHeader = 128 };

const void* ct_this_thread_state(void) { return PyGILState_GetThisThreadState(); }

unsigned ct_python_version_hex(void) { return L.version_hex; }

int ct_profile_change_is_guarded(void) { return L.version_hex < 0x030C0000; }

int ct_profile_events_are_per_interpreter(void) { return L.version_hex >= 0x030C0000; }

// Exported by every supported version; declared by an internal header from 3.13.
PyAPI_FUNC(const char*) _PyMem_GetCurrentAllocatorName(void);
const char* ct_python_allocator_name(void) { return _PyMem_GetCurrentAllocatorName(); }

// A code object's size is its number of code units (_PyCode_NBYTES is Py_SIZE * 2, 3.11-3.14).
int ct_code_units(const void* code) { return (int)Py_SIZE((PyObject*)code); }

// Whether a pointer read from memory may be used to form a member's address (a misaligned one,
// even unread, is undefined behaviour, and the sanitizers say so).
static int aligned(const void* p) { return p != NULL && ((uintptr_t)p & (sizeof(void*) - 1)) == 0; }

static const void* at(const void* base, size_t offset) { return (const char*)base + offset; }

// A pointer-sized field of a copied header.
static const void* pointer_in(const char* copy, size_t offset, uintptr_t tag) {
    uintptr_t word;
    memcpy(&word, copy + offset, sizeof word);
    return (const void*)(word & ~tag);
}

static const PyTypeObject* type_of(const void* object) {
    uintptr_t type = 0;
    if (!aligned(object) || !ct_safe_word(&((const PyObject*)object)->ob_type, &type)) return NULL;
    return (const PyTypeObject*)type;
}

static int looks_like_code(const void* code) { return type_of(code) == &PyCode_Type; }

// An int field, read as the aligned word that holds it (one guarded read, not four).
static int read_int_field(const void* field, int* out) {
    uintptr_t a = (uintptr_t)field, word = 0;
    if (!ct_safe_word((const void*)(a & ~(uintptr_t)(sizeof word - 1)), &word)) return 0;
    memcpy(out, (const char*)&word + (a & (sizeof word - 1)), sizeof *out);
    return 1;
}

// What one stack read has already checked: the frames of a recursion share their code objects
// and often their functions, and each check is a guarded read (a system call, read from
// outside). Valid within one read only (a code object checked a moment ago in the same stack is
// the same object). A few of each, so that mutual recursion (a calls b calls a) is covered too.
enum { kChecked = 4 };
typedef struct {
    const void* code[kChecked];
    int first_traceable[kChecked];
    const void* function[kChecked];
    unsigned next_code, next_function;
} checked;

// One frame's header, copied, and what it says.
typedef struct {
    char header[kMaxFrameHeader];
    const void* code;
    const void* previous;
    int owner;
} frame_copy;

static int copy_frame(const void* f, frame_copy* copy) {
    if (!aligned(f) || !ct_safe_copy(copy->header, f, L.frame_header_size)) return 0;
    copy->code = pointer_in(copy->header, L.frame_code, L.frame_code_tag);
    copy->previous = pointer_in(copy->header, L.frame_previous, 0);
    copy->owner = (unsigned char)copy->header[L.frame_owner];
    return 1;
}

// The code object of a copied Python frame is one; its first traceable instruction in *first.
static int check_code(const frame_copy* f, checked* seen, int* first) {
    for (int i = 0; i < kChecked; ++i) {
        if (seen->code[i] == f->code && f->code != NULL) {
            *first = seen->first_traceable[i];
            return 1;
        }
    }
    if (!looks_like_code(f->code) || !read_int_field(at(f->code, L.code_first_traceable), first)) return 0;
    unsigned slot = seen->next_code++ % kChecked;
    seen->code[slot] = f->code;
    seen->first_traceable[slot] = *first;
    return 1;
}

static const char* instruction_of(const frame_copy* f) { return pointer_in(f->header, L.frame_instruction, 0); }
static const char* bytecode_of(const void* code) { return (const char*)code + L.code_bytecode; }

// _PyFrame_IsIncomplete, with the code object's field read by check_code.
static int frame_incomplete(const frame_copy* f, int first_traceable) {
    return f->owner != L.owner_generator &&
           instruction_of(f) < bytecode_of(f->code) + first_traceable * (int)sizeof(uint16_t);
}

static const void* function_of(const frame_copy* f, checked* seen) {
    const void* fn = pointer_in(f->header, L.frame_function, L.frame_function_tag);
    if (fn == NULL) return NULL;
    for (int i = 0; i < kChecked; ++i)
        if (seen->function[i] == fn) return fn;
    if (type_of(fn) != &PyFunction_Type) return NULL;
    seen->function[seen->next_function++ % kChecked] = fn;
    return fn;
}

// The thread's innermost frame pointer.
static int current_frame(const void* tstate, const void** frame, int (*copy)(void*, const void*, size_t)) {
    const void* holder = tstate;
    if (L.tstate_cframe != CT_NO_FIELD) {
        const void* cframe = NULL;
        if (!copy(&cframe, at(tstate, L.tstate_cframe), sizeof cframe) || !aligned(cframe)) return 0;
        holder = cframe;
    }
    return copy(frame, at(holder, L.cframe_current_frame), sizeof *frame);
}

static int safe_copy(void* dst, const void* src, size_t n) { return ct_safe_copy(dst, src, n); }
static int syscall_copy(void* dst, const void* src, size_t n) { return ct_syscall_copy(dst, src, n); }

size_t ct_read_stack(const void* thread_state, ct_raw_frame* out, size_t max, int* truncated, int* unreadable) {
    *truncated = 0;
    *unreadable = 0;
    const void* f = NULL;
    if (thread_state == NULL || !aligned(thread_state) || !current_frame(thread_state, &f, safe_copy)) return 0;
    size_t n = 0;
    // Bounded: a signal handler must never loop for long, whatever it reads (a stale link can
    // make a cycle). Incomplete frames are at most one per C-level entry into the eval loop
    // (plus one shim frame per entry on 3.12+).
    const size_t max_steps = 3 * max + 64;
    frame_copy copy;
    checked seen = {{NULL}, {0}, {NULL}, 0, 0};
    size_t steps = 0;
    for (; f != NULL && steps < max_steps; f = copy.previous, ++steps) {
        if (!copy_frame(f, &copy)) {
            *unreadable = 1;
            break;
        }
        if (copy.owner >= L.owner_not_python) continue;  // a shim frame: no code, only a link
        int first_traceable = 0;
        if (!check_code(&copy, &seen, &first_traceable)) {
            *unreadable = 1;
            break;
        }
        if (frame_incomplete(&copy, first_traceable)) continue;
        if (n == max) {
            *truncated = 1;
            break;
        }
        out[n].code = copy.code;
        out[n].function = function_of(&copy, &seen);
        out[n].globals = pointer_in(copy.header, L.frame_globals, 0);
        out[n].frame = f;
        out[n].lasti = (int32_t)(instruction_of(&copy) - bytecode_of(copy.code));
        ++n;
    }
    if (f != NULL && steps == max_steps) *unreadable = 1;
    return n;
}

int ct_is_calling(const void* code, int32_t lasti) {
    Py_ssize_t units = 0;
    if (!looks_like_code(code) || !READ(units, &((const PyVarObject*)code)->ob_size)) return 0;
    if (lasti < 0 || lasti / 2 >= units) return 0;
    uint16_t word = 0;
    if (!READ(word, bytecode_of(code) + (lasti & ~1))) return 0;
    return (L.opcode_class[word & 0xFF] & CT_OP_CALL) != 0;  // the opcode is the unit's low byte
}

// Longest location table, and longest name, believed: a larger size read from a stale object
// would only make the copy long.
enum { kMaxLineTable = 1 << 24, kMaxText = 1 << 16 };

int ct_code_facts_of(const void* code, ct_code_facts* facts, int with_line_table) {
    uintptr_t qualname = 0, filename = 0, linetable = 0;
    int first_line = 0;
    // Field by field: this runs for every frame of every sample, and the fields are far apart.
    if (!looks_like_code(code) || !ct_safe_word(at(code, L.code_qualname), &qualname) ||
        !ct_safe_word(at(code, L.code_filename), &filename) || !ct_safe_word(at(code, L.code_linetable), &linetable) ||
        !read_int_field(at(code, L.code_firstlineno), &first_line))
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
    return type == &PyUnicode_Type ||
           (aligned(type) && READ(flags, &type->tp_flags) && (flags & Py_TPFLAGS_UNICODE_SUBCLASS) != 0);
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
    const void* keys = NULL;
    const void* values = NULL;
    if (type_of(globals) != &PyDict_Type || !READ(values, at(globals, L.dict_values)) || values != NULL ||
        !READ(keys, at(globals, L.dict_keys)) || !aligned(keys))
        return NULL;
    uint8_t kind = 0, log2_index_bytes = 0;
    Py_ssize_t nentries = 0;
    if (!READ(kind, at(keys, L.keys_kind)) || kind != L.keys_kind_unicode ||
        !READ(log2_index_bytes, at(keys, L.keys_log2_index_bytes)) || log2_index_bytes > 32 ||
        !READ(nentries, at(keys, L.keys_nentries)))
        return NULL;
    const void* entries[16];  // up to 8 (key, value) pairs
    Py_ssize_t n = nentries < 8 ? nentries : 8;
    if (n <= 0 || L.unicode_entry_size != 2 * sizeof(void*)) return NULL;
    const char* first = (const char*)keys + L.keys_indices + ((size_t)1 << log2_index_bytes);
    if (!ct_safe_copy(entries, first, (size_t)n * L.unicode_entry_size)) return NULL;
    for (Py_ssize_t i = 0; i < n; ++i) {
        const void* name = entries[2 * i];
        const void* value = entries[2 * i + 1];
        struct {
            PyASCIIObject head;
            char data[8];
        } key;
        if (type_of(name) != &PyUnicode_Type || !READ(key, name) || !key.head.state.compact || !key.head.state.ascii ||
            key.head.length != 8 || memcmp(key.data, "__name__", 8) != 0)
            continue;
        return is_str(value) ? value : NULL;
    }
    return NULL;
}

const void* ct_frame_module(const ct_raw_frame* frame) {
    const void* module = NULL;
    if (type_of(frame->function) == &PyFunction_Type && READ(module, at(frame->function, L.function_module)) &&
        is_str(module))
        return module;
    // Module-level code runs in a function object without __module__ (PyEval_EvalCode).
    return name_in_globals(frame->globals);
}

// While the thread-list lock is held no thread state is deleted, so its thread (and the C stack
// its cframe lives on) still exists; the frame itself may be mid-update. Read from the sampler's
// thread, which blocks every signal, so through the system call (a fault there would be fatal).
void ct_position_of(const void* thread_state, ct_position* pos) {
    pos->frame = pos->code = NULL;
    pos->lasti = -1;
    pos->at_gil_handover = 0;
    const void* frame = NULL;
    if (!aligned(thread_state) || !current_frame(thread_state, &frame, syscall_copy) || !aligned(frame)) return;
    frame_copy copy;
    if (!ct_syscall_copy(copy.header, frame, L.frame_header_size)) return;
    copy.code = pointer_in(copy.header, L.frame_code, L.frame_code_tag);
    copy.owner = (unsigned char)copy.header[L.frame_owner];
    // A shim frame on top: the thread is in C code called from C, below any Python frame.
    if (copy.code == NULL || copy.owner >= L.owner_not_python) return;
    pos->frame = frame;
    pos->code = copy.code;
    // Address arithmetic only: the code object is not read here, and may be anything.
    const char* instruction = instruction_of(&copy);
    intptr_t units = (intptr_t)((uintptr_t)instruction - (uintptr_t)bytecode_of(copy.code)) / 2;
    // -1: not started yet; anything past any real code object's size is a frame mid-update.
    pos->lasti = units >= -1 && units < ((intptr_t)1 << 28) ? (int32_t)(units * 2) : -1;
    uint16_t word = 0;
    if (instruction != NULL && ct_syscall_copy(&word, instruction, sizeof word))
        pos->at_gil_handover = (L.opcode_class[word & 0xFF] & CT_OP_GIL_HANDOVER) != 0;
}

const char* ct_layout_mismatch(void) { return ct_layout_check_debug_offsets(); }

int ct_set_profile_quietly_on(void* tstate, void* func, void* obj) {
    return ct_layout_set_profile_quietly(tstate, func, obj);
}

int ct_remove_profile_hook_of(void* tstate, void* func) {
    // c_profilefunc is a public member of PyThreadState (cpython/pystate.h) in 3.11 to 3.14.
    if (((PyThreadState*)tstate)->c_profilefunc != (Py_tracefunc)func) return 0;
    if (ct_layout_set_profile_quietly(tstate, NULL, NULL) != 0) PyErr_Clear();
    return 1;
}
