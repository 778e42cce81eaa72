// The program's own profile function (sys.setprofile(f), the pure-Python `profile` module,
// threading.setprofile, and from 3.12 threading.setprofile_all_threads) called after the tracer's
// hook instead of replacing it.
//
// CPython keeps one profile function per thread. sys.setprofile, sys.getprofile and (3.12+)
// sys._setprofileallthreads are replaced by builtins of the same name, module, signature and
// docstring that keep the tracer's C hook installed and hand the program's function its events
// exactly as python3's own trampoline (Python/sysmodule.c, profile_trampoline) would: same
// arguments, locals synced around the call, removed when it raises, no c_return or c_exception for
// a C call python3 began with no profile events on. So calltree keeps recording and the program
// sees what python3 shows it.
#pragma once
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>

#include <vector>

namespace calltree {

// One thread's chained profile function. Needs the GIL.
struct ProfileChain {
    PyObject* function = nullptr;  // a strong reference, or null
    // python3 reports the end of a C call only if its profile events were on when the call began
    // (3.11: a profile function on that thread; 3.12+: on any thread of the interpreter, as
    // sys.monitoring's events are per interpreter). The tracer's hook is always on, so the tracer
    // keeps track: the C calls open in the bottom `quiet_depth` activations of the thread's shadow
    // stack began while python3's events were off, and their c_return/c_exception are not passed
    // on (the tracer sets it when the events go on, and lowers it as the stack unwinds).
    size_t quiet_depth = 0;
    // The same for the call of sys.setprofile (or sys._setprofileallthreads) that installed the
    // function, when it began before the tracer's hook was on this thread (threading's bootstrap
    // calls sys.setprofile in a new thread): its return, whose argument is that builtin, is skipped.
    PyObject* skip_return_of = nullptr;

    // Hands one event to `function` like python3's trampoline; -1 with an exception set (and the
    // function removed, as python3's trampoline removes it) if it raised.
    int call(PyFrameObject* frame, int what, PyObject* arg);
    // Replaces the function as that version's _PyEval_SetProfile does (3.11 releases the old
    // one while none is installed, 3.12+ after storing the new one). May run Python code (a
    // __del__). `setter` is the builtin whose call on this thread makes the change (its return
    // comes next), if any.
    void set(PyObject* new_function, PyObject* setter = nullptr);
    void clear() { set(nullptr); }
    // 3.12+: stores the new function and returns the old one (a reference the caller releases),
    // as _PyEval_SetProfile does before it releases it.
    PyObject* exchange(PyObject* new_function, PyObject* setter = nullptr);

private:
    PyObject* function_ref() const;
    void remove_after_error();
    bool changing_ = false;  // inside set(): a __del__ it runs may change the function again
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

    // Whether python3's profile events would be on for a C call beginning now on `chain`'s thread.
    bool (*events_on)(const ProfileChain& chain);
    // After `chain`'s function changed (it had one before or not): the tracer follows python3's
    // events going on or off.
    void (*function_changed)(ProfileChain& chain, bool had_function);

    // sys._setprofileallthreads (3.12+). A thread of the interpreter the tracer records on, as it
    // is now: its chain and profile hook.
    struct Thread {
        PyThreadState* tstate;
        ProfileChain* chain;
        Py_tracefunc func;
        PyObject* obj;  // borrowed
    };
    // Every thread of the interpreter that has a shadow stack of the tracer, in the interpreter's
    // order, into `out`. Needs the GIL; runs no Python code.
    void (*recorded_threads)(std::vector<Thread>& out);
    // Puts the tracer's hook back on a thread of the interpreter without an audit event: `func`
    // and `obj` if they are the tracer's (what it had before), else the tracer's callback.
    void (*put_hook_back)(PyThreadState* tstate, Py_tracefunc func, PyObject* obj);
    // New threads that `threading` starts get the tracer's hook again when the program left
    // threading without a profile function (threading.setprofile_all_threads(None) sets none).
    void (*keep_threading_hook)();
};

namespace profile_chain {

// Replaces sys.setprofile, sys.getprofile and (3.12+) sys._setprofileallthreads. False with a
// Python exception set on failure.
bool install(const ProfileChainHost& host);

// Installs `function` with the original sys.setprofile on the calling thread (python3's own
// trampoline): how a chained function outlives the tracer's hook on a thread.
void hand_over(ProfileChain& chain);

}  // namespace profile_chain
}  // namespace calltree
