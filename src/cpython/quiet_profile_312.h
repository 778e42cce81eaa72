// Shared by the layout files of 3.12+ (included after their internal headers): installing a
// profile hook without the "sys.setprofile" audit event.
//
// From 3.12 the profile hook rides on sys.monitoring's legacy events, which only
// _PyEval_SetProfile sets up (the functions it calls are not exported), and it always audits.
// The program asked for no profiler when calltree installs its hook (in a thread threading
// starts, or back after C code removed it), so the event must not reach its audit hooks: they
// are out of sight for the duration of the call. The GIL is held and no Python code runs in
// between (the old hook object, whose __del__ could run any, is released afterwards), so no
// other thread can add or call a Python audit hook meanwhile. The runtime's C hooks, which
// PySys_AddAuditHook appends without the GIL under their own mutex, are set aside under that
// mutex, only when there are any: waiting for it may release the GIL, which callers walking the
// thread list must not see happen in the usual case.
#pragma once

#if PY_VERSION_HEX >= 0x030D0000
#define CT_LOCK_C_AUDIT_HOOKS() PyMutex_Lock(&_PyRuntime.audit_hooks.mutex)
#define CT_UNLOCK_C_AUDIT_HOOKS() PyMutex_Unlock(&_PyRuntime.audit_hooks.mutex)
#else  // 3.12: a PyThread lock, which PySys_AddAuditHook takes without releasing the GIL
#define CT_LOCK_C_AUDIT_HOOKS() PyThread_acquire_lock(_PyRuntime.audit_hooks.mutex, WAIT_LOCK)
#define CT_UNLOCK_C_AUDIT_HOOKS() PyThread_release_lock(_PyRuntime.audit_hooks.mutex)
#endif

static int ct_set_profile_without_audit(PyThreadState* tstate, Py_tracefunc func, PyObject* obj) {
    PyInterpreterState* interp = PyThreadState_Get()->interp;  // _PyEval_SetProfile audits there
    PyObject* old = Py_XNewRef(tstate->c_profileobj);
    const int c_hooks_present = _PyRuntime.audit_hooks.head != NULL;
    if (c_hooks_present) CT_LOCK_C_AUDIT_HOOKS();
    struct _Py_AuditHookEntry* c_hooks = _PyRuntime.audit_hooks.head;
    PyObject* python_hooks = interp->audit_hooks;
    if (c_hooks_present) _PyRuntime.audit_hooks.head = NULL;
    interp->audit_hooks = NULL;
    int status = _PyEval_SetProfile(tstate, func, obj);
    interp->audit_hooks = python_hooks;
    if (c_hooks_present) {
        _PyRuntime.audit_hooks.head = c_hooks;
        CT_UNLOCK_C_AUDIT_HOOKS();
    }
    Py_XDECREF(old);
    return status;
}
