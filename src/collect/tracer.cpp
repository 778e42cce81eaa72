#include "collect/tracer.h"

#include <pthread.h>

#include <cmath>
#include <memory>
#include <unordered_map>
#include <vector>

#include "collect/alloc_recorder.h"
#include "collect/clock.h"
#include "collect/frame_access.h"
#include "collect/naming.h"
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

struct ThreadStack {
    std::vector<Activation> stack;
    // Recursion depth per function and per arc on this thread: inclusive time is added only
    // when the outermost activation ends, so recursion is never counted twice.
    std::vector<uint32_t> function_depth;
    std::vector<uint32_t> pair_depth;
    uint64_t last = 0;  // the latest clock reading on this thread
};

struct State {
    TracerOptions options;
    bool active = false;
    bool use_tsc = false;
    TscCalibration calibration;
    double ns_per_tick = 1.0;
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

    std::vector<std::unique_ptr<ThreadStack>> threads;
    ThreadStack* main_stack = nullptr;
};

// Never destroyed: callbacks may outlive static destructors. A namespace-scope pointer, not a
// function-local static, so the hot path reads it without an initialisation guard.
State* const g_state = new State();

inline State& state() { return *g_state; }

thread_local ThreadStack* t_stack = nullptr;

ThreadStack* attach_thread() {
    State& s = state();
    auto ts = std::make_unique<ThreadStack>();
    ts->stack.reserve(256);
    t_stack = ts.get();
    s.threads.push_back(std::move(ts));
    return t_stack;
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
    ts.function_depth.resize(s.functions.size() + 64, 0);
    ts.pair_depth.resize(s.pair_ids.size() + 256, 0);
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
    ArcRecord& a = s.arcs[arc];
    if (function >= ts.function_depth.size() || a.pair >= ts.pair_depth.size()) grow_depths(ts);

    FunctionRecord& f = s.functions[function];
    ++f.calls;
    if (ts.function_depth[function]++ == 0) ++f.primitive_calls;
    ++a.calls;
    if (ts.pair_depth[a.pair]++ == 0) ++a.primitive_calls;

    if (python) Py_INCREF(static_cast<PyObject*>(key));
    ts.stack.push_back(Activation{key, function, arc, now, 0, python});
    ts.last = now;
}

inline void pop(ThreadStack& ts, uint64_t now) {
    State& s = state();
    Activation e = ts.stack.back();
    ts.stack.pop_back();
    uint64_t total = now > e.start ? now - e.start : 0;
    uint64_t self = total > e.children ? total - e.children : 0;
    FunctionRecord& f = s.functions[e.function];
    ArcRecord& a = s.arcs[e.arc];
    f.self += self;
    a.callee_self += self;
    if (--ts.pair_depth[a.pair] == 0) a.inclusive += total;
    if (--ts.function_depth[e.function] == 0) f.inclusive += total;
    if (!ts.stack.empty()) ts.stack.back().children += total;
    if (e.python) Py_DECREF(static_cast<PyObject*>(e.key));
}

// When __main__'s top-level code has returned, the program is over on the main thread: what
// follows is interpreter shutdown (joining threads, which stay profiled, and atexit).
[[gnu::noinline]] void root_returned(ThreadStack& ts) {
    if (&ts == state().main_stack) PyEval_SetProfile(nullptr, nullptr);
}

// A return for `key`. Frames above it whose returns we never saw (the hook was switched off
// for a while) are closed first; a return for a frame entered before tracing began is ignored.
inline void leave(ThreadStack& ts, void* key, uint64_t now) {
    auto& stack = ts.stack;
    ts.last = now;
    if (stack.empty()) return;
    if (stack.back().key != key) {
        size_t i = stack.size();
        while (i > 0 && stack[i - 1].key != key) --i;
        if (i == 0) return;
        while (stack.size() > i) pop(ts, now);
    }
    pop(ts, now);
    if (stack.empty()) root_returned(ts);
}

