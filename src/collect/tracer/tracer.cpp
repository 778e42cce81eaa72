#include "collect/tracer/tracer.h"

#include <pthread.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "collect/memory/alloc_recorder.h"
#include "collect/tracer/clock.h"
#include "cpython/frame_access.h"
#include "cpython/boundary.h"
#include "collect/shared/naming.h"
#include "collect/tracer/profile_chain.h"
#include "model/flat_map.h"

namespace calltree::tracer {

namespace {

// Function 0 stands for "no caller": arcs from it mark a thread's root activations.
constexpr uint32_t kRoot = 0;

struct FunctionRecord {
    uint64_t calls = 0;
    uint64_t primitive_calls = 0;
    uint64_t self = 0;
    uint64_t inclusive = 0;
};

// lasti (byte offset of the CALL instruction) identifies the call site without computing its
// line on the hot path; the line is computed once, when the arc is first seen.
struct ArcKey {
    uint32_t caller;
    uint32_t callee;
    int32_t lasti;
    bool operator==(const ArcKey&) const = default;
};
struct ArcKeyHash {
    size_t operator()(const ArcKey& k) const noexcept {
        return hash_u64((uint64_t{k.caller} << 32 | k.callee) ^ (uint64_t(uint32_t(k.lasti)) * 0x9e3779b97f4a7c15ULL));
    }
};

struct ArcRecord {
    uint32_t caller;
    uint32_t callee;
    uint32_t line;
    uint32_t pair;  // (caller, callee) regardless of call site: the unit of recursion depth
    uint64_t calls = 0;
    uint64_t primitive_calls = 0;
    uint64_t inclusive = 0;
    uint64_t callee_self = 0;
};

struct PointerHash {
    size_t operator()(const void* p) const noexcept { return hash_u64(reinterpret_cast<uintptr_t>(p)); }
};

// One open call on a thread's shadow stack.
struct Activation {
    void* key;  // PyFrameObject* (a held reference) for Python code, PyCFunctionObject* for C
    uint32_t function;
    uint32_t arc;
    uint64_t start;
    uint64_t children;  // inclusive time of the calls this activation made
    bool python;
};
static_assert(sizeof(Activation) == 40, "keep shadow-stack entries small");

// A thread's shadow stack. When its thread ends, it goes to State::spare and the next new
// thread takes it over: memory is bounded by the threads alive at once, not by all threads ever
// started (a server with a thread per request). Its costs are already in the shared records.
struct ThreadStack {
    std::vector<Activation> stack;
    PyThreadState* owner = nullptr;  // the thread state of the thread using it
    // Recursion depth per function and per arc on this thread: inclusive time is added only
    // when the outermost activation ends, so recursion is never counted twice. All zeros again
    // once the stack is empty, which is what lets a new thread reuse them as they are.
    std::vector<uint32_t> function_depth;
    std::vector<uint32_t> pair_depth;
    uint64_t owner_id = 0;   // PyThreadState_GetID(owner): a later thread state may get owner's address
    uint64_t last = 0;       // the latest clock reading on this thread (less `offset`)
    // The profiler's own cost on this thread so far, State::bias per event: every reading has it
    // taken off, so an activation's time is its clock time less the cost of the events inside.
    uint64_t offset = 0;
    ProfileChain chain;      // the program's own profile function on this thread, if any
    bool finished = false;   // its thread has exited (guarded by State::threads_mutex)
};

struct State {
    TracerOptions options;
    bool active = false;
    // Events also go through chained_event, off the hot path: on 3.11 while a program's profile
    // function is on some thread, on 3.12+ while python3's profile events would be on in the
    // interpreter (`events_on`: every thread then follows ProfileChain::quiet_depth).
    bool chain_events = false;
    bool events_on = false;
    bool active_at_fork = false;  // in a forked child: whether the parent was recording
    bool use_tsc = false;
    TscCalibration calibration;
    double ns_per_tick = 1.0;
    uint64_t bias = 0;  // the profiler's own cost per event, in clock ticks (measure_bias)
    Py_tracefunc callback = nullptr;
    PyObject* hook = nullptr;  // builtin that (re)installs `callback` when used as a Python-level profiler

    std::vector<FunctionRecord> functions;
    std::vector<FunctionNaming> namings;  // per function; apart from the counters the hot path touches
    FlatMap<const void*, uint32_t, PointerHash> function_ids{nullptr};  // code object / PyMethodDef*
    std::unordered_map<std::string, uint32_t> by_identity;              // see identity_of
    std::vector<PyObject*> held_code;  // keeps code objects alive so their addresses stay unique

    std::vector<ArcRecord> arcs;
    FlatMap<ArcKey, uint32_t, ArcKeyHash> arc_ids{ArcKey{~0u, ~0u, -1}};
    std::unordered_map<uint64_t, uint32_t> pair_ids;

    std::vector<std::unique_ptr<ThreadStack>> threads;  // every stack, live or spare (GIL)
    ThreadStack* main_stack = nullptr;
    // A thread ends (its TLS destructor runs) without the GIL, so handing its stack back takes
    // this lock; only thread start and exit take it, never a profile event.
    std::mutex threads_mutex;
    std::vector<ThreadStack*> spare;  // stacks of exited threads (threads_mutex)
    pthread_key_t thread_key{};       // its destructor reports a thread's exit

