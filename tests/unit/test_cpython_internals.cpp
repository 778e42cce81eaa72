// Every assumption the CPython boundary (src/cpython/) makes about the layout of the version this
// test is built for, checked against what the public API says about the same objects. If a
// CPython update moves a field, these fail loudly. Built and run once per supported version.
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "collect/shared/code_registry.h"
#include "cpython/frame_access.h"
#include "cpython/boundary.h"
#include "collect/shared/line_table.h"

namespace calltree {
namespace {

// One interpreter for the whole test binary.
class Interpreter : public ::testing::Environment {
public:
    void SetUp() override { Py_InitializeEx(0); }
    void TearDown() override { Py_FinalizeEx(); }
};
const auto* const g_env = ::testing::AddGlobalTestEnvironment(new Interpreter);

// What the C function below saw of the stack that called it.
std::vector<ct_raw_frame> g_seen;
int g_calling = -1;

PyObject* capture(PyObject*, PyObject*) {
    ct_raw_frame frames[64];
    int truncated = 0;
    int unreadable = 0;
    size_t n = ct_read_stack(ct_this_thread_state(), frames, 64, &truncated, &unreadable);
    g_seen.assign(frames, frames + n);
    g_calling = n > 0 ? ct_is_calling(frames[0].code, frames[0].lasti) : -1;
    Py_RETURN_NONE;
}
PyMethodDef g_capture_def = {"capture", capture, METH_NOARGS, nullptr};

PyObject* run(const char* code, PyObject* globals) {
    PyObject* result = PyRun_String(code, Py_file_input, globals, globals);
    if (result == nullptr) PyErr_Print();
    return result;
}

PyObject* new_globals(const char* name) {
    PyObject* globals = PyDict_New();
    PyDict_SetItemString(globals, "__name__", PyUnicode_FromString(name));
    PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins());
    PyObject* fn = PyCFunction_New(&g_capture_def, nullptr);
    PyDict_SetItemString(globals, "capture", fn);
    Py_DECREF(fn);
    return globals;
}

// K().method() records the frames Python sees and then calls capture(); `calls` reaches it.
void expect_stack_matches_python(const std::string& calls) {
    g_seen.clear();
    PyObject* globals = new_globals("probe_module");
    std::string code = R"(
import sys
class K:
    def method(self):
        frames = []
        f = sys._getframe()
        while f is not None:
            frames.append((f.f_code, f.f_lasti, f.f_lineno, f.f_globals.get("__name__")))
            f = f.f_back
        capture()
        return frames
)" + calls;
    ASSERT_NE(run(code.c_str(), globals), nullptr);
    PyObject* expected = PyDict_GetItemString(globals, "expected");
    ASSERT_TRUE(expected != nullptr && PyList_Check(expected));
    // The frames Python saw (taken one line before capture()) and the ones we read: same code
    // objects in the same order; our innermost frame is at the capture() call, a CALL.
    ASSERT_EQ(g_seen.size(), static_cast<size_t>(PyList_GET_SIZE(expected)));
    for (size_t i = 0; i < g_seen.size(); ++i) {
        PyObject* item = PyList_GET_ITEM(expected, i);
        EXPECT_EQ(g_seen[i].code, PyTuple_GET_ITEM(item, 0)) << "frame " << i;
        PyObject* module = PyTuple_GET_ITEM(item, 3);
        const void* ours = ct_frame_module(&g_seen[i]);
        ASSERT_NE(ours, nullptr) << "frame " << i;
        EXPECT_EQ(PyUnicode_Compare(static_cast<PyObject*>(const_cast<void*>(ours)), module), 0) << "frame " << i;
        if (i > 0) {  // callers have not moved since Python looked at them
            EXPECT_EQ(g_seen[i].lasti, PyLong_AsLong(PyTuple_GET_ITEM(item, 1))) << "frame " << i;
        }
        int line = PyCode_Addr2Line(static_cast<PyCodeObject*>(const_cast<void*>(g_seen[i].code)), g_seen[i].lasti);
        if (i > 0) {
            EXPECT_EQ(line, PyLong_AsLong(PyTuple_GET_ITEM(item, 2))) << "frame " << i;
        }
    }
    EXPECT_EQ(g_calling, 1);
    Py_DECREF(globals);
}

TEST(CPythonInternals, StackMatchesFramesSeenByPython) {
    expect_stack_matches_python("def outer():\n    return [x for x in [K().method()]][0]\nexpected = outer()\n");
}

