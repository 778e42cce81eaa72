// Empty event sources compared (bench/event_source/run.sh): the legacy profile hook
// (PyEval_SetProfile, on sys.monitoring from 3.12) against a sys.monitoring tool whose callbacks are C functions.
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static long events;

static int legacy_cb(PyObject* obj, PyFrameObject* frame, int what, PyObject* arg) {
    (void)obj; (void)frame; (void)what; (void)arg;
    ++events;
    return 0;
}

static PyObject* legacy_on(PyObject* self, PyObject* unused) { PyEval_SetProfile(legacy_cb, NULL); Py_RETURN_NONE; }
static PyObject* legacy_off(PyObject* self, PyObject* unused) { PyEval_SetProfile(NULL, NULL); Py_RETURN_NONE; }

// A monitoring callback: what a tracer of our own would need per event is the thread state (to
// read its current frame, through the boundary) and the code object (args[0]).
static PyObject* monitor_cb(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    (void)self;
    if (nargs > 0 && PyThreadState_GetUnchecked() != NULL && args[0] != NULL) ++events;
    Py_RETURN_NONE;
}

static PyObject* count(PyObject* self, PyObject* unused) {
    long n = events;
    events = 0;
    return PyLong_FromLong(n);
}

static PyMethodDef methods[] = {
    {"legacy_on", legacy_on, METH_NOARGS, NULL},
    {"legacy_off", legacy_off, METH_NOARGS, NULL},
    {"monitor_cb", (PyCFunction)(void (*)(void))monitor_cb, METH_FASTCALL, NULL},
    {"count", count, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "ctbench", NULL, -1, methods};
PyMODINIT_FUNC PyInit_ctbench(void) { return PyModule_Create(&module); }