    // Process-wide set-up (the thread key, the hook object, sys.setprofile's replacement, the
    // fork handlers) is done once; blocks (start_block) record many times in one process.
    bool initialised = false;
    uint64_t measured_bias[3] = {0, 0, 0};  // per TracerClock, once measured
    bool bias_measured[3] = {false, false, false};
    PyObject* threading_previous = nullptr;  // threading's profile hook before a block
    bool block_roots = false;                // the block took the open calls as roots
};

// Never destroyed: callbacks may outlive static destructors. A namespace-scope pointer, not a
// function-local static, so the hot path reads it without an initialisation guard. Points at a
// scratch state only while the bias is measured, before the program starts.
State* g_state = new State();

inline State& state() { return *g_state; }

// Trivially destructible, so the hot path reads it without a TLS initialisation guard; the
// thread's exit is reported by the pthread key instead.
thread_local ThreadStack* t_stack = nullptr;

void close_stack(ThreadStack& ts, uint64_t now);

// Runs at the exit of a thread that was attached, after CPython deleted its thread state: no
// GIL, no Python. The stack is usually empty; if the thread ended with calls open (the hook
// was switched off inside them), they are closed by whoever takes the stack, with the GIL.
void detach_thread(void* stack) {
    State& s = state();
    auto* ts = static_cast<ThreadStack*>(stack);
    std::lock_guard lock(s.threads_mutex);
    ts->finished = true;
    s.spare.push_back(ts);
}

[[gnu::noinline]] ThreadStack* attach_thread() {
    State& s = state();
    ThreadStack* ts = nullptr;
    {
        std::lock_guard lock(s.threads_mutex);
        if (!s.spare.empty()) {
            ts = s.spare.back();
            s.spare.pop_back();
            ts->finished = false;
        }
    }
    if (ts == nullptr) {
        memory::Guard ours;
        auto fresh = std::make_unique<ThreadStack>();
        fresh->stack.reserve(256);
        ts = fresh.get();
        s.threads.push_back(std::move(fresh));
    } else {
        // The previous thread's open calls end where that thread's clock last stood.
        close_stack(*ts, ts->last);
        ts->chain.clear();
        ts->chain.quiet_depth = 0;
    }
    ts->owner = static_cast<PyThreadState*>(const_cast<void*>(ct_current_thread_state()));
    ts->owner_id = PyThreadState_GetID(ts->owner);
    t_stack = ts;
    pthread_setspecific(s.thread_key, ts);
    return ts;
}

// The function `naming` identifies, added at first sight.
uint32_t function_named(FunctionNaming naming) {
    State& s = state();
    auto [it, added] = s.by_identity.try_emplace(identity_of(naming), static_cast<uint32_t>(s.functions.size()));
    if (added) {
        s.functions.emplace_back();
        s.namings.push_back(std::move(naming));
    }
    return it->second;
}

// Python errors raised while naming must not disturb an exception that is propagating.
class PreserveError {
public:
    PreserveError() { PyErr_Fetch(&type_, &value_, &traceback_); }
    ~PreserveError() {
        PyErr_Clear();
        PyErr_Restore(type_, value_, traceback_);
    }

private:
    PyObject *type_, *value_, *traceback_;
};

// First sight of a code object. Code objects recreated from the same source (exec in a loop,
// reloads) share one function (naming.h: identity_of); names are made unique when the profile
// is built, once every function is known.
[[gnu::noinline]] uint32_t intern_code(PyCodeObject* code, PyFrameObject* frame) {
    State& s = state();
    PreserveError preserve;
    memory::Guard ours;
    uint32_t id = function_named(name_python_function(code, frame, s.options.cwd));
    Py_INCREF(code);
    s.held_code.push_back(reinterpret_cast<PyObject*>(code));
    s.function_ids.insert(code, id);
    return id;
}

// First sight of a C function, keyed by its PyMethodDef: bound-method objects are created per
// call, the method definition is permanent. Same cProfile name -> same function.
[[gnu::noinline]] uint32_t intern_c_function(PyCFunctionObject* fn) {
    State& s = state();
    PreserveError preserve;
    memory::Guard ours;
    uint32_t id = function_named(name_c_function(fn));
    s.function_ids.insert(fn->m_ml, id);
    return id;
}

inline uint32_t python_function(PyFrameObject* frame) {
    PyCodeObject* code = frame_code(frame);
    if (const uint32_t* id = state().function_ids.find(code)) return *id;
    return intern_code(code, frame);
}

inline uint32_t c_function(PyCFunctionObject* fn) {
    if (const uint32_t* id = state().function_ids.find(fn->m_ml)) return *id;
    return intern_c_function(fn);
}

[[gnu::noinline]] uint32_t new_arc(const ArcKey& key, PyFrameObject* caller_frame) {
    State& s = state();
    memory::Guard ours;
    uint32_t line = 0;
    if (caller_frame != nullptr && key.lasti >= 0) {
        PyCodeObject* code = PyFrame_GetCode(caller_frame);
        int l = PyCode_Addr2Line(code, key.lasti);
        Py_DECREF(code);
        line = l > 0 ? static_cast<uint32_t>(l) : 0;
    }
    auto id = static_cast<uint32_t>(s.arcs.size());
    auto pair = s.pair_ids.emplace(uint64_t{key.caller} << 32 | key.callee, static_cast<uint32_t>(s.pair_ids.size()));
    s.arcs.push_back(ArcRecord{key.caller, key.callee, line, pair.first->second});
    s.arc_ids.insert(key, id);
    return id;
}

[[gnu::noinline]] void grow_depths(ThreadStack& ts) {
    State& s = state();
    memory::Guard ours;
    ts.function_depth.resize(s.functions.size() + 64, 0);
    ts.pair_depth.resize(s.pair_ids.size() + 256, 0);
}

inline void count_call(ThreadStack& ts, uint32_t function, uint32_t arc) {
    State& s = state();
    ArcRecord& a = s.arcs[arc];
    if (function >= ts.function_depth.size() || a.pair >= ts.pair_depth.size()) grow_depths(ts);
    FunctionRecord& f = s.functions[function];
    ++f.calls;
    if (ts.function_depth[function]++ == 0) ++f.primitive_calls;
    ++a.calls;
    if (ts.pair_depth[a.pair]++ == 0) ++a.primitive_calls;
}

// A deeper stack than any before on this thread: the tracer's memory, not the program's.
[[gnu::noinline]] void grow_stack(ThreadStack& ts) {
    memory::Guard ours;
    ts.stack.reserve(std::max<size_t>(256, ts.stack.capacity() * 2));
}

inline void enter(ThreadStack& ts, uint32_t function, void* key, bool python, uint64_t now) {
    State& s = state();
    ArcKey arc_key{kRoot, function, -1};
    PyFrameObject* caller_frame = nullptr;
    if (!ts.stack.empty()) {
        const Activation& top = ts.stack.back();
        arc_key.caller = top.function;
        if (top.python) {
            caller_frame = static_cast<PyFrameObject*>(top.key);
            arc_key.lasti = frame_lasti(caller_frame);
        }
    }
    const uint32_t* found = s.arc_ids.find(arc_key);
    uint32_t arc = found != nullptr ? *found : new_arc(arc_key, caller_frame);
    count_call(ts, function, arc);
    if (python) Py_INCREF(static_cast<PyObject*>(key));
    if (ts.stack.size() == ts.stack.capacity()) grow_stack(ts);
    ts.stack.push_back(Activation{key, function, arc, now, 0, python});
    ts.last = now;
}

// Times are differences of bias-corrected readings: an activation shorter than the cost of its
// events comes out below zero. They are summed modulo 2^64 as they are (a caller's self time is
// exactly its time less its callees' times) and read as signed when the profile is built, where
// a sum below zero counts as zero: clamping each activation instead would keep the noise that
// exceeds the bias and drop the noise below it, a bias of its own on tiny functions.
inline void pop(ThreadStack& ts, uint64_t now) {
    State& s = state();
    Activation e = ts.stack.back();
    ts.stack.pop_back();
    uint64_t total = now - e.start;
    uint64_t self = total - e.children;
    FunctionRecord& f = s.functions[e.function];
    ArcRecord& a = s.arcs[e.arc];
    f.self += self;
    a.callee_self += self;
    if (--ts.pair_depth[a.pair] == 0) a.inclusive += total;
    if (--ts.function_depth[e.function] == 0) f.inclusive += total;
    if (!ts.stack.empty()) ts.stack.back().children += total;
    if (e.python) Py_DECREF(static_cast<PyObject*>(e.key));
}

void close_stack(ThreadStack& ts, uint64_t now) {
    while (!ts.stack.empty()) pop(ts, now);
}

// When __main__'s top-level code has returned, the program is over on the main thread: what
// follows is interpreter shutdown (joining threads, which stay profiled, and atexit).
[[gnu::noinline]] void root_returned(ThreadStack& ts) {
    if (&ts == state().main_stack) profile_chain::hand_over(ts.chain);
}

// From 3.12 a C method's call and return events each carry a bound method object of their own
// (sys.monitoring's legacy events bind the method descriptor per event), at the same address only
// if nothing took that memory in between (list.sort's key function does, and so does another
// thread while a lock's acquire blocks): such a return ends the innermost activation if that is a
// C call of the same function, rather than none (which left the call open, the caller of whatever
// its caller called next).
[[gnu::noinline]] bool ends_innermost_c_call(const ThreadStack& ts, PyCFunctionObject* fn) {
    const Activation& top = ts.stack.back();
    return !top.python && top.function == c_function(fn);
}

// A return for `key`. Frames above it whose returns we never saw (the hook was switched off
// for a while) are closed first; a return for a frame entered before tracing began is ignored.
inline void leave(ThreadStack& ts, void* key, uint64_t now, bool c_call = false) {
    auto& stack = ts.stack;
    ts.last = now;
    if (stack.empty()) return;
    if (stack.back().key != key && !(c_call && ends_innermost_c_call(ts, static_cast<PyCFunctionObject*>(key)))) {
        size_t i = stack.size();
        while (i > 0 && stack[i - 1].key != key) --i;
        if (i == 0) return;
        while (stack.size() > i) pop(ts, now);
    }
    pop(ts, now);
    if (stack.empty()) root_returned(ts);
}

// After stop() (or in a forked child) the hook may stay on other threads: the program's own
// profile function still gets its events.
[[gnu::noinline]] int inactive_event(PyFrameObject* frame, int what, PyObject* arg) {
    ThreadStack* ts = t_stack;
    return ts != nullptr && ts->chain.function != nullptr ? ts->chain.call(frame, what, arg) : 0;
}

// The program's own profile function gets the event after us. When it raises on a c_call,
// CPython skips the call and sends no c_return: the activation just opened ends at once.
[[gnu::noinline]] int chained_event(ThreadStack& ts, PyFrameObject* frame, int what, PyObject* arg) {
    ProfileChain& chain = ts.chain;
    if (ts.stack.size() < chain.quiet_depth) {
        chain.quiet_depth = ts.stack.size();
        // The C call that just ended (its activation was at this depth) began while python3's
        // profile events were off: python3 reports no end for it.
        if (what == PyTrace_C_RETURN || what == PyTrace_C_EXCEPTION) {
            if (arg == chain.skip_return_of) chain.skip_return_of = nullptr;
            return 0;
        }
    }
    if (chain.function == nullptr || chain.call(frame, what, arg) == 0) return 0;
    if (what == PyTrace_C_CALL && !ts.stack.empty() && ts.stack.back().key == arg) {
        pop(ts, ts.last);
        chain.quiet_depth = std::min(chain.quiet_depth, ts.stack.size());
    }
    return -1;
}

template <class Clock>
int profile_callback(PyObject*, PyFrameObject* frame, int what, PyObject* arg) {
    uint64_t raw = Clock::now();
    State& s = state();
    if (!s.active) return inactive_event(frame, what, arg);
    ThreadStack* ts = t_stack != nullptr ? t_stack : attach_thread();
    // Each interval between two events holds one event's cost (the end of one callback, the
    // start of the next): one bias more is taken off per event.
    uint64_t now = raw - (ts->offset += s.bias);
    switch (what) {
        case PyTrace_CALL:
            enter(*ts, python_function(frame), frame, true, now);
            break;
        case PyTrace_RETURN:
            leave(*ts, frame, now);
            break;
        case PyTrace_C_CALL:
            if (PyCFunction_Check(arg))
                enter(*ts, c_function(reinterpret_cast<PyCFunctionObject*>(arg)), arg, false, now);
            break;
        case PyTrace_C_RETURN:
        case PyTrace_C_EXCEPTION:
            if (PyCFunction_Check(arg)) leave(*ts, arg, now, true);
            break;
        default:
            break;
    }
    if (s.chain_events) [[unlikely]]
        return chained_event(*ts, frame, what, arg);
    return 0;
}

struct CounterClock {
    static inline uint64_t value = 0;
    static uint64_t now() { return value += 1000; }
};

// Used as a Python-level profile function: by threading.setprofile for new threads, and as the
// object sys.getprofile() returns, so code that saves and restores the profiler puts us back.
PyObject* reinstall_hook(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
    State& s = state();
    if (!s.active) Py_RETURN_NONE;
    PyEval_SetProfile(s.callback, s.hook);
    if (nargs >= 2 && PyFrame_Check(args[0]) && PyUnicode_Check(args[1]) &&
        PyUnicode_CompareWithASCIIString(args[1], "call") == 0)
        s.callback(s.hook, reinterpret_cast<PyFrameObject*>(args[0]), PyTrace_CALL, Py_None);
    Py_RETURN_NONE;
}

PyMethodDef g_hook_def = {"_calltree_profile_hook", reinterpret_cast<PyCFunction>(reinterpret_cast<void*>(reinstall_hook)),
                          METH_FASTCALL, "calltree's profiler; calling it (re)installs the C-level hook."};

// Start-up work of the runner (path set-up, zipimport probing) is not the program's: the real
// callback is installed at the first call into a frame of __main__ (the script, the -c code, or
// the module run by -m, after runpy found it).
int wait_for_main(PyObject* obj, PyFrameObject* frame, int what, PyObject* arg) {
    if (what != PyTrace_CALL) return 0;
    State& s = state();
    if (!runs_main_module(frame)) return 0;
    s.main_stack = t_stack != nullptr ? t_stack : attach_thread();
    PyEval_SetProfile(s.callback, s.hook);
    return s.callback(obj, frame, what, arg);
}

// The hook on the calling thread as _PyEval_SetProfile installs it, without its audit event where
// the version allows (cpython/boundary.h): the program asked for no profiler there
// (sys.setprofile for our hook object in threading's bootstrap, or after C code such as cProfile
// removed ours).
void install_hook_quietly() {
    State& s = state();
    PyThreadState* ts = PyThreadState_Get();
    if (ts->c_profilefunc == s.callback || ts->c_profilefunc == wait_for_main) return;
    if (ct_set_profile_quietly(reinterpret_cast<void*>(s.callback), s.hook) != 0) PyErr_Clear();
}

// The tracer's stack of `t`, a thread of the interpreter, if it has one. threads_mutex held.
ThreadStack* live_stack_of(PyThreadState* t) {
    for (auto& ts : state().threads)
        if (!ts->finished && ts->owner == t && ts->owner_id == PyThreadState_GetID(t)) return ts.get();
    return nullptr;
}

bool is_our_callback(Py_tracefunc f) { return f != nullptr && (f == state().callback || f == wait_for_main); }

// What _PyEval_SetProfile counts on 3.12+ (sys_profiling_threads) to decide whether the
// interpreter's profile events are on: the threads with a profile function, which for a thread
// with the tracer's hook is the program's function chained there.
bool some_thread_has_profile_function() {
    State& s = state();
    std::lock_guard lock(s.threads_mutex);
    for (PyThreadState* t = PyInterpreterState_ThreadHead(PyThreadState_Get()->interp); t != nullptr;
         t = PyThreadState_Next(t)) {
        if (t->c_profilefunc == nullptr) continue;
        if (!is_our_callback(t->c_profilefunc)) return true;
        if (ThreadStack* ts = live_stack_of(t); ts != nullptr && ts->chain.function != nullptr) return true;
    }
    return false;
}

// After a program's profile function changed on `chain`'s thread: python3's profile events go on
// (the C calls open then end unreported) or off, per thread on 3.11, per interpreter on 3.12+.
void function_changed(ProfileChain& chain, bool had_function) {
    State& s = state();
    static const bool per_interpreter = ct_profile_events_are_per_interpreter() != 0;
    if (per_interpreter) {
        bool on = some_thread_has_profile_function();
        if (on && !s.events_on)
            for (auto& ts : s.threads) ts->chain.quiet_depth = ts->stack.size();
        s.events_on = on;
        s.chain_events = on;
        return;
    }
    bool any = false;
    for (auto& ts : s.threads) {
        if (&ts->chain == &chain && !had_function && chain.function != nullptr) chain.quiet_depth = ts->stack.size();
        any = any || ts->chain.function != nullptr;
    }
    s.chain_events = any;
}

// The threads of the interpreter the tracer records on (ProfileChainHost::recorded_threads).
void recorded_threads(std::vector<ProfileChainHost::Thread>& out) {
    State& s = state();
    out.clear();
    std::lock_guard lock(s.threads_mutex);
    for (PyThreadState* t = PyInterpreterState_ThreadHead(PyThreadState_Get()->interp); t != nullptr;
         t = PyThreadState_Next(t))
        if (ThreadStack* ts = live_stack_of(t))
            out.push_back(ProfileChainHost::Thread{t, &ts->chain, t->c_profilefunc, t->c_profileobj});
}

// The hook back on another thread as install_hook_quietly puts it on this one.
void put_hook_back(PyThreadState* t, Py_tracefunc func, PyObject* obj) {
    State& s = state();
    const bool ours = is_our_callback(func);
    if (ct_set_profile_quietly_on(t, reinterpret_cast<void*>(ours ? func : s.callback), ours ? obj : s.hook) != 0)
        PyErr_Clear();
}

// threading.setprofile_all_threads(None) leaves threading's hook for new threads at None, where
// the tracer had put its own: new threads would run without it. It goes back (threading.getprofile()
// then answers it, as it did before the program set one). Set on the module directly: calling
// threading.setprofile would record a call the program did not make.
void keep_threading_hook() {
    State& s = state();
    PyObject* name = PyUnicode_FromString("threading");
    PyObject* threading = name != nullptr ? PyImport_GetModule(name) : nullptr;
    Py_XDECREF(name);
    PyObject* hook = threading != nullptr ? PyObject_GetAttrString(threading, "_profile_hook") : nullptr;
    if (hook == Py_None && PyObject_SetAttrString(threading, "_profile_hook", s.hook) != 0) PyErr_Clear();
    if (hook == nullptr) PyErr_Clear();
    Py_XDECREF(hook);
    Py_XDECREF(threading);
}

ProfileChainHost chain_host() {
    ProfileChainHost host;
    host.current = []() -> ProfileChain* {
        if (!state().active) return nullptr;
        return &(t_stack != nullptr ? t_stack : attach_thread())->chain;
    };
    host.existing = []() -> ProfileChain* { return t_stack != nullptr ? &t_stack->chain : nullptr; };
    host.install_hook = install_hook_quietly;
    host.is_ours = is_our_callback;
    host.is_ours_object = [](PyObject* f) { return f == state().hook; };
    host.events_on = [](const ProfileChain& chain) {
        static const bool per_interpreter = ct_profile_events_are_per_interpreter() != 0;
        return per_interpreter ? state().events_on : chain.function != nullptr;
    };
    host.function_changed = function_changed;
    host.recorded_threads = recorded_threads;
    host.put_hook_back = put_hook_back;
    host.keep_threading_hook = keep_threading_hook;
    return host;
}

uint64_t read_clock(const State& s) {
    switch (s.options.clock) {
        case TracerClock::Cpu:
            return ThreadCpuClock::now();
        case TracerClock::Counter:
            return CounterClock::now();
        case TracerClock::Wall:
            break;
    }
    return s.use_tsc ? TscClock::now() : MonotonicClock::now();
}

// What the bias is measured on: a loop making calls, and a loop doing ordinary work instead
// (integer additions on locals: the hook slows them about 1.7x, the least of ordinary
// instructions; attribute reads 2.6x. An empty loop's slowdown is too unsteady to measure).
constexpr const char* kBiasProgram = R"(
def tiny():
    pass

def calls(n):
    for i in range(n):
        tiny()

def loop(n):
    x = 0
    for i in range(n):
        x += i
)";

// The profiler's own cost per event, in ticks of the run's clock, measured at start-up as the
// `profile` module's calibrate() measures its bias, but automatically: a loop making calls and
// a loop doing ordinary work instead, each run plain and under the real callback (recording into
// a scratch state, dropped afterwards). Under any profile hook CPython 3.11 also runs every
// instruction unspecialised, a slowdown the loop without calls measures; that part is not per
// event and stays in the costs (it slows all code), only what the calls cost beyond it is
// divided among their events. Short runs, interleaved, minimum of each: on a loaded machine a
// run that was preempted or shared a core is only ever slower, never faster.
uint64_t measure_bias(State& s) {
    constexpr long kCalls = 2000;
    constexpr int kRuns = 9;
    PyObject* globals = PyDict_New();
    if (globals == nullptr || PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins()) != 0) {
        Py_XDECREF(globals);
        PyErr_Clear();
        return 0;
    }
    PyObject* defined = PyRun_String(kBiasProgram, Py_file_input, globals, globals);
    PyObject* calls = PyDict_GetItemString(globals, "calls");
    PyObject* loop = PyDict_GetItemString(globals, "loop");
    PyObject* n = PyLong_FromLong(kCalls);
    bool ok = defined != nullptr && calls != nullptr && loop != nullptr && n != nullptr;
    State scratch;
    scratch.options = s.options;
    scratch.functions.emplace_back();
    scratch.namings.emplace_back();
    scratch.active = true;
    // Set as the thread's stack directly: attach_thread would register it with the real state.
    ThreadStack scratch_stack;
    scratch_stack.stack.reserve(8);
    ThreadStack* own_stack = t_stack;
    auto time = [&](PyObject* fn, bool traced) -> uint64_t {
        if (traced) {
            g_state = &scratch;
            t_stack = &scratch_stack;
            PyEval_SetProfile(s.callback, nullptr);
        }
        uint64_t start = read_clock(s);
        PyObject* result = PyObject_CallOneArg(fn, n);
        uint64_t end = read_clock(s);
        if (traced) {
            PyEval_SetProfile(nullptr, nullptr);
            g_state = &s;
            t_stack = own_stack;
        }
        ok = ok && result != nullptr;
        Py_XDECREF(result);
        return end > start ? end - start : 0;
    };
    uint64_t plain_calls = UINT64_MAX, traced_calls = UINT64_MAX, plain_loop = UINT64_MAX, traced_loop = UINT64_MAX;
    for (int run = 0; ok && run < kRuns; ++run) {
        plain_calls = std::min(plain_calls, time(calls, false));
        traced_calls = std::min(traced_calls, time(calls, true));
        plain_loop = std::min(plain_loop, time(loop, false));
        traced_loop = std::min(traced_loop, time(loop, true));
    }
    close_stack(scratch_stack, scratch_stack.last);
    for (PyObject* code : scratch.held_code) Py_DECREF(code);
    Py_XDECREF(n);
    Py_XDECREF(defined);
    Py_DECREF(globals);
    PyErr_Clear();
    if (!ok || plain_loop == 0) return 0;
    double dispatch = static_cast<double>(traced_loop) / static_cast<double>(plain_loop);
    // Per traced calls(n): n calls and returns of tiny, and the call and return of calls itself.
    double per_event = (static_cast<double>(traced_calls) - dispatch * static_cast<double>(plain_calls)) / (2.0 * kCalls + 2);
    return per_event > 0 ? static_cast<uint64_t>(std::llround(per_event)) : 0;
}

}  // namespace