// A generator's frame lives in the generator object, outside the data stack; the frames that
// called it are found through it.
TEST(CPythonInternals, StackThroughGeneratorsMatchesPython) {
    expect_stack_matches_python(
        "def gen():\n    yield K().method()\n"
        "def outer():\n    return next(gen())\n"
        "def through_genexpr():\n    return list(outer() for _ in range(1))[0]\n"
        "expected = through_genexpr()\n");
    EXPECT_GE(g_seen.size(), 5u);  // method, gen, outer, the genexpr, through_genexpr, <module>
}

// A C function calling back into Python (sorted's key) puts a shim frame between them on 3.12+:
// the walk goes past it.
TEST(CPythonInternals, StackThroughCCallsMatchesPython) {
    expect_stack_matches_python(
        "def outer():\n    got = []\n    sorted([1], key=lambda x: got.append(K().method()))\n    return got[0]\n"
        "def through_map():\n    return list(map(lambda _: outer(), [0]))[0]\n"
        "expected = through_map()\n");
    EXPECT_GE(g_seen.size(), 6u);  // method, lambda, outer, lambda, through_map, <module>
}

// Every opcode of a code object that exercises each call kind, keyword calls among them.
TEST(CPythonInternals, CallOpcodesAreCalls) {
    PyObject* globals = new_globals("m");
    ASSERT_NE(run("def g(*a, **k):\n    return a\n"
                  "def f(x):\n    g(x)\n    g(x, k=1)\n    g(*x)\n    g(**{})\n    x.append(1)\n    len(x)\n"
                  "    for i in range(2): f2 = i + 1\n    return x\n"
                  "for _ in range(40): f([1])\n",  // specialised by now
                  globals),
              nullptr);
    PyObject* fn = PyDict_GetItemString(globals, "f");
    PyCodeObject* co = reinterpret_cast<PyCodeObject*>(PyFunction_GetCode(fn));
    PyObject* dis = PyImport_ImportModule("dis");
    ASSERT_NE(dis, nullptr);
    PyObject* list = PySequence_List(PyObject_CallMethod(dis, "get_instructions", "O", co));
    ASSERT_NE(list, nullptr);
    int calls = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); ++i) {
        PyObject* ins = PyList_GET_ITEM(list, i);
        std::string name = PyUnicode_AsUTF8(PyObject_GetAttrString(ins, "opname"));
        long offset = PyLong_AsLong(PyObject_GetAttrString(ins, "offset"));
        bool call = name == "CALL" || name == "PRECALL" || name == "CALL_FUNCTION_EX" || name == "CALL_KW";
        calls += call;
        EXPECT_EQ(ct_is_calling(co, static_cast<int32_t>(offset)) != 0, call) << name << " at " << offset;
    }
    EXPECT_GE(calls, 7);
    Py_DECREF(list);
    Py_DECREF(dis);
    Py_DECREF(globals);
}

// The tracer's frame reads (cpython/frame_access.h) agree with the public getters on every frame
// of a stack.
TEST(CPythonInternals, TracerFrameReadsMatchThePublicApi) {
    PyObject* globals = new_globals("m");
    ASSERT_NE(run("import sys\ndef a():\n    return sys._getframe()\ndef b():\n    return [a() for _ in (1,)][0]\nfr = b()\n"
                  "def gen():\n    yield sys._getframe()\ng = gen()\ngf = next(g)\n",
                  globals),
              nullptr);
    for (const char* name : {"fr", "gf"}) {
        PyFrameObject* frame = reinterpret_cast<PyFrameObject*>(PyDict_GetItemString(globals, name));
        ASSERT_TRUE(frame != nullptr && PyFrame_Check(frame));
        int depth = 0;
        for (PyFrameObject* f = frame; f != nullptr && depth < 8; ++depth) {
            PyCodeObject* code = PyFrame_GetCode(f);
            EXPECT_EQ(frame_code(f), code) << name << " depth " << depth;
            EXPECT_EQ(frame_lasti(f), PyFrame_GetLasti(f)) << name << " depth " << depth;
            Py_DECREF(code);
            PyFrameObject* back = PyFrame_GetBack(f);
            if (f != frame) Py_DECREF(f);
            f = back;
        }
        EXPECT_GE(depth, 1);
    }
    Py_DECREF(globals);
}

