#include "collect/tracer/profile_chain.h"

#include <algorithm>
#include <iterator>

#include "cpython/boundary.h"

namespace calltree {

namespace {

struct Replaced {
    ProfileChainHost host;
    PyObject* original_set = nullptr;
    PyObject* original_get = nullptr;
    PyObject* original_set_all = nullptr;  // 3.12+
    PyObject* set_function = nullptr;  // our sys.setprofile: its c_call/c_return events carry it
    PyObject* set_all_function = nullptr;  // our sys._setprofileallthreads, likewise
    PyMethodDef set_def{};
    PyMethodDef get_def{};
    PyMethodDef set_all_def{};
    // python3's names of the events (sysmodule.c whatstrings), indexed by PyTrace_*.
    PyObject* what[8] = {};
};

Replaced* g_replaced = nullptr;  // set once by install(), never freed (hooks may outlive statics)

// python3's guard in _PyEval_SetProfile (Python/ceval.c, 3.11): changing the profile function
// while it is being changed (from the __del__ of the function being replaced, from an audit
// hook, or for a function that raised meanwhile) fails with this RuntimeError and lowers the
// guard, so a second attempt goes through. One flag for the whole process, like python3's
// static; only ever touched with the GIL held. 3.12+ has no guard (ct_profile_change_is_guarded).
bool g_changing = false;

// _PyEval_SetProfile's first steps: the guard, then the audit. False with an exception set when
// the change must not happen; else end_change() follows the change.
bool begin_change() {
    static const bool guarded = ct_profile_change_is_guarded() != 0;
    if (guarded && g_changing) {
        g_changing = false;
        PyErr_SetString(PyExc_RuntimeError,
                        "Cannot install a profile function while another profile function is being installed");
        return false;
    }
    g_changing = true;
    if (PySys_Audit("sys.setprofile", nullptr) < 0) {
        g_changing = false;
        return false;
    }
    return true;
}

void end_change() { g_changing = false; }

PyObject* set_profile(PyObject*, PyObject* function) {
    Replaced& r = *g_replaced;
    ProfileChain* chain = r.host.current();
    if (chain == nullptr) return PyObject_CallOneArg(r.original_set, function);
    // The tracer's hook object, as threading's bootstrap installs it in every new thread (it is
    // threading's profile hook): python3, without a hook there, makes no call at all.
    if (r.host.is_ours_object(function)) {
        r.host.install_hook();
        chain->set(nullptr);
        Py_RETURN_NONE;
    }
    if (!begin_change()) return nullptr;
    // After C code such as cProfile replaced the hook (or removed it), it goes back first.
    r.host.install_hook();
    chain->set(function == Py_None ? nullptr : function, r.set_function);
    end_change();
    Py_RETURN_NONE;
}

// sys._setprofileallthreads(function), 3.12+ (threading.setprofile_all_threads calls it). python3's
// own does the work, so what the program sees of it is python3's: the "sys.setprofile" audit
// events (one per thread before 3.14, one in all from 3.14), what a refusal does (reported as
// unraisable per thread before 3.14, raised with nothing changed from 3.14) and which threads it
// reaches (every thread of the interpreter). Then, on each thread the tracer records where it
// replaced the tracer's hook, the hook goes back and the function (or none) is chained after it
// instead. A thread the tracer does not record on keeps python3's trampoline.
PyObject* set_profile_all_threads(PyObject*, PyObject* function) {
    Replaced& r = *g_replaced;
    ProfileChain* mine = r.host.current();
    if (mine == nullptr) return PyObject_CallOneArg(r.original_set_all, function);
    // threading.getprofile() answers the tracer's hook object where python3 answers None (the
    // tracer set it for new threads): code that hands it back means none.
    if (r.host.is_ours_object(function)) function = Py_None;
    std::vector<ProfileChainHost::Thread> before, after;
    r.host.recorded_threads(before);
    PyObject* result = PyObject_CallOneArg(r.original_set_all, function);
    if (result == nullptr) return nullptr;
    Py_DECREF(result);
    r.host.recorded_threads(after);
    // The hooks first, while no Python code can run; changing the functions may run some (a
    // __del__ of the ones replaced, released once every thread has the new one).
    std::vector<ProfileChain*> changed;
    for (const ProfileChainHost::Thread& now : after) {
        auto was = std::find_if(before.begin(), before.end(), [&](const ProfileChainHost::Thread& b) {
            return b.tstate == now.tstate && b.chain == now.chain;
        });
        // Left alone: a thread python3 did not change (an audit hook refused it) or did not know.
        if (was == before.end() || (was->func == now.func && was->obj == now.obj)) continue;
        r.host.put_hook_back(now.tstate, was->func, was->obj);
        changed.push_back(now.chain);
    }
    PyObject* new_function = function == Py_None ? nullptr : function;
    const bool mine_had = mine->function != nullptr;
    std::vector<PyObject*> replaced;
    for (ProfileChain* chain : changed)
        replaced.push_back(chain->exchange(new_function, chain == mine ? r.set_all_function : nullptr));
    for (PyObject* old : replaced) Py_XDECREF(old);
    r.host.function_changed(*mine, mine_had);
    if (new_function == nullptr) r.host.keep_threading_hook();
    Py_RETURN_NONE;
}

PyObject* get_profile(PyObject*, PyObject*) {
    Replaced& r = *g_replaced;
    if (!r.host.is_ours(PyThreadState_Get()->c_profilefunc)) return PyObject_CallNoArgs(r.original_get);
    ProfileChain* chain = r.host.existing();
    PyObject* function = chain != nullptr && chain->function != nullptr ? chain->function : Py_None;
    Py_INCREF(function);
    return function;
}

// Our builtin looks like the original: name, flags, docstring (hence signature), module.
bool replace(PyObject* sys, const char* name, PyMethodDef& def, PyCFunction impl, int flags, PyObject** original,
             PyObject** replacement) {
    *original = PyObject_GetAttrString(sys, name);
    if (*original == nullptr) return false;
    if (!PyCFunction_Check(*original)) {
        PyErr_Format(PyExc_RuntimeError, "calltree: sys.%s is not the builtin", name);
        return false;
    }
    def = PyMethodDef{name, impl, flags, reinterpret_cast<PyCFunctionObject*>(*original)->m_ml->ml_doc};
    PyObject* module_name = PyModule_GetNameObject(sys);
    if (module_name == nullptr) return false;
    PyObject* fn = PyCFunction_NewEx(&def, sys, module_name);
    Py_DECREF(module_name);
    if (fn == nullptr) return false;
    int status = PyObject_SetAttrString(sys, name, fn);
    if (replacement != nullptr && status == 0)
        *replacement = fn;  // kept: sys holds it, so it lives as long as the interpreter
    Py_DECREF(fn);
    return status == 0;
}

}  // namespace

int ProfileChain::call(PyFrameObject* frame, int what, PyObject* arg) {
    Replaced& r = *g_replaced;
    if (skip_return_of != nullptr) {
        PyObject* setter = skip_return_of;
        skip_return_of = nullptr;
        if ((what == PyTrace_C_RETURN || what == PyTrace_C_EXCEPTION) && arg == setter) return 0;
    }
    if (what < 0 || what >= static_cast<int>(std::size(r.what))) return 0;
    PyObject* function = function_ref();
    int status = 0;
    if (PyFrame_FastToLocalsWithError(frame) < 0) {
        status = -1;
    } else {
        PyObject* args[3] = {reinterpret_cast<PyObject*>(frame), r.what[what], arg != nullptr ? arg : Py_None};
        PyObject* result = PyObject_Vectorcall(function, args, 3, nullptr);
        PyFrame_LocalsToFast(frame, 1);
        if (result == nullptr) status = -1;
        Py_XDECREF(result);
    }
    if (status < 0) remove_after_error();
    Py_DECREF(function);
    return status;
}

void ProfileChain::remove_after_error() {
    // python3's trampoline removes whatever function is installed then, as sys.setprofile(None)
    // would, its failures (the guard, an audit hook's refusal) leaving the function in place;
    // calltree's own hook stays.
    if (!begin_change()) return;
    set(nullptr);
    end_change();
}

PyObject* ProfileChain::function_ref() const {
    Py_INCREF(function);  // the call may replace it
    return function;
}

void ProfileChain::set(PyObject* new_function, PyObject* setter) {
    static const bool release_first = ct_profile_change_is_guarded() != 0;
    const ProfileChainHost& host = g_replaced->host;
    // A change made from a __del__ this one runs is part of it: python3's events follow the
    // outermost change (on 3.11 it is on one thread; on 3.12+ the events follow every thread).
    const bool outermost = !changing_;
    changing_ = true;
    const bool had = function != nullptr;
    if (release_first) {
        // 3.11: the old function is released while none is installed (a __del__ it runs gets no
        // events and sys.getprofile() answers None there), then the new one is stored over
        // whatever that __del__ may have installed, which python3 never releases.
        const bool events = host.events_on(*this);
        PyObject* old = function;
        function = nullptr;
        skip_return_of = nullptr;
        Py_XDECREF(old);
        Py_XINCREF(new_function);
        function = new_function;
        skip_return_of = !events && new_function != nullptr ? setter : nullptr;
    } else {
        // 3.12+: the new function is stored first; a __del__ of the old one sees it, and what
        // that __del__ installs stays.
        Py_XDECREF(exchange(new_function, setter));
    }
    if (outermost) {
        changing_ = false;
        // From none to none nothing changes, unless the program asked (python3 then counts the
        // threads with a profile function anew, some may have ended): not for the tracer's own
        // clearing of a stack a new thread takes over.
        if (had || function != nullptr || setter != nullptr) host.function_changed(*this, had);
    }
}

PyObject* ProfileChain::exchange(PyObject* new_function, PyObject* setter) {
    // python3 sends the new function the return of the call that installs it only if its events
    // were on when that call began.
    const bool events = g_replaced->host.events_on(*this);
    PyObject* old = function;
    Py_XINCREF(new_function);
    function = new_function;
    skip_return_of = !events && new_function != nullptr ? setter : nullptr;
    return old;
}

namespace profile_chain {

bool install(const ProfileChainHost& host) {
    if (g_replaced != nullptr) return true;
    auto* r = new Replaced{host};
    static const char* const kWhat[] = {"call", "exception", "line", "return", "c_call", "c_exception", "c_return", "opcode"};
    for (size_t i = 0; i < std::size(kWhat); ++i)
        if ((r->what[i] = PyUnicode_InternFromString(kWhat[i])) == nullptr) return false;
    PyObject* sys = PyImport_ImportModule("sys");
    if (sys == nullptr) return false;
    g_replaced = r;
    bool ok = replace(sys, "setprofile", r->set_def, set_profile, METH_O, &r->original_set, &r->set_function) &&
              replace(sys, "getprofile", r->get_def, get_profile, METH_NOARGS, &r->original_get, nullptr);
    // 3.12+ only; threading looks it up in sys at each call.
    if (ok && PyObject_HasAttrString(sys, "_setprofileallthreads"))
        ok = replace(sys, "_setprofileallthreads", r->set_all_def, set_profile_all_threads, METH_O,
                     &r->original_set_all, &r->set_all_function);
    Py_DECREF(sys);
    return ok;
}

void hand_over(ProfileChain& chain) {
    if (chain.function == nullptr) {
        PyEval_SetProfile(nullptr, nullptr);
        return;
    }
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    PyObject* result = PyObject_CallOneArg(g_replaced->original_set, chain.function);
    if (result == nullptr) PyErr_Clear();  // an audit hook refused: the function stops, like ours
    Py_XDECREF(result);
    PyErr_Restore(type, value, traceback);
    chain.clear();
}

}  // namespace profile_chain
}  // namespace calltree