namespace {

void choose_callback(State& s) {
    switch (s.options.clock) {
        case TracerClock::Wall:
            s.use_tsc = tsc_is_reliable();
            s.callback = s.use_tsc ? profile_callback<TscClock> : profile_callback<MonotonicClock>;
            if (s.use_tsc) s.calibration.start();
            break;
        case TracerClock::Cpu:
            s.callback = profile_callback<ThreadCpuClock>;
            break;
        case TracerClock::Counter:
            s.callback = profile_callback<CounterClock>;
            break;
    }
}

// Function 0, the bias (measured once per clock in a process) and the process-wide set-up.
bool prepare(State& s) {
    s.functions.emplace_back();  // kRoot
    s.namings.emplace_back().name = "<root>";
    s.bias = 0;
    // The counter clock's costs are exact by design: nothing to take out.
    if (s.options.bias_correction && s.options.clock != TracerClock::Counter) {
        auto clock = static_cast<size_t>(s.options.clock);
        if (!s.bias_measured[clock]) {
            s.measured_bias[clock] = measure_bias(s);
            s.bias_measured[clock] = true;
        }
        s.bias = s.measured_bias[clock];
    }
    if (s.initialised) return true;
    if (pthread_key_create(&s.thread_key, detach_thread) != 0) {
        PyErr_SetString(PyExc_RuntimeError, "calltree: cannot create a thread-local key");
        return false;
    }
    s.hook = PyCFunction_New(&g_hook_def, nullptr);
    if (s.hook == nullptr) return false;
    if (!profile_chain::install(chain_host())) return false;
    // A forked child is another process: it must not keep paying for (or mixing into) our profile.
    // The lock is held across fork() so the child never inherits it taken by a thread it lacks.
    pthread_atfork([] { state().threads_mutex.lock(); }, [] { state().threads_mutex.unlock(); },
                   [] {
                       state().threads_mutex.unlock();
                       state().active_at_fork = state().active;
                       state().active = false;
                   });
    s.initialised = true;
    return true;
}

// threading.setprofile(hook); the previous hook in `previous` (a new reference) if asked.
bool set_threading_hook(PyObject* hook, PyObject** previous) {
    PyObject* threading = PyImport_ImportModule("threading");
    if (threading == nullptr) return false;
    if (previous != nullptr) {
        *previous = PyObject_CallMethod(threading, "getprofile", nullptr);
        if (*previous == nullptr) {
            Py_DECREF(threading);
            return false;
        }
    }
    PyObject* result = PyObject_CallMethod(threading, "setprofile", "O", hook);
    Py_DECREF(threading);
    if (result == nullptr) return false;
    Py_DECREF(result);
    return true;
}

// An activation dropped as if it had never been entered: its call uncounted, no time charged.
void discard_top(ThreadStack& ts) {
    State& s = state();
    Activation e = ts.stack.back();
    ts.stack.pop_back();
    FunctionRecord& f = s.functions[e.function];
    ArcRecord& a = s.arcs[e.arc];
    --f.calls;
    if (--ts.function_depth[e.function] == 0) --f.primitive_calls;
    --a.calls;
    if (--ts.pair_depth[a.pair] == 0) --a.primitive_calls;
    if (e.python) Py_DECREF(static_cast<PyObject*>(e.key));
}

// Our hook off another thread, as _PyEval_SetProfile would take it off (see install_hook_quietly).
void remove_hook_from(PyThreadState* t) { ct_remove_profile_hook_of(t, reinterpret_cast<void*>(state().callback)); }

}  // namespace