template <class Clock>
int profile_callback(PyObject*, PyFrameObject* frame, int what, PyObject* arg) {
    uint64_t now = Clock::now();
    State& s = state();
    if (!s.active) return 0;
    // With --memory, the tracer's own allocations (tables, names at first sight) are not the
    // program's: one thread-local increment per event.
    memory::Guard not_the_program;
    ThreadStack* ts = t_stack != nullptr ? t_stack : attach_thread();
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
            if (PyCFunction_Check(arg)) leave(*ts, arg, now);
            break;
        default:
            break;
    }
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

}  // namespace

bool start(const TracerOptions& options) {
    State& s = state();
    s.options = options;
    switch (options.clock) {
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
    s.functions.emplace_back();  // kRoot
    s.namings.emplace_back().name = "<root>";
    s.hook = PyCFunction_New(&g_hook_def, nullptr);
    if (s.hook == nullptr) return false;
    PyObject* threading = PyImport_ImportModule("threading");
    if (threading == nullptr) return false;
    PyObject* result = PyObject_CallMethod(threading, "setprofile", "O", s.hook);
    Py_DECREF(threading);
    if (result == nullptr) return false;
    Py_DECREF(result);
    // A forked child is another process: it must not keep paying for (or mixing into) our profile.
    pthread_atfork(nullptr, nullptr, [] { state().active = false; });
    s.active = true;
    PyEval_SetProfile(wait_for_main, s.hook);
    return true;
}

void stop() {
    State& s = state();
    if (!s.active) return;
    uint64_t now = read_clock(s);
    s.active = false;
    PyEval_SetProfile(nullptr, nullptr);
    for (auto& ts : s.threads) {
        // CPU clocks are per thread: another thread's stack closes at its own last reading.
        bool own_clock = ts.get() == t_stack || s.options.clock != TracerClock::Cpu;
        uint64_t close_at = own_clock ? now : ts->last;
        while (!ts->stack.empty()) pop(*ts, close_at);
    }
    if (s.use_tsc) s.ns_per_tick = s.calibration.finish();
}

bool main_started() { return state().main_stack != nullptr; }

Profile build_profile() {
    State& s = state();
    const char* long_name = s.options.clock == TracerClock::Cpu ? "CPU time (ns)" : "Wall time (ns)";
    Profile profile({EventType{"Time", long_name}});
    auto ns = [&](uint64_t ticks) {
        return s.ns_per_tick == 1.0 ? ticks : static_cast<uint64_t>(std::llround(static_cast<double>(ticks) * s.ns_per_tick));
    };
    std::vector<FunctionId> ids(s.functions.size());
    std::vector<std::string> names = display_names(s.namings);
    for (size_t i = 1; i < s.functions.size(); ++i) {
        const FunctionRecord& f = s.functions[i];
        const FunctionNaming& n = s.namings[i];
        FunctionId id = profile.intern_function(names[i], profile.intern_file(n.file), profile.intern_object(n.object),
                                                Line(n.line));
        // pstats tools key a Python function by (file, first line, co_name), as cProfile writes it.
        if (!n.co_name.empty() && n.co_name != names[i]) profile.function(id).pstats_name = n.co_name;
        ids[i] = id;
        profile.add_calls(id, f.calls, f.primitive_calls);
        uint64_t self = ns(f.self);
        profile.add_self_cost(id, Line(n.line), std::span<const uint64_t>(&self, 1));
        uint64_t inclusive = ns(f.inclusive);
        profile.add_inclusive(id, std::span<const uint64_t>(&inclusive, 1));
    }
    for (const ArcRecord& a : s.arcs) {
        if (a.caller == kRoot) continue;
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
    void add_to(Profile& profile) override { profile.merge(tracer::build_profile()); }
    bool program_started() const override { return tracer::main_started(); }

private:
    TracerOptions options_;
};
}  // namespace

std::unique_ptr<Collector> make_tracer_collector(const TracerOptions& options) {
    return std::make_unique<TracerCollector>(options);
}
}  // namespace calltree
