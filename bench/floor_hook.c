/* The anchors for deterministic-mode overhead: a PyEval_SetProfile callback that does nothing
 * (the floor of this hook: frame materialisation and dispatch that CPython pays for any C-level
 * profiler), and the same callback reading a clock once per event. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <time.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

static volatile unsigned long long sink;

static int empty_callback(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg) {
    (void)obj; (void)frame; (void)what; (void)arg;
    return 0;
}

static int rdtsc_callback(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg) {
    (void)obj; (void)frame; (void)what; (void)arg;
#if defined(__x86_64__)
    sink += __rdtsc();
#endif
    return 0;
}

static int monotonic_callback(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg) {
    (void)obj; (void)frame; (void)what; (void)arg;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    sink += (unsigned long long)ts.tv_nsec;
    return 0;
}

static PyObject *install(PyObject *self, PyObject *args) {
    (void)self;
    const char *mode = "empty";
    if (!PyArg_ParseTuple(args, "|s", &mode)) return NULL;
    Py_tracefunc fn = empty_callback;
    if (strcmp(mode, "rdtsc") == 0) fn = rdtsc_callback;
    else if (strcmp(mode, "monotonic") == 0) fn = monotonic_callback;
    else if (strcmp(mode, "empty") != 0) {
        PyErr_Format(PyExc_ValueError, "unknown mode '%s' (empty, rdtsc, monotonic)", mode);
        return NULL;
    }
    PyEval_SetProfile(fn, NULL);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"install", install, METH_VARARGS, "install(mode='empty'): set the C profile callback on this thread"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "calltree_floor_hook", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit_calltree_floor_hook(void) { return PyModule_Create(&module); }