bool start(const TracerOptions& options) {
    State& s = state();
    s.options = options;
    choose_callback(s);
    if (!prepare(s)) return false;
    if (!set_threading_hook(s.hook, nullptr)) return false;
    s.active = true;
    PyEval_SetProfile(wait_for_main, s.hook);
    return true;
}

bool start_block(const TracerOptions& options, void* caller) {
    State& s = state();
    if (s.active) {
        PyErr_SetString(PyExc_RuntimeError, "calltree: a profile is already recording in this process");
        return false;
    }
    PyThreadState* tstate = PyThreadState_Get();
    if (tstate->c_profilefunc != nullptr) {
        PyErr_SetString(PyExc_RuntimeError,
                        "calltree: another profiler is active on this thread (cProfile, or a sys.setprofile() "
                        "function); stop it first");
        return false;
    }
    s.options = options;
    choose_callback(s);
    if (!prepare(s)) return false;
    Py_CLEAR(s.threading_previous);
    if (!set_threading_hook(s.hook, &s.threading_previous)) return false;
    ThreadStack* ts = t_stack != nullptr ? t_stack : attach_thread();
    s.main_stack = ts;
    s.block_roots = caller != nullptr;
    // The calls open on this thread, outermost first, are the roots the block's calls hang from.
    std::vector<PyFrameObject*> open;
    for (auto* f = static_cast<PyFrameObject*>(caller); f != nullptr; f = PyFrame_GetBack(f)) {
        if (open.empty()) Py_INCREF(f);
        open.push_back(f);
    }
    s.active = true;
    uint64_t now = read_clock(s) - ts->offset;
    for (auto it = open.rbegin(); it != open.rend(); ++it) enter(*ts, python_function(*it), *it, true, now);
    for (PyFrameObject* f : open) Py_DECREF(f);
    PyEval_SetProfile(s.callback, s.hook);
    return true;
}

