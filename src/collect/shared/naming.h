// Names users see for the code the tracer meets. Computed once per code object or C function,
// at first sight, so the profile can be written from plain C++ data.
#pragma once
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace calltree {

struct FunctionNaming {
    std::string name;     // co_qualname, or cProfile's name for C functions
    std::string file;     // absolute source path, or "~" for C functions
    std::string object;   // module name (ob=)
    uint32_t line = 0;    // co_firstlineno, 0 for C functions
    int32_t column = -1;  // 0-based column where the body starts (see body_column), or -1
    std::string co_name;  // the name in cProfile's pstats key; empty for C functions (`name` is it)
};

// Functions with the same identity are one function: code objects recreated from the same
// source (exec in a loop, reloads) fold together, while two lambdas or comprehensions on one
// line differ by their column.
std::string identity_of(const FunctionNaming& n);

// The names users see, one per function, unique among functions of one file and module: the
// qualified name, plus ":<line>" when that name is defined at several lines of the file, or
// ":<line>:<column>" (1-based, as editors and linters count) when it is defined more than once
// on one line. The few collisions left (a function literally named "f:3") are numbered "#2"...
std::vector<std::string> display_names(std::span<const FunctionNaming> functions);

// The display names of one run, decided over every function any collector saw (display_names
// over the union), so that collectors composed in one run name each function alike and their
// costs meet in one node.
class NameTable {
public:
    void add(const FunctionNaming& n);
    void finish();
    // After finish(): the name of a function that was added.
    const std::string& name_of(const FunctionNaming& n) const;

private:
    std::vector<FunctionNaming> functions_;
    std::unordered_map<std::string, size_t> index_;  // identity_of -> functions_
    std::vector<std::string> names_;
};

// `cwd` is the directory the program started in: relative co_filenames are resolved against it
// even if the program changes directory later.
FunctionNaming name_python_function(PyCodeObject* code, PyFrameObject* frame, const std::string& cwd);
FunctionNaming name_c_function(PyCFunctionObject* fn);

// Whether the frame runs code of the __main__ module (the script, -c code, or the -m module):
// where a collector's view of "the program" begins. Leaves any pending Python error alone.
bool runs_main_module(PyFrameObject* frame);

}  // namespace calltree
