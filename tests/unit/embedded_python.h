// An embedded CPython for the collectors' unit tests: started once per test process (each test
// runs in its own process under ctest) the way the runner starts it, and small helpers to run code.
#pragma once
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <gtest/gtest.h>

#include <string>

namespace calltree::testing {

// Starts the interpreter on first use. program_name is /usr/bin/python3 so sys.path (and numpy)
// are found as the real interpreter finds them.
inline void ensure_python() {
    if (Py_IsInitialized()) return;
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    config.parse_argv = 0;
    config.install_signal_handlers = 0;
    PyStatus status = PyConfig_SetBytesString(&config, &config.program_name, "/usr/bin/python3");
    if (!PyStatus_Exception(status)) status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) Py_ExitStatusException(status);
}

// __main__'s namespace: code run in it is "the program" for the tracer.
inline PyObject* main_globals() {
    ensure_python();
    return PyModule_GetDict(PyImport_AddModule("__main__"));  // borrowed
}

// Runs `code` (statements) in __main__ as file `filename`; fails the test on an exception.
inline void run_main(const std::string& code, const char* filename = "<test>") {
    ensure_python();
    PyObject* compiled = Py_CompileString(code.c_str(), filename, Py_file_input);
    PyObject* result = compiled != nullptr ? PyEval_EvalCode(compiled, main_globals(), main_globals()) : nullptr;
    Py_XDECREF(compiled);
    if (result == nullptr) {
        PyErr_Print();
        ADD_FAILURE() << "Python code raised:\n" << code;
        return;
    }
    Py_DECREF(result);
}

// A new reference to __main__.<name>, or nullptr (with a test failure).
inline PyObject* main_attr(const char* name) {
    PyObject* value = PyDict_GetItemString(main_globals(), name);
    if (value == nullptr) ADD_FAILURE() << "__main__ has no " << name;
    Py_XINCREF(value);
    return value;
}

inline std::string str(PyObject* text) {
    const char* data = text != nullptr ? PyUnicode_AsUTF8(text) : nullptr;
    return data != nullptr ? data : "";
}

}  // namespace calltree::testing
