#include "runner/interpreter.h"

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <unistd.h>

#include <csignal>
#include <string>
#include <vector>

#ifndef CALLTREE_PYTHON_EXECUTABLE
#error "CALLTREE_PYTHON_EXECUTABLE must name the python3 whose libpython is embedded"
#endif

namespace calltree {

namespace {

struct RunState {
    RunHooks hooks;
    pid_t pid = 0;
    bool stopped = false;
    bool finished = false;
    bool saved = true;
};

RunState& run_state() {
    static RunState* s = new RunState();
    return *s;
}

bool in_profiled_process() { return getpid() == run_state().pid; }

void stop_once() {
    RunState& s = run_state();
    if (s.stopped || !in_profiled_process()) return;
    s.stopped = true;
    if (s.hooks.stop) s.hooks.stop();
}

void finish_once() {
    RunState& s = run_state();
    if (s.finished || !in_profiled_process()) return;
    s.finished = true;
    if (s.hooks.finish) s.saved = s.hooks.finish();
}

// Registered with atexit before the program runs, so it runs after the program's own handlers.
PyObject* on_python_exit(PyObject*, PyObject*) {
    stop_once();
    Py_RETURN_NONE;
}

// SIGTERM kills python3 without cleanup. We save the profile first, then die by the same signal
// so the parent sees the same status. Runs as a Python signal handler, between bytecodes.
PyObject* on_sigterm(PyObject*, PyObject* const*, Py_ssize_t) {
    stop_once();
    finish_once();
    std::fflush(nullptr);
    std::signal(SIGTERM, SIG_DFL);
    std::raise(SIGTERM);
    Py_RETURN_NONE;
}

PyMethodDef g_exit_def = {"_calltree_at_exit", on_python_exit, METH_NOARGS, nullptr};
PyMethodDef g_sigterm_def = {"_calltree_sigterm", reinterpret_cast<PyCFunction>(reinterpret_cast<void*>(on_sigterm)),
                             METH_FASTCALL, nullptr};

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

bool install_exit_handlers() {
    if (!call("atexit", "register", Py_BuildValue("(N)", PyCFunction_New(&g_exit_def, nullptr)))) return false;
    // Keep a handler the environment set up (e.g. SIG_IGN inherited from the parent).
    struct sigaction current {};
    if (sigaction(SIGTERM, nullptr, &current) == 0 && current.sa_handler == SIG_DFL)
        return call("signal", "signal", Py_BuildValue("(iN)", SIGTERM, PyCFunction_New(&g_sigterm_def, nullptr)));
    return true;
}

std::vector<std::string> python_argv(const Program& program) {
    std::vector<std::string> argv{CALLTREE_PYTHON_EXECUTABLE};
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
    // subprocesses and multiprocessing start python3, not the profiler.
    config.parse_argv = 1;
    std::vector<std::string> args = python_argv(program);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    PyStatus status = PyConfig_SetBytesString(&config, &config.program_name, CALLTREE_PYTHON_EXECUTABLE);
    if (!PyStatus_Exception(status))
        status = PyConfig_SetBytesArgv(&config, static_cast<Py_ssize_t>(argv.size()), argv.data());
    if (!PyStatus_Exception(status)) status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) Py_ExitStatusException(status);
}

}  // namespace

int run_program(const Program& program, RunHooks hooks) {
    RunState& s = run_state();
    s.hooks = std::move(hooks);
    s.pid = getpid();
    initialize(program);
    Py_AtExit(finish_once);
    if (!install_exit_handlers() || (s.hooks.start && !s.hooks.start())) {
        PyErr_Print();
        Py_FinalizeEx();
        return 1;
    }
    int status = Py_RunMain();
    finish_once();
    return status == 0 && !s.saved ? 2 : status;
}

}  // namespace calltree
