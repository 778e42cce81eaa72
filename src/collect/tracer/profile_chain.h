// The program's own profile function (sys.setprofile(f), the pure-Python `profile` module,
// threading.setprofile) called after the tracer's hook instead of replacing it.
//
// CPython keeps one profile function per thread. sys.setprofile and sys.getprofile are replaced
// by builtins of the same name, module, signature and docstring that keep the tracer's C hook
// installed and hand the program's function its events exactly as python3's own trampoline
// (Python/sysmodule.c, profile_trampoline) would: same arguments, locals synced around the call,
// removed when it raises. So calltree keeps recording and the program sees what python3 shows it.
#pragma once
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>

namespace calltree {

// One thread's chained profile function. Needs the GIL.
struct ProfileChain {
    PyObject* function = nullptr;  // a strong reference, or null
    // python3 sends no c_return for the sys.setprofile call that installs the first profile
    // function (no profiler was on when it was called): this marks that return to be skipped.
    bool skip_setprofile_return = false;

    // Hands one event to `function` like python3's trampoline; -1 with an exception set (and the
    // function removed, as python3's trampoline removes it) if it raised.
    int call(PyFrameObject* frame, int what, PyObject* arg);
    // Replaces the function as that version's _PyEval_SetProfile does (3.11 releases the old
    // one while none is installed, 3.12+ after storing the new one). May run Python code (a
    // __del__).
    void set(PyObject* new_function);
    void clear() { set(nullptr); }

private:
    PyObject* function_ref() const;
    void remove_after_error();
};

// What the replaced sys functions need from the tracer.
struct ProfileChainHost {
    // The calling thread's chain while calltree records, else null (the replaced functions then
    // behave exactly like the originals); `existing` also after recording stopped.
    ProfileChain* (*current)();
    ProfileChain* (*existing)();
    // The tracer's C hook on the calling thread, unless it is there already; as python3 makes
    // no call to install it, no audit either.
    void (*install_hook)();
    bool (*is_ours)(Py_tracefunc function);         // one of the tracer's C callbacks
    bool (*is_ours_object)(PyObject* function);     // the tracer's hook object (threading's)
};

namespace profile_chain {

// Replaces sys.setprofile and sys.getprofile. False with a Python exception set on failure.
bool install(const ProfileChainHost& host);

// Installs `function` with the original sys.setprofile on the calling thread (python3's own
// trampoline): how a chained function outlives the tracer's hook on a thread.
void hand_over(ProfileChain& chain);

}  // namespace profile_chain
}  // namespace calltree
