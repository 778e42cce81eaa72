// Names users see for the code the tracer meets. Computed once per code object or C function,
// at first sight, so the profile can be written from plain C++ data.
#pragma once
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string>

namespace calltree {

struct FunctionNaming {
    std::string name;    // co_qualname, or cProfile's name for C functions
    std::string file;    // absolute source path, or "~" for C functions
    std::string object;  // module name (ob=)
    uint32_t line = 0;   // co_firstlineno, 0 for C functions
};

// `cwd` is the directory the program started in: relative co_filenames are resolved against it
// even if the program changes directory later.
FunctionNaming name_python_function(PyCodeObject* code, PyFrameObject* frame, const std::string& cwd);
FunctionNaming name_c_function(PyCFunctionObject* fn);

}  // namespace calltree
