// Which thread holds the GIL, and keeping it there for a moment: CPython 3.11's own record of
// the GIL (_PyRuntime.ceval.gil), which take_gil and drop_gil change only under the GIL's
// internal mutex.
//
// What the sampler needs it for: it signals a thread only while the thread runs Python, never
// while it is blocked in the kernel (pause() would return, a blocking write would stop short).
// CPython releases the GIL before every call that may block (sleep, I/O, pause, lock waits), so
// a thread that holds the GIL is not in one; and while the sampler holds the GIL's mutex the
// thread cannot release the GIL, so it cannot get into one either until our signal has been
// handled. Without that, a thread that released the GIL and entered write() in the few
// microseconds our signal takes to arrive got it there (measured: 2 to 3% of blocking writes
// at --interval 0.1ms came back short).
//
// Not in cpython_internals.c (another owner) only for now: the same kind of knowledge of 3.11's
// layout as gil_request.c and ct_gil_state_range.
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

// Tries to take the GIL's internal mutex, never waits: 0 if it is taken (a hand-over is under
// way). Held, the GIL cannot change hands: a thread that wants to release it (before a blocking
// call) or take it waits. Hold it for microseconds only, and never across anything that waits
// for the GIL. Uses the mutex's futex word directly, as glibc's lock does (not pthread calls:
// with calltree's hidden helper threads glibc may believe the process single-threaded, and its
// pthread_mutex_unlock would then skip waking a waiter).
int ct_pin_gil(void);
void ct_unpin_gil(void);

// Whether `thread_state` holds the GIL. Two relaxed loads of static memory, never a dereference
// of `thread_state`: any thread may ask about any thread (even one that ended). Exact while the
// GIL is pinned; otherwise momentarily wrong inside take_gil, between its two stores.
int ct_holds_gil(const void* thread_state);

#ifdef __cplusplus
}
#endif