// The thread list: every Python thread once, with its native id; the walk's thread states are
// the threads' own.
TEST(CPythonInternals, ThreadWalkSeesEveryThread) {
    PyObject* globals = new_globals("m");
    ASSERT_NE(run("import threading\nready = threading.Event()\nstop = threading.Event()\nids = []\n"
                  "def work():\n    ids.append(threading.get_native_id())\n    ready.set()\n    stop.wait()\n"
                  "t = threading.Thread(target=work)\nt.start()\nready.wait()\nids.append(threading.get_native_id())\n",
                  globals),
              nullptr);
    struct Seen {
        std::vector<const void*> states;
        std::vector<unsigned long> ids;
    } seen;
    Py_BEGIN_ALLOW_THREADS
    ct_for_each_thread(
        [](void* context, const void* tstate, unsigned long id) {
            auto* s = static_cast<Seen*>(context);
            s->states.push_back(tstate);
            s->ids.push_back(id);
        },
        &seen);
    Py_END_ALLOW_THREADS
    PyObject* ids = PyDict_GetItemString(globals, "ids");
    ASSERT_EQ(PyList_GET_SIZE(ids), 2);
    EXPECT_EQ(seen.ids.size(), 2u);
    for (Py_ssize_t i = 0; i < 2; ++i) {
        unsigned long id = PyLong_AsUnsignedLong(PyList_GET_ITEM(ids, i));
        EXPECT_NE(std::find(seen.ids.begin(), seen.ids.end(), id), seen.ids.end()) << id;
    }
    EXPECT_NE(std::find(seen.states.begin(), seen.states.end(), ct_this_thread_state()), seen.states.end());
    EXPECT_EQ(ct_current_thread_state(), static_cast<const void*>(PyThreadState_Get()));
    // Where the other thread is: inside Event.wait (a call), its frame's code a code object.
    ct_position where;
    Py_BEGIN_ALLOW_THREADS
    struct Ctx {
        const void* mine;
        ct_position* out;
    } ctx{ct_this_thread_state(), &where};
    ct_for_each_thread(
        [](void* context, const void* tstate, unsigned long) {
            auto* c = static_cast<Ctx*>(context);
            if (tstate != c->mine) ct_position_of(tstate, c->out);
        },
        &ctx);
    Py_END_ALLOW_THREADS
    EXPECT_TRUE(where.code != nullptr && PyCode_Check(static_cast<PyObject*>(const_cast<void*>(where.code))));
    EXPECT_EQ(ct_is_calling(where.code, where.lasti), 1);
    EXPECT_EQ(where.at_gil_handover, 0);
    ASSERT_NE(run("stop.set()\nt.join()\n", globals), nullptr);
    Py_DECREF(globals);
}

// The GIL's state: the range holds the holder's record, and this thread holds it.
TEST(CPythonInternals, GilStateIsTheInterpreters) {
    uintptr_t start = 0, end = 0;
    ct_gil_state_range(&start, &end);
    EXPECT_GT(end, start);
    EXPECT_TRUE(ct_holds_gil(PyThreadState_Get()));
    EXPECT_EQ(ct_python_version_hex() >> 16, static_cast<unsigned>(PY_VERSION_HEX >> 16));
}

// 3.13+: the offsets we were built with are the running interpreter's own.
TEST(CPythonInternals, LayoutAgreesWithDebugOffsets) {
    const char* mismatch = ct_layout_mismatch();
    EXPECT_EQ(mismatch, nullptr) << mismatch;
}

// calltree's profile hook goes on and off a thread without the "sys.setprofile" audit event
// the program's audit hooks (C and Python ones) would see: on 3.12+ _PyEval_SetProfile always
// raises it. PyEval_SetProfile itself is seen by both, which is what lets this test fail.
int g_c_audits = 0;
int count_setprofile_audit(const char* event, PyObject*, void*) {
    if (std::string(event) == "sys.setprofile") ++g_c_audits;
    return 0;
}
int empty_profile(PyObject*, PyFrameObject*, int, PyObject*) { return 0; }

