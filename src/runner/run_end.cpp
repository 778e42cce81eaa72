#include "runner/run_end.h"

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <functional>

namespace calltree::run_end {

namespace {

// Transitions into Stopping and SignalTakesGil are compare-and-swaps from Running (the signal
// handler cannot lock); every transition out of a state someone waits on wakes the waiters of
// the phase word. A futex on the word rather than a mutex and condition variable: the signal
// writer runs on a helper thread glibc is not told about (process/helper_thread.h), and
// glibc's mutexes skip their wake-ups while it believes the process has one thread.
enum Phase : int { Running, SignalTakesGil, Stopping, Stopped, Finishing, Finished };

struct State {
    std::function<void()> stop;
    std::function<bool()> finish;
    pid_t pid = 0;
    std::atomic<int> phase{Running};
    std::atomic<bool> saved{true};
};

// Never destroyed: the signal writer thread may use it while the main thread exits.
State& state() {
    static State* s = new State();
    return *s;
}

void advance(State& s, Phase to) {
    s.phase.store(to);
    syscall(SYS_futex, reinterpret_cast<int*>(&s.phase), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

// Returns once the phase is no longer `seen` (or spuriously: callers look again).
void wait_while(State& s, int seen) {
    syscall(SYS_futex, reinterpret_cast<int*>(&s.phase), FUTEX_WAIT_PRIVATE, seen, nullptr, nullptr, 0);
}

}  // namespace

void init(std::function<void()> stop, std::function<bool()> finish) {
    State& s = state();
    s.stop = std::move(stop);
    s.finish = std::move(finish);
    s.pid = getpid();
}

bool in_profiled_process() { return getpid() == state().pid; }

bool restart_in_fork_child() {
    State& s = state();
    if (s.pid == 0 || s.phase.load() != Running) return false;
    s.saved = true;
    s.pid = getpid();
    return true;
}

bool python_running() {
    int p = state().phase.load();
    return p == Running || p == SignalTakesGil;
}

void stop() {
    State& s = state();
    if (!in_profiled_process()) return;
    int expected = Running;
    if (s.phase.compare_exchange_strong(expected, Stopping)) {
        if (s.stop) s.stop();
        advance(s, Stopped);
        return;
    }
    if (expected == SignalTakesGil) {
        // The writer needs the GIL to stop the collectors; it ends the process after writing.
        Py_BEGIN_ALLOW_THREADS
        for (;;) pause();
        Py_END_ALLOW_THREADS
    }
}

bool finish() {
    State& s = state();
    if (!in_profiled_process()) return true;
    for (;;) {
        int p = s.phase.load();
        if (p == Finished) return s.saved.load();
        // Running: the program ended without our exit handler (it cleared atexit); write what
        // there is.
        if ((p == Running || p == Stopped) && s.phase.compare_exchange_strong(p, Finishing)) break;
        if (p == Stopping || p == SignalTakesGil || p == Finishing) wait_while(s, p);
    }
    bool saved = s.finish ? s.finish() : true;
    s.saved.store(saved);
    advance(s, Finished);
    return saved;
}

bool claim_for_signal() {
    State& s = state();
    int expected = Running;
    return s.phase.compare_exchange_strong(expected, SignalTakesGil);
}

bool signal_waits_for_gil() { return state().phase.load() == SignalTakesGil; }

bool over_and_idle() {
    int p = state().phase.load();
    return p == Stopped || p == Finished;
}

void stop_for_signal() {
    State& s = state();
    if (s.stop) s.stop();
    advance(s, Stopped);
}

}  // namespace calltree::run_end
