#include "collect/shared/naming.h"

#include "cpython/boundary.h"

#include <unordered_map>
#include <unordered_set>

#include "model/names.h"

namespace calltree {

namespace {

// Takes a new reference to a bytes object (or null, with the error cleared).
std::string take_bytes(PyObject* bytes) {
    if (bytes == nullptr) {
        PyErr_Clear();
        return {};
    }
    std::string result(PyBytes_AS_STRING(bytes), static_cast<size_t>(PyBytes_GET_SIZE(bytes)));
    Py_DECREF(bytes);
    return result;
}

// A name as UTF-8. Text UTF-8 cannot hold (lone surrogates, as a qualname or __name__ set from
// undecodable bytes may have) is never dropped: surrogateescape'd bytes become those bytes
// again, anything else a visible \udxxx escape.
std::string utf8(PyObject* text) {
    if (text == nullptr || !PyUnicode_Check(text)) return {};
    Py_ssize_t size = 0;
    const char* data = PyUnicode_AsUTF8AndSize(text, &size);
    if (data != nullptr) return std::string(data, static_cast<size_t>(size));
    PyErr_Clear();
    PyObject* bytes = PyUnicode_AsEncodedString(text, "utf-8", "surrogateescape");
    if (bytes == nullptr) {
        PyErr_Clear();
        bytes = PyUnicode_AsEncodedString(text, "utf-8", "backslashreplace");
    }
    return take_bytes(bytes);
}

// A file name as the bytes the file system knows it by (os.fsencode): co_filename holds a name
// that is not valid in the file system encoding with surrogateescape'd bytes, and only those
// original bytes open the file in KCachegrind's source view.
std::string file_name(PyObject* text) {
    if (text == nullptr || !PyUnicode_Check(text)) return {};
    PyObject* bytes = PyUnicode_EncodeFSDefault(text);
    if (bytes == nullptr) {  // surrogates no file name can contain
        PyErr_Clear();
        return utf8(text);
    }
    return take_bytes(bytes);
}

// Pseudo-files such as "<frozen importlib._bootstrap>" or "<string>" stay as they are.
std::string absolute_path(std::string path, const std::string& cwd) {
    if (path.empty() || path.front() == '/' || path.front() == '<' || cwd.empty()) return path;
    return cwd + "/" + path;
}

std::string module_name(PyFrameObject* frame, const std::string& file) {
    if (frame != nullptr) {
        PyObject* globals = PyFrame_GetGlobals(frame);
        if (globals != nullptr) {
            std::string name = PyDict_Check(globals) ? utf8(PyDict_GetItemString(globals, "__name__")) : "";
            Py_DECREF(globals);
            if (!name.empty()) return name;
        }
    }
    // No module: the file's stem is the most readable stand-in.
    auto slash = file.rfind('/');
    std::string stem = file.substr(slash == std::string::npos ? 0 : slash + 1);
    auto dot = stem.rfind('.');
    return dot == std::string::npos || dot == 0 ? stem : stem.substr(0, dot);
}

// Where the code's body starts on its line: the column of the first instruction that has a
// source span. The prologue (RESUME, MAKE_CELL, COPY_FREE_VARS...) sits at column 0 with an empty
// span in every code object, so the first instruction's own column would not tell two lambdas
// apart. -1 without column information (python3 -X no_debug_ranges).
int32_t body_column(PyCodeObject* code) {
    const int units = ct_code_units(code);
    for (int unit = 0; unit < units; ++unit) {
        int line = -1, column = -1, end_line = -1, end_column = -1;
        if (PyCode_Addr2Location(code, unit * CT_CODE_UNIT_BYTES, &line, &column, &end_line, &end_column) == 0)
            break;
        if (column >= 0 && (end_line > line || (end_line == line && end_column > column))) return column;
    }
    return -1;
}

// Functions sharing this key share their display name before it is made unique.
std::string name_key(const FunctionNaming& n, const std::string& name) {
    std::string key;
    key.reserve(n.object.size() + n.file.size() + name.size() + 2);
    key.append(n.object).push_back('\0');
    key.append(n.file).push_back('\0');
    key.append(name);
    return key;
}

}  // namespace

FunctionNaming name_python_function(PyCodeObject* code, PyFrameObject* frame, const std::string& cwd) {
    FunctionNaming n;
    n.co_name = utf8(code->co_name);
    n.name = utf8(code->co_qualname);
    if (n.name.empty()) n.name = n.co_name;
    n.file = absolute_path(file_name(code->co_filename), cwd);
    n.object = module_name(frame, n.file);
    n.line = code->co_firstlineno > 0 ? static_cast<uint32_t>(code->co_firstlineno) : 0;
    n.column = body_column(code);
    return n;
}

std::string identity_of(const FunctionNaming& n) {
    return name_key(n, n.name) + '\0' + std::to_string(n.line) + ':' + std::to_string(n.column);
}

std::vector<std::string> display_names(std::span<const FunctionNaming> functions) {
    std::unordered_map<std::string, uint32_t> lines_of_name;  // distinct first lines per name
    std::unordered_map<std::string, uint32_t> at_line;        // functions per (name, line)
    for (const FunctionNaming& f : functions) {
        uint32_t& here = at_line[name_key(f, f.name) + '\0' + std::to_string(f.line)];
        if (here++ == 0) ++lines_of_name[name_key(f, f.name)];
    }
    std::vector<std::string> names(functions.size());
    std::unordered_set<std::string> taken;
    for (size_t i = 0; i < functions.size(); ++i) {
        const FunctionNaming& f = functions[i];
        std::string& name = names[i] = f.name;
        bool shares_line = at_line[name_key(f, f.name) + '\0' + std::to_string(f.line)] > 1;
        if (shares_line || lines_of_name[name_key(f, f.name)] > 1) name += ":" + std::to_string(f.line);
        if (shares_line && f.column >= 0) name += ":" + std::to_string(f.column + 1);
        size_t plain = name.size();
        for (int n = 2; !taken.insert(name_key(f, name)).second; ++n) {
            name.resize(plain);
            name += "#" + std::to_string(n);
        }
    }
    return names;
}

void NameTable::add(const FunctionNaming& n) {
    if (index_.try_emplace(identity_of(n), functions_.size()).second) functions_.push_back(n);
}

void NameTable::finish() { names_ = display_names(functions_); }

const std::string& NameTable::name_of(const FunctionNaming& n) const { return names_[index_.at(identity_of(n))]; }

// Mirrors how cProfile (Modules/_lsprof.c) labels C functions, so users recognise them and
// pstats output from both tools lines up.
FunctionNaming name_c_function(PyCFunctionObject* fn) {
    FunctionNaming n;
    n.file = std::string(kBuiltinFile);
    const char* ml_name = fn->m_ml->ml_name;
    PyObject* self = fn->m_self;
    if (self == nullptr || PyModule_Check(self) == 0) {
        if (self != nullptr) {
            // A bound method: the repr of the type's descriptor, e.g. <method 'append' of 'list' objects>.
            PyObject* key = PyUnicode_FromString(ml_name);
            PyObject* descr = key != nullptr ? _PyType_Lookup(Py_TYPE(self), key) : nullptr;
            Py_XDECREF(key);
            PyErr_Clear();
            if (descr != nullptr) {
                Py_INCREF(descr);
                PyObject* repr = PyObject_Repr(descr);
                Py_DECREF(descr);
                if (repr != nullptr) {
                    n.name = utf8(repr);
                    Py_DECREF(repr);
                }
                PyErr_Clear();
            }
        }
    }
    if (n.name.empty()) {
        std::string module = utf8(fn->m_module);
        if (module.empty() && fn->m_module != nullptr && PyModule_Check(fn->m_module)) {
            module = PyModule_GetName(fn->m_module) ?: "";
            PyErr_Clear();
        }
        if (self == nullptr)
            n.name = module.empty() || module == "builtins" ? "<" + std::string(ml_name) + ">"
                                                            : "<" + module + "." + ml_name + ">";
        else
            n.name = module.empty() ? "<built-in method " + std::string(ml_name) + ">"
                                    : "<built-in method " + module + "." + ml_name + ">";
    }
    n.object = builtin_object(n.name);
    return n;
}

bool runs_main_module(PyFrameObject* frame) {
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    PyObject* globals = PyFrame_GetGlobals(frame);
    bool is_main = false;
    if (globals != nullptr && PyDict_Check(globals)) {
        PyObject* name = PyDict_GetItemString(globals, "__name__");
        is_main = name != nullptr && PyUnicode_Check(name) && PyUnicode_CompareWithASCIIString(name, "__main__") == 0;
    }
    Py_XDECREF(globals);
    PyErr_Clear();
    PyErr_Restore(type, value, traceback);
    return is_main;
}

}  // namespace calltree