TEST(CPythonInternals, ProfileHookChangesRaiseNoAuditEvent) {
    ASSERT_EQ(PySys_AddAuditHook(count_setprofile_audit, nullptr), 0);  // stays: hooks cannot go
    PyObject* globals = new_globals("audit_probe");
    ASSERT_NE(run("import sys\nseen = []\n"
                  "sys.addaudithook(lambda e, a: seen.append(e) if e == 'sys.setprofile' else None)\n",
                  globals), nullptr);
    PyObject* seen = PyDict_GetItemString(globals, "seen");
    PyThreadState* me = PyThreadState_Get();
    PyObject* hook_object = PyDict_New();
    g_c_audits = 0;
    EXPECT_EQ(ct_set_profile_quietly(reinterpret_cast<void*>(empty_profile), hook_object), 0);
    EXPECT_EQ(me->c_profilefunc, empty_profile);
    EXPECT_EQ(me->c_profileobj, hook_object);
    EXPECT_EQ(ct_remove_profile_hook_of(me, reinterpret_cast<void*>(empty_profile)), 1);
    EXPECT_EQ(me->c_profilefunc, nullptr);
    EXPECT_EQ(ct_set_profile_quietly_on(me, reinterpret_cast<void*>(empty_profile), hook_object), 0);
    EXPECT_EQ(me->c_profilefunc, empty_profile);
    EXPECT_EQ(me->c_profileobj, hook_object);
    EXPECT_EQ(ct_set_profile_quietly_on(me, nullptr, nullptr), 0);
    EXPECT_EQ(me->c_profilefunc, nullptr);
    EXPECT_EQ(g_c_audits, 0);
    EXPECT_EQ(PyList_Size(seen), 0);
    PyEval_SetProfile(empty_profile, hook_object);
    PyEval_SetProfile(nullptr, nullptr);
    EXPECT_EQ(g_c_audits, 2);
    EXPECT_EQ(PyList_Size(seen), 2);
    EXPECT_EQ(Py_REFCNT(hook_object), 1);
    Py_DECREF(hook_object);
    Py_DECREF(globals);
}

TEST(CPythonInternals, NotCallingWhileRunningBytecode) {
    // A + on two ints executes inside the eval loop: the instruction is a BINARY_OP.
    PyObject* globals = new_globals("m");
    ASSERT_NE(run("import sys\ndef f():\n    return sys._getframe()\nfr = f()\n", globals), nullptr);
    PyObject* code = PyDict_GetItemString(globals, "f");
    PyCodeObject* co = reinterpret_cast<PyCodeObject*>(PyFunction_GetCode(code));
    // Every offset: is_calling agrees with the disassembler's opname.
    PyObject* dis = PyImport_ImportModule("dis");
    ASSERT_NE(dis, nullptr);
    PyObject* instructions = PyObject_CallMethod(dis, "get_instructions", "O", co);
    PyObject* list = PySequence_List(instructions);
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); ++i) {
        PyObject* ins = PyList_GET_ITEM(list, i);
        PyObject* opname = PyObject_GetAttrString(ins, "opname");
        PyObject* offset = PyObject_GetAttrString(ins, "offset");
        std::string name = PyUnicode_AsUTF8(opname);
        bool call = name == "CALL" || name == "PRECALL" || name == "CALL_FUNCTION_EX" || name == "CALL_KW";
        EXPECT_EQ(ct_is_calling(co, static_cast<int32_t>(PyLong_AsLong(offset))) != 0, call) << name;
        Py_DECREF(opname);
        Py_DECREF(offset);
    }
    Py_DECREF(list);
    Py_DECREF(instructions);
    Py_DECREF(dis);
    Py_DECREF(globals);
}

TEST(CPythonInternals, TextBytesAreFsencodedUtf8) {
    PyObject* globals = new_globals("m");
    ASSERT_NE(run("samples = ['plain', 'h\\u00e9llo \\u2713 \\U0001f600', b'caf\\xff.py'.decode('utf-8', 'surrogateescape')]\n"
                  "expected = [s.encode('utf-8', 'surrogateescape') for s in samples]\n",
                  globals),
              nullptr);
    PyObject* samples = PyDict_GetItemString(globals, "samples");
    PyObject* expected = PyDict_GetItemString(globals, "expected");
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(samples); ++i) {
        char buf[256];
        ptrdiff_t n = ct_text_bytes(PyList_GET_ITEM(samples, i), buf, sizeof buf);
        PyObject* want = PyList_GET_ITEM(expected, i);
        ASSERT_EQ(n, PyBytes_GET_SIZE(want));
        EXPECT_EQ(std::string(buf, static_cast<size_t>(n)), std::string(PyBytes_AS_STRING(want), static_cast<size_t>(n)));
    }
    EXPECT_EQ(ct_text_bytes(Py_None, nullptr, 0), -1);
    Py_DECREF(globals);
}