void stop() {
    State& s = state();
    if (!s.active) return;
    uint64_t now = read_clock(s);
    s.active = false;
    if (t_stack != nullptr)
        profile_chain::hand_over(t_stack->chain);
    else
        PyEval_SetProfile(nullptr, nullptr);
    // Which threads have exited is read under the lock, but the stacks are closed outside it:
    // closing releases frames, which may run Python code that lets another thread fork.
    std::vector<std::pair<ThreadStack*, bool>> stacks;
    {
        std::lock_guard lock(s.threads_mutex);
        for (auto& ts : s.threads) stacks.emplace_back(ts.get(), ts->finished);
    }
    for (auto [ts, finished] : stacks) {
        // CPU clocks are per thread: another thread's stack closes at its own last reading; an
        // exited thread's at its last reading whatever the clock.
        bool at_now = !finished && (ts == t_stack || s.options.clock != TracerClock::Cpu);
        close_stack(*ts, at_now ? now - ts->offset : ts->last);
    }
    if (s.use_tsc) s.ns_per_tick = s.calibration.finish();
}

void stop_block(void* caller) {
    State& s = state();
    if (!s.active) return;
    if (ThreadStack* ts = t_stack; ts != nullptr && caller != nullptr && s.block_roots) {
        auto& stack = ts->stack;
        size_t i = stack.size();
        while (i > 0 && stack[i - 1].key != caller) --i;
        if (i > 0)
            while (stack.size() > i) discard_top(*ts);
    }
    // Without roots (code run by the API itself, Profile.run) the code has returned: whatever is
    // still open on this thread is the API's call that stops.
    if (ThreadStack* ts = t_stack; ts != nullptr && !s.block_roots && ts == s.main_stack)
        while (!ts->stack.empty()) discard_top(*ts);
    stop();
    // Threads the block's hook reached keep no hook (unless the program chained its own profile
    // function there: it keeps getting its events through ours).
    std::vector<PyThreadState*> chained;
    {
        std::lock_guard lock(s.threads_mutex);
        for (auto& ts : s.threads)
            if (!ts->finished && ts->chain.function != nullptr) chained.push_back(ts->owner);
    }
    PyThreadState* me = PyThreadState_Get();
    for (PyThreadState* t = PyInterpreterState_ThreadHead(me->interp); t != nullptr; t = PyThreadState_Next(t))
        if (t != me && std::find(chained.begin(), chained.end(), t) == chained.end()) remove_hook_from(t);
    PyObject* previous = s.threading_previous != nullptr ? s.threading_previous : Py_None;
    if (!set_threading_hook(previous, nullptr)) PyErr_Clear();
    Py_CLEAR(s.threading_previous);
}

