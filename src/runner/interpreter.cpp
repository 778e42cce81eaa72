#include "runner/interpreter.h"

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string>
#include <vector>

#include "process/fork_thread_count.h"
#include "runner/exec_hook.h"
#include "runner/fatal_signals.h"
#include "runner/run_end.h"
#include "runner/self_path.h"

namespace calltree {

namespace {

void finish_at_exit() { run_end::finish(); }

// Registered with atexit before the program runs, so it runs after the program's own handlers.
PyObject* on_python_exit(PyObject*, PyObject*) {
    run_end::stop();
    Py_RETURN_NONE;
}

PyMethodDef g_exit_def = {"_calltree_at_exit", on_python_exit, METH_NOARGS, nullptr};

std::function<bool()> g_fork_child;

// os.register_at_fork(after_in_child=...): runs after CPython has made the child's runtime
// whole again (one thread, locks reset), before the program's own after-fork callbacks.
PyObject* on_fork_child(PyObject*, PyObject*) {
    bool profiled = run_end::python_running() && g_fork_child && g_fork_child() && run_end::restart_in_fork_child();
    if (profiled) exec_hook::arm();
    fatal_signals::restart_in_fork_child(profiled);
    Py_RETURN_NONE;
}

PyMethodDef g_fork_def = {"_calltree_after_fork", on_fork_child, METH_NOARGS, nullptr};

// Calls module.function(*args) with new references in `args`; false with a Python error set.
bool call(const char* module_name, const char* function, PyObject* args) {
    if (args == nullptr) return false;
    PyObject* module = PyImport_ImportModule(module_name);
    PyObject* result = nullptr;
    if (module != nullptr) {
        PyObject* fn = PyObject_GetAttrString(module, function);
        if (fn != nullptr) result = PyObject_CallObject(fn, args);
        Py_XDECREF(fn);
        Py_DECREF(module);
    }
    Py_DECREF(args);
    Py_XDECREF(result);
    return result != nullptr;
}

bool install_exit_handler() {
    return call("atexit", "register", Py_BuildValue("(N)", PyCFunction_New(&g_exit_def, nullptr)));
}

// posix, not os: a built-in module already loaded, so nothing new shows in sys.modules.
bool install_fork_handler() {
    PyObject* kwargs = Py_BuildValue("{s:N}", "after_in_child", PyCFunction_New(&g_fork_def, nullptr));
    if (kwargs == nullptr) return false;
    PyObject* module = PyImport_ImportModule("posix");
    PyObject* result = nullptr;
    if (module != nullptr) {
        PyObject* fn = PyObject_GetAttrString(module, "register_at_fork");
        PyObject* args = PyTuple_New(0);
        if (fn != nullptr && args != nullptr) result = PyObject_Call(fn, args, kwargs);
        Py_XDECREF(args);
        Py_XDECREF(fn);
        Py_DECREF(module);
    }
    Py_DECREF(kwargs);
    Py_XDECREF(result);
    return result != nullptr;
}

std::vector<std::string> python_argv(const Program& program) {
    if (program.kind == Program::Kind::PythonArgv) {
        std::vector<std::string> argv{program.target};
        argv.insert(argv.end(), program.args.begin(), program.args.end());
        return argv;
    }
    std::vector<std::string> argv{python_executable()};
    switch (program.kind) {
        case Program::Kind::Script:
            if (!program.target.empty() && program.target[0] == '-' && program.target != "-") argv.push_back("--");
            break;
        case Program::Kind::Module:
            argv.push_back("-m");
            break;
        case Program::Kind::Code:
            argv.push_back("-c");
            break;
        case Program::Kind::PythonArgv:
            break;
    }
    argv.push_back(program.target);
    argv.insert(argv.end(), program.args.begin(), program.args.end());
    return argv;
}

void initialize(const Program& program) {
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    // Parse the same command line python3 would get, so sys.argv, sys.path[0], -m and -c follow
    // python3's rules exactly; the program name makes sys.executable the real interpreter, so
    // subprocesses and multiprocessing start python3, not the profiler. A child calltree takes
    // the argv[0] python3 was given, from which python3 would have found sys.executable.
    config.parse_argv = 1;
    std::vector<std::string> args = python_argv(program);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    std::string python = python_executable();
    const char* program_name = python.c_str();
    if (program.kind == Program::Kind::PythonArgv && !program.target.empty()) program_name = program.target.c_str();
    // The process takes the same name: faulthandler's C stack (3.14) names the executable by it.
    take_python_name(program_name);
    PyStatus status = PyConfig_SetBytesString(&config, &config.program_name, program_name);
    if (!PyStatus_Exception(status))
        status = PyConfig_SetBytesArgv(&config, static_cast<Py_ssize_t>(argv.size()), argv.data());
    if (!PyStatus_Exception(status)) status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) Py_ExitStatusException(status);
}

}  // namespace

int run_program(const Program& program, RunHooks hooks) {
    run_end::init(std::move(hooks.stop), std::move(hooks.finish));
    g_fork_child = std::move(hooks.fork_child);
    initialize(program);
    Py_AtExit(finish_at_exit);
    if (g_fork_child) fatal_signals::keep_in_fork_children();
    // From 3.12 os.fork() counts the process's threads to warn about them: not calltree's.
    if (PY_VERSION_HEX >= 0x030C0000) fork_thread_count::enable();
    fatal_signals::install();
    if (!install_exit_handler() || (g_fork_child && !install_fork_handler()) || (hooks.start && !hooks.start())) {
        PyErr_Print();
        Py_FinalizeEx();
        return 1;
    }
    exec_hook::arm();
    int status = Py_RunMain();
    bool saved = run_end::finish();
    fatal_signals::wait_if_dying();
    return status == 0 && !saved ? 2 : status;
}

}  // namespace calltree