// Collects every code object reachable from a module's code.
void collect_codes(PyObject* code, std::vector<PyCodeObject*>& out) {
    out.push_back(reinterpret_cast<PyCodeObject*>(code));
    PyObject* consts = reinterpret_cast<PyCodeObject*>(code)->co_consts;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(consts); ++i)
        if (PyCode_Check(PyTuple_GET_ITEM(consts, i))) collect_codes(PyTuple_GET_ITEM(consts, i), out);
}

TEST(LineTable, AgreesWithPyCodeAddr2LineOnTheStandardLibrary) {
    PyObject* globals = new_globals("m");
    ASSERT_NE(run(R"(
import importlib.util, json.decoder, argparse, asyncio.base_events, email.message, typing, dataclasses
sources = [m.__file__ for m in (json.decoder, argparse, asyncio.base_events, email.message, typing, dataclasses)]
codes = [compile(open(p).read(), p, "exec") for p in sources]
)", globals), nullptr);
    PyObject* codes = PyDict_GetItemString(globals, "codes");
    std::vector<PyCodeObject*> all;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(codes); ++i) collect_codes(PyList_GET_ITEM(codes, i), all);
    ASSERT_GT(all.size(), 500u);
    size_t checked = 0;
    for (PyCodeObject* co : all) {
        std::string_view table(PyBytes_AS_STRING(co->co_linetable), static_cast<size_t>(PyBytes_GET_SIZE(co->co_linetable)));
        for (int offset = 0; offset < Py_SIZE(co) * 2; offset += 2) {
            int want = PyCode_Addr2Line(co, offset);
            ASSERT_EQ(line_for_offset(table, co->co_firstlineno, offset), static_cast<uint32_t>(want < 0 ? 0 : want))
                << PyUnicode_AsUTF8(co->co_qualname) << " offset " << offset;
            ++checked;
        }
    }
    EXPECT_GT(checked, 50000u);
    // The body column from the copied table equals what the live code object says.
    for (PyCodeObject* co : all) {
        int32_t want = -1;
        for (int offset = 0; offset < Py_SIZE(co) * 2; offset += 2) {
            int line, column, end_line, end_column;
            if (PyCode_Addr2Location(co, offset, &line, &column, &end_line, &end_column) == 0) break;
            if (column >= 0 && (end_line > line || (end_line == line && end_column > column))) {
                want = column;
                break;
            }
        }
        std::string_view table(PyBytes_AS_STRING(co->co_linetable), static_cast<size_t>(PyBytes_GET_SIZE(co->co_linetable)));
        ASSERT_EQ(body_column_of(table), want) << PyUnicode_AsUTF8(co->co_qualname);
    }
    Py_DECREF(globals);
}

TEST(CodeRegistry, InternsOncePerCodeObjectAndCopiesNames) {
    PyObject* globals = new_globals("probe_module");
    ASSERT_NE(run("class C:\n    def m(self):\n        capture()\nC().m()\n", globals), nullptr);
    CodeRegistry registry(256, 1 << 16);
    ASSERT_GE(g_seen.size(), 2u);
    uint32_t id = registry.intern(g_seen[0]);
    ASSERT_NE(id, CodeRegistry::kNone);
    EXPECT_EQ(registry.intern(g_seen[0]), id);
    uint32_t other = registry.intern(g_seen[1]);
    EXPECT_NE(other, id);
    CodeRegistry::Entry e = registry.entry(id);
    EXPECT_EQ(e.name, "C.m");
    EXPECT_EQ(e.file, "<string>");
    EXPECT_EQ(e.module, "probe_module");
    EXPECT_EQ(e.first_line, 2);
    EXPECT_EQ(line_for_offset(e.line_table, e.first_line, g_seen[0].lasti), 3u);
    EXPECT_EQ(registry.entry(other).name, "<module>");
    EXPECT_EQ(registry.entry(other).module, "probe_module");  // module code: from the globals
    Py_DECREF(globals);
}

TEST(CodeRegistry, FullTableAndArenaAreReportedNotOverrun) {
    PyObject* globals = new_globals("m");
    ASSERT_NE(run("def a():\n    capture()\ndef b():\n    a()\nb()\n", globals), nullptr);
    CodeRegistry tiny(1, 4);  // 64 slots (32 ids), 4 bytes of text
    uint32_t id = tiny.intern(g_seen[0]);
    ASSERT_NE(id, CodeRegistry::kNone);
    EXPECT_GT(tiny.overflows(), 0u);  // the names did not fit: entry kept, text dropped
    EXPECT_EQ(tiny.entry(id).name, "");
    Py_DECREF(globals);
}

}  // namespace
}  // namespace calltree