void reset() {
    State& s = state();
    if (s.active) return;
    for (PyObject* code : s.held_code) Py_DECREF(code);
    s.held_code.clear();
    s.functions.clear();
    s.namings.clear();
    s.function_ids.clear();
    s.by_identity.clear();
    s.arcs.clear();
    s.arc_ids.clear();
    s.pair_ids.clear();
    for (auto& ts : s.threads) {
        std::fill(ts->function_depth.begin(), ts->function_depth.end(), 0);
        std::fill(ts->pair_depth.begin(), ts->pair_depth.end(), 0);
    }
    s.main_stack = nullptr;
    s.ns_per_tick = 1.0;
}

bool recording() { return state().active; }

bool restart_in_fork_child() {
    State& s = state();
    if (!s.active_at_fork) return false;
    ThreadStack* mine = t_stack;
    for (auto& ts : s.threads) {
        std::fill(ts->function_depth.begin(), ts->function_depth.end(), 0);
        std::fill(ts->pair_depth.begin(), ts->pair_depth.end(), 0);
        if (ts.get() == mine) continue;
        // Its thread is gone, and so is the thread state whose data stack its frames point into:
        // the references are left unreleased rather than touch freed frame memory.
        ts->stack.clear();
        ts->chain.clear();
        if (!ts->finished) {
            ts->finished = true;
            s.spare.push_back(ts.get());
        }
    }
    for (FunctionRecord& f : s.functions) f = FunctionRecord{};
    for (ArcRecord& a : s.arcs) a.calls = a.primitive_calls = a.inclusive = a.callee_self = 0;
    if (mine != nullptr) {
        uint64_t now = read_clock(s) - mine->offset;
        for (Activation& e : mine->stack) {
            e.start = now;
            e.children = 0;
            count_call(*mine, e.function, e.arc);
        }
        mine->last = now;
        s.main_stack = mine;
    }
    s.active = true;
    return true;
}

