// The GIL's state as boundary.h reads it: who holds it, pinning its mutex, asking for it, the
// address range waiters sleep on. Version-independent over the layout table (layout.h); asking
// for it (SET_GIL_DROP_REQUEST) is the layout file's.
#include <limits.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cpython/boundary.h"
#include "cpython/layout.h"

#define L ct_layout_of_python

static char* gil(void) { return ct_layout_gil(); }

// glibc's futex word of a normal mutex, its first member: 0 free, 1 locked, 2 locked with
// waiters (lll_lock, lll_unlock).
static int* gil_mutex_word(void) { return (int*)(gil() + L.gil_mutex); }

int ct_pin_gil(void) {
    int unlocked = 0;
    return __atomic_compare_exchange_n(gil_mutex_word(), &unlocked, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

void ct_unpin_gil(void) {
    int* word = gil_mutex_word();
    if (__atomic_exchange_n(word, 0, __ATOMIC_RELEASE) == 2) syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

int ct_holds_gil(const void* thread_state) {
    char* g = gil();
    if (__atomic_load_n((int*)(g + L.gil_locked), __ATOMIC_RELAXED) != 1) return 0;
    return (const void*)__atomic_load_n((uintptr_t*)(g + L.gil_last_holder), __ATOMIC_RELAXED) == thread_state;
}

void ct_gil_state_range(uintptr_t* start, uintptr_t* end) {
    *start = (uintptr_t)gil();
    *end = *start + L.gil_size;
}

void ct_request_gil_drop(void* interp) { ct_layout_request_gil_drop(interp); }

void ct_wake_gil_mutex_waiters(void) {
    char* g = gil();
    // The futex word of a glibc mutex is its first member.
    syscall(SYS_futex, g + L.gil_mutex, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
    if (L.gil_switch_mutex != CT_NO_FIELD)
        syscall(SYS_futex, g + L.gil_switch_mutex, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

const void* ct_current_thread_state(void) { return ct_layout_thread_state_unchecked(); }

int ct_set_profile_quietly(void* func, void* obj) {
    return ct_layout_set_profile_quietly((void*)ct_layout_thread_state_unchecked(), func, obj);
}
