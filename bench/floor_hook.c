/* The anchors for deterministic-mode overhead: a PyEval_SetProfile callback that does nothing
 * (the floor of this hook: frame materialisation and dispatch that CPython pays for any C-level
 * profiler), and the same callback reading a clock once per event.
 *
 * And the anchor for sampling-mode overhead ("ticker"): the mechanism of calltree --sample with
 * nothing else, a thread that waits for each (jittered) interval the way calltree's sampler does
 * and sends the program's thread the same real-time signal, whose handler returns at once. No
 * stacks, clocks or accounting: what the machine charges for one wake-up and one signal per
 * interval, which no signal-driven sampler can go below. */
#define _GNU_SOURCE
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/single_threaded.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
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

static pid_t ticker_target;
static unsigned long long ticker_interval;

static unsigned long long monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

static void on_tick_signal(int sig, siginfo_t *info, void *context) {
    (void)sig; (void)info; (void)context;
}

/* As src/collect/sampler/sampler.cpp's run(): 1 ns timer slack, nice -10, intervals drawn from 0.5x to
 * 1.5x the asked one, an absolute FUTEX_WAIT_BITSET deadline, rt_tgsigqueueinfo with SI_QUEUE. */
static void *ticker(void *arg) {
    (void)arg;
    prctl(PR_SET_TIMERSLACK, 1UL);
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), -10);
    unsigned long long state = (monotonic_ns() | 1) * 0x9E3779B97F4A7C15ULL;
    unsigned int never = 0;
    pid_t pid = getpid();
    unsigned long long next = monotonic_ns();
    for (;;) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        next += ticker_interval / 2 + (state >> 11) % (ticker_interval + 1);
        struct timespec ts = {(time_t)(next / 1000000000ULL), (long)(next % 1000000000ULL)};
        while (syscall(SYS_futex, &never, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, 0U, &ts, NULL, FUTEX_BITSET_MATCH_ANY) != 0 &&
               errno != ETIMEDOUT) {
        }
        unsigned long long now = monotonic_ns();
        if (next < now) next = now;
        siginfo_t info;
        memset(&info, 0, sizeof info);
        info.si_signo = SIGRTMIN + 5;
        info.si_code = SI_QUEUE;
        info.si_pid = pid;
        info.si_uid = getuid();
        syscall(SYS_rt_tgsigqueueinfo, pid, ticker_target, SIGRTMIN + 5, &info);
    }
    return NULL;
}

static int start_ticker(unsigned long long interval_ns) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_tick_signal;
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&action.sa_mask);
    if (sigaction(SIGRTMIN + 5, &action, NULL) != 0) return -1;
    ticker_target = (pid_t)syscall(SYS_gettid);
    ticker_interval = interval_ns;
    /* calltree's threads keep glibc's single-thread fast paths for the program; so does this one
     * (it never allocates). */
    char single = __libc_single_threaded;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t thread;
    int rc = pthread_create(&thread, NULL, ticker, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) return -1;
    pthread_detach(thread);
    __libc_single_threaded = single;
    return 0;
}

static PyObject *install(PyObject *self, PyObject *args) {
    (void)self;
    const char *mode = "empty";
    if (!PyArg_ParseTuple(args, "|s", &mode)) return NULL;
    Py_tracefunc fn = empty_callback;
    if (strncmp(mode, "ticker-", 7) == 0) {
        unsigned long long interval = strtoull(mode + 7, NULL, 10);
        if (interval < 1000 || start_ticker(interval) != 0) {
            PyErr_Format(PyExc_ValueError, "ticker: bad interval or no thread ('%s')", mode);
            return NULL;
        }
        Py_RETURN_NONE;
    }
    if (strcmp(mode, "rdtsc") == 0) fn = rdtsc_callback;
    else if (strcmp(mode, "monotonic") == 0) fn = monotonic_callback;
    else if (strcmp(mode, "empty") != 0) {
        PyErr_Format(PyExc_ValueError, "unknown mode '%s' (empty, rdtsc, monotonic, ticker-NS)", mode);
        return NULL;
    }
    PyEval_SetProfile(fn, NULL);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"install", install, METH_VARARGS, "install(mode='empty'): set the C profile callback on this thread, or start the sampling anchor (ticker-NS)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "calltree_floor_hook", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit_calltree_floor_hook(void) { return PyModule_Create(&module); }