bool main_started() { return state().main_stack != nullptr; }

void name_functions(NameTable& names) {
    State& s = state();
    for (size_t i = 1; i < s.namings.size(); ++i) names.add(s.namings[i]);
}

Profile build_profile(const NameTable* names) {
    State& s = state();
    NameTable own;
    if (names == nullptr) {
        name_functions(own);
        own.finish();
        names = &own;
    }
    const char* long_name = s.options.clock == TracerClock::Cpu ? "CPU time (ns)" : "Wall time (ns)";
    Profile profile({EventType{"Time", long_name}});
    // Sums of bias-corrected times are signed (pop): one below zero is zero.
    auto ns = [&](uint64_t sum) -> uint64_t {
        auto ticks = static_cast<int64_t>(sum);
        if (ticks <= 0) return 0;
        return s.ns_per_tick == 1.0 ? ticks : static_cast<uint64_t>(std::llround(static_cast<double>(ticks) * s.ns_per_tick));
    };
    if (s.options.bias_correction && s.options.clock != TracerClock::Counter) {
        char text[160];
        std::snprintf(text, sizeof text, "%.1f ns per event subtracted (the profiler's own cost, measured at start-up; "
                      "--no-bias-correction for raw times)", static_cast<double>(s.bias) * s.ns_per_tick);
        profile.descriptions.emplace_back("Bias", text);
    }
    std::vector<FunctionId> ids(s.functions.size());
    for (size_t i = 1; i < s.functions.size(); ++i) {
        const FunctionRecord& f = s.functions[i];
        if (f.calls == 0) continue;  // a forked child's profile: only what ran after the fork
        const FunctionNaming& n = s.namings[i];
        const std::string& name = names->name_of(n);
        FunctionId id = profile.intern_function(name, profile.intern_file(n.file), profile.intern_object(n.object),
                                                Line(n.line));
        // pstats tools key a Python function by (file, first line, co_name), as cProfile writes it.
        if (!n.co_name.empty() && n.co_name != name) profile.function(id).pstats_name = n.co_name;
        ids[i] = id;
        profile.add_calls(id, f.calls, f.primitive_calls);
        uint64_t self = ns(f.self);
        profile.add_self_cost(id, Line(n.line), std::span<const uint64_t>(&self, 1));
        uint64_t inclusive = ns(f.inclusive);
        profile.add_inclusive(id, std::span<const uint64_t>(&inclusive, 1));
    }
    for (const ArcRecord& a : s.arcs) {
        if (a.caller == kRoot || a.calls == 0) continue;
        Arc& arc = profile.arc(ids[a.caller], Line(a.line), ids[a.callee]);
        arc.calls += a.calls;
        arc.primitive_calls += a.primitive_calls;
        uint64_t inclusive = ns(a.inclusive), callee_self = ns(a.callee_self);
        add_costs(arc.inclusive, std::span<const uint64_t>(&inclusive, 1));
        add_costs(arc.callee_self, std::span<const uint64_t>(&callee_self, 1));
    }
    return profile;
}

}  // namespace calltree::tracer

namespace calltree {
namespace {
class TracerCollector final : public Collector {
public:
    explicit TracerCollector(TracerOptions options) : options_(std::move(options)) {}
    bool start() override { return tracer::start(options_); }
    void stop() override { tracer::stop(); }
    void name_functions(NameTable& names) override { tracer::name_functions(names); }
    void add_to(Profile& profile, const NameTable& names) override {
        Profile own = tracer::build_profile(&names);
        for (auto& d : own.descriptions) profile.descriptions.push_back(d);
        profile.merge(own);
    }
    bool program_started() const override { return tracer::main_started(); }
    bool restart_in_fork_child() override { return tracer::restart_in_fork_child(); }

private:
    TracerOptions options_;
};
}  // namespace

std::unique_ptr<Collector> make_tracer_collector(const TracerOptions& options) {
    return std::make_unique<TracerCollector>(options);
}
}  // namespace calltree
