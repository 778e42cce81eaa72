// Names of live Python objects: qualified names, absolute files and modules for Python code;
// for C functions exactly the names cProfile gives the same callables in the same interpreter.
#include <gtest/gtest.h>

#include "collect/shared/naming.h"
#include "embedded_python.h"

using namespace calltree;
using namespace calltree::testing;

namespace {

// A frame of each kind of function, taken inside it with sys._getframe().
const char* kFrames = R"(
import sys, json.encoder
class Point:
    def norm(self):
        return sys._getframe()
def outer():
    def inner():
        return sys._getframe()
    return inner()
# A function whose globals are json.encoder's, as if defined in that module.
encoder_globals = dict(vars(json.encoder))
exec("import sys\ndef grab():\n    return sys._getframe()\n", encoder_globals)
frames = [Point().norm(), outer(), encoder_globals["grab"]()]
)";

struct Named {
    FunctionNaming naming;
    std::string qualname;  // what Python says: frame.f_code.co_qualname
};

std::vector<Named> name_frames(const char* filename, const std::string& cwd) {
    run_main(kFrames, filename);
    std::vector<Named> out;
    PyObject* frames = main_attr("frames");
    for (Py_ssize_t i = 0; frames != nullptr && i < PyList_Size(frames); ++i) {
        auto* frame = reinterpret_cast<PyFrameObject*>(PyList_GetItem(frames, i));
        PyCodeObject* code = PyFrame_GetCode(frame);
        out.push_back({name_python_function(code, frame, cwd), str(code->co_qualname)});
        Py_DECREF(code);
    }
    Py_XDECREF(frames);
    return out;
}

}  // namespace

TEST(Naming, PythonFunctionsGetQualifiedNameModuleAndAbsoluteFile) {
    std::vector<Named> named = name_frames("sub/point.py", "/start/dir");
    ASSERT_EQ(named.size(), 3u);
    for (const Named& n : named) EXPECT_EQ(n.naming.name, n.qualname);
    EXPECT_EQ(named[0].naming.name, "Point.norm");
    EXPECT_EQ(named[1].naming.name, "outer.<locals>.inner");
    EXPECT_EQ(named[0].naming.object, "__main__");
    EXPECT_EQ(named[1].naming.object, "__main__");
    EXPECT_EQ(named[2].naming.object, "json.encoder");  // the module its globals belong to
    // A relative co_filename is resolved against the directory the program started in.
    EXPECT_EQ(named[0].naming.file, "/start/dir/sub/point.py");
    EXPECT_EQ(named[0].naming.line, 4u);
    EXPECT_EQ(named[1].naming.line, 7u);
    EXPECT_EQ(named[2].naming.file, "<string>");  // pseudo-files stay as they are
    EXPECT_EQ(named[2].naming.name, "grab");
}

TEST(Naming, AbsoluteFilesStayAndAFunctionWithoutFrameIsFiledUnderItsFileStem) {
    std::vector<Named> named = name_frames("/abs/point.py", "/elsewhere");
    ASSERT_EQ(named.size(), 3u);
    EXPECT_EQ(named[0].naming.file, "/abs/point.py");
    PyObject* frames = main_attr("frames");
    PyCodeObject* code = PyFrame_GetCode(reinterpret_cast<PyFrameObject*>(PyList_GetItem(frames, 0)));
    FunctionNaming n = name_python_function(code, nullptr, "/elsewhere");
    Py_DECREF(code);
    Py_DECREF(frames);
    EXPECT_EQ(n.name, "Point.norm");
    EXPECT_EQ(n.object, "point");
}

TEST(Naming, CFunctionsAreNamedAsCProfileNamesThem) {
    // For each callable, the one C function name cProfile records when it is called alone.
    run_main(R"(
import cProfile, math, time, numpy
def cprofile_names(fn, args):
    p = cProfile.Profile()
    p.enable()
    fn(*args)
    p.disable()
    p.create_stats()
    return [k[2] for k in p.stats if k[0] == "~" and "'disable' of '_lsprof.Profiler'" not in k[2]]
cases = [([].append, (1,)), (len, ((),)), (time.sleep, (0,)), (math.sqrt, (2.0,)), ("".join, ([],)),
         (sorted, ((),)), (dict.fromkeys, ((),)), (numpy.empty, (1,)), (numpy.zeros(2).copy, ())]
callables = [fn for fn, args in cases]
expected = [cprofile_names(fn, args) for fn, args in cases]
)");
    PyObject* callables = main_attr("callables");
    PyObject* expected = main_attr("expected");
    ASSERT_TRUE(callables != nullptr && expected != nullptr);
    std::vector<std::pair<std::string, std::string>> ours;  // (name, object)
    for (Py_ssize_t i = 0; i < PyList_Size(callables); ++i) {
        PyObject* fn = PyList_GetItem(callables, i);
        ASSERT_TRUE(PyCFunction_Check(fn)) << i;
        FunctionNaming n = name_c_function(reinterpret_cast<PyCFunctionObject*>(fn));
        PyObject* theirs = PyList_GetItem(expected, i);
        ASSERT_EQ(PyList_Size(theirs), 1) << n.name;
        EXPECT_EQ(n.name, str(PyList_GetItem(theirs, 0)));
        EXPECT_EQ(n.file, "~");
        EXPECT_EQ(n.line, 0u);
        ours.emplace_back(n.name, n.object);
    }
    Py_DECREF(callables);
    Py_DECREF(expected);
    std::vector<std::pair<std::string, std::string>> spelled_out = {
        {"<method 'append' of 'list' objects>", "builtins"},
        {"<built-in method builtins.len>", "builtins"},
        {"<built-in method time.sleep>", "time"},
        {"<built-in method math.sqrt>", "math"},
        {"<method 'join' of 'str' objects>", "builtins"},
        {"<built-in method builtins.sorted>", "builtins"},
        {"<built-in method fromkeys>", "builtins"},
        {"<built-in method numpy.empty>", "numpy"},
        {"<method 'copy' of 'numpy.ndarray' objects>", "numpy"},
    };
    EXPECT_EQ(ours, spelled_out);
}
