// Asking the thread that holds the GIL to release it at its next bytecode boundary, without
// waiting the switch interval (5 ms) a plain GIL request waits first. CPython has no API for it;
// gil_request.c sets the two fields CPython 3.11's own GIL waiters set.
#pragma once
#include <Python.h>

#ifdef __cplusplus
extern "C" {
#endif

// Async-signal-safe (two relaxed atomic stores). Only call when a thread is certain to take the
// GIL soon: the holder waits for someone to take it before it continues.
void calltree_request_gil_drop(PyInterpreterState* interp);

// Wakes whoever waits for the GIL's mutexes. A thread that began unlocking one while glibc
// believed the process had a single thread (interpose/helper_thread.h) does not wake its waiters;
// a spurious wake-up costs a waiter one more look.
void calltree_wake_gil_mutex_waiters(void);

#ifdef __cplusplus
}
#endif
