// calltree._calltree: the Python API's core (python/calltree/__init__.py wraps it). The same
// collectors (src/collect) and writers (formats/) as the `calltree` command, built into an
// extension module that a running python3 imports; nothing here records or writes on its own.
//
// What differs from a run under the command: recording starts and stops inside the program
// (tracer::start_block / stop_block), so the frames open when it starts are the profile's roots;
// the module is dlopen'ed, not preloaded, so it has none of the interposers (malloc, memcpy,
// sigaction, execve, _exit): the memory collector sees Python's allocator domains only, the
// sampler reads stacks with process_vm_readv, and --subprocesses is refused.
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlfcn.h>
#include <frameobject.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli/open_viewer.h"
#include "cli/option_values.h"
#include "cli/profile_output.h"
#include "collect/collector.h"
#include "collect/memory/memory_collector.h"
#include "collect/sampler/sampler.h"
#include "collect/tracer/tracer.h"
#include "formats/output_file.h"
#include "formats/pstats_reader.h"
#include "process/fault_guard.h"

namespace {

using namespace calltree;

// Files whose frames are the API's own (calltree/__init__.py): skipped when the roots are taken.
PyObject* g_api_files = nullptr;  // a tuple of str
// Whether this process runs under the `calltree` command (libcalltree.so preloaded).
bool g_under_command = false;
PyObject* g_recording = nullptr;  // the Profile recording now (borrowed), or null

// The innermost frame that is not the API's: the code that called start() or stop(). A new
// reference, or null if there is no Python frame at all.
PyFrameObject* user_frame() {
    PyFrameObject* f = PyEval_GetFrame();
    Py_XINCREF(f);
    while (f != nullptr && g_api_files != nullptr) {
        PyCodeObject* code = PyFrame_GetCode(f);
        int api = PySequence_Contains(g_api_files, code->co_filename);
        Py_DECREF(code);
        if (api != 1) {
            PyErr_Clear();
            break;
        }
        PyFrameObject* back = PyFrame_GetBack(f);
        Py_DECREF(f);
        f = back;
    }
    return f;
}

// The tracer started and stopped for a block (collector.h's shape, as the command composes it).
class BlockTracer final : public Collector {
public:
    BlockTracer(TracerOptions options, bool roots) : options_(std::move(options)), roots_(roots) {}
    bool start() override {
        PyFrameObject* caller = roots_ ? user_frame() : nullptr;
        bool ok = tracer::start_block(options_, caller);
        Py_XDECREF(caller);
        return ok;
    }
    void stop() override {
        PyFrameObject* caller = user_frame();
        tracer::stop_block(caller);
        Py_XDECREF(caller);
    }
    void name_functions(NameTable& names) override { tracer::name_functions(names); }
    void add_to(Profile& profile, const NameTable& names) override {
        Profile own = tracer::build_profile(&names);
        for (auto& d : own.descriptions) profile.descriptions.push_back(d);
        profile.merge(own);
    }

private:
    TracerOptions options_;
    bool roots_;
};

enum class State { New, Recording, Stopped };

struct ProfileObject {
    PyObject_HEAD
    State state;
    bool sample, memory, bias_correction;
    TracerClock clock;
    uint64_t interval_ns, memory_rate;
    Collectors* collectors;  // while recording
    calltree::Profile* result;  // once stopped
    PyObject* weakrefs;
};

std::string cwd() {
    std::error_code ec;
    return std::filesystem::current_path(ec).string();
}

// Converts a C++ failure into the Python exception a caller expects, with calltree's message.
void set_error(PyObject* type, const std::string& message) { PyErr_SetString(type, ("calltree: " + message).c_str()); }

int Profile_init(ProfileObject* self, PyObject* args, PyObject* kwargs) {
    static const char* kwlist[] = {"sample", "interval", "clock", "memory", "memory_rate", "bias_correction", "subprocesses", nullptr};
    int sample = 0, memory = 0, bias = 1, subprocesses = 0;
    const char* interval = "1ms";
    const char* clock = "wall";
    PyObject* rate = nullptr;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|$psspOpp:Profile", const_cast<char**>(kwlist), &sample, &interval,
                                     &clock, &memory, &rate, &bias, &subprocesses))
        return -1;
    if (self->state != State::New) {
        set_error(PyExc_RuntimeError, "Profile.__init__ called twice");
        return -1;
    }
    if (subprocesses) {
        set_error(PyExc_ValueError,
                  "subprocesses=True needs the program started under the calltree command (`calltree --subprocesses "
                  "prog.py`, or `python3 -m calltree --subprocesses prog.py`): children are profiled through an exec "
                  "hook in calltree's preloaded library, which a program that is already running does not have");
        return -1;
    }
    std::string rate_text = "32KiB";
    if (rate != nullptr && rate != Py_None) {
        PyObject* text = PyObject_Str(rate);
        if (text == nullptr) return -1;
        rate_text = PyUnicode_AsUTF8(text);
        Py_DECREF(text);
    }
    try {
        self->interval_ns = parse_interval(interval);
        self->memory_rate = parse_memory_rate(rate_text);
    } catch (const std::invalid_argument& e) {
        set_error(PyExc_ValueError, e.what());
        return -1;
    }
    std::string c = clock;
    if (c == "wall")
        self->clock = TracerClock::Wall;
    else if (c == "cpu")
        self->clock = TracerClock::Cpu;
    else if (c == "counter")
        self->clock = TracerClock::Counter;
    else {
        set_error(PyExc_ValueError, "clock must be 'wall', 'cpu' or 'counter', not '" + c + "'");
        return -1;
    }
    if (sample && c != "wall") {
        set_error(PyExc_ValueError, "clock applies to the deterministic mode; sample=True measures wall time");
        return -1;
    }
    self->sample = sample;
    self->memory = memory;
    self->bias_correction = bias;
    return 0;
}

void Profile_dealloc(ProfileObject* self) {
    if (self->state == State::Recording) {
        // The last reference went while recording (a Profile started and dropped): stop quietly.
        for (auto& c : *self->collectors) c->stop();
        tracer::reset();
        g_recording = nullptr;
    }
    if (self->weakrefs != nullptr) PyObject_ClearWeakRefs(reinterpret_cast<PyObject*>(self));
    delete self->collectors;
    delete self->result;
    Py_TYPE(self)->tp_free(reinterpret_cast<PyObject*>(self));
}

PyObject* start_recording(ProfileObject* self, bool roots) {
    if (g_under_command) {
        set_error(PyExc_RuntimeError,
                  "this program runs under the calltree command, which profiles all of it; a Profile cannot record "
                  "inside it");
        return nullptr;
    }
    if (self->state != State::New) {
        set_error(PyExc_RuntimeError, self->state == State::Recording ? "this Profile is already recording"
                                                                      : "this Profile has already recorded; make a new one");
        return nullptr;
    }
    if (g_recording != nullptr || tracer::recording()) {
        set_error(PyExc_RuntimeError, "a profile is already recording in this process (calltree records one at a time)");
        return nullptr;
    }
    if (self->memory && !memory_mode_available() &&
        PyErr_WarnEx(PyExc_RuntimeWarning,
                     "calltree: memory=True inside a running program sees Python objects only (the PyMem/PyObject "
                     "allocator domains); native malloc and memcpy (numpy arrays, extensions) are seen only when the "
                     "program is started under `calltree --memory`",
                     1) < 0)
        return nullptr;
    // A SIGSEGV/SIGBUS handler the program set since an earlier block replaced the fault guard:
    // from now on every stack read goes by system call (fault_guard.h).
    fault_guard::turn_off_if_replaced();
    auto collectors = std::make_unique<Collectors>();
    if (self->sample) {
        SamplerOptions options;
        options.interval_ns = self->interval_ns;
        options.cwd = cwd();
        options.in_running_program = true;
        collectors->push_back(make_sampler_collector(options));
    } else {
        TracerOptions options;
        options.clock = self->clock;
        options.cwd = cwd();
        options.bias_correction = self->bias_correction;
        collectors->push_back(std::make_unique<BlockTracer>(options, roots));
    }
    if (self->memory) {
        MemoryOptions options;
        options.rate = self->memory_rate;
        options.cwd = cwd();
        options.in_running_program = true;
        collectors->push_back(make_memory_collector(options));
    }
    // Recording from here; a collector that cannot start leaves nothing behind.
    size_t started = 0;
    try {
        for (auto& c : *collectors) {
            if (!c->start()) break;
            ++started;
        }
    } catch (const std::bad_alloc&) {
        PyErr_NoMemory();
    }
    if (started < collectors->size()) {
        for (size_t i = 0; i < started; ++i) (*collectors)[i]->stop();
        tracer::reset();
        if (!PyErr_Occurred()) set_error(PyExc_RuntimeError, "could not start profiling");
        return nullptr;
    }
    self->collectors = collectors.release();
    self->state = State::Recording;
    g_recording = reinterpret_cast<PyObject*>(self);
    Py_RETURN_NONE;
}

PyObject* Profile_start(ProfileObject* self, PyObject*) { return start_recording(self, true); }

// "python3 prog.py args", as the process was started: the profile's `cmd:` line.
std::string command_line() {
    std::string text;
    PyObject* argv = PySys_GetObject("orig_argv");
    if (argv == nullptr || !PyList_Check(argv)) return "python3";
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(argv); ++i) {
        const char* arg = PyUnicode_AsUTF8(PyList_GET_ITEM(argv, i));
        if (arg == nullptr) {
            PyErr_Clear();
            continue;
        }
        if (!text.empty()) text += ' ';
        text += arg;
    }
    return text;
}

PyObject* Profile_stop(ProfileObject* self, PyObject*) {
    if (self->state == State::New) {
        set_error(PyExc_RuntimeError, "this Profile was never started");
        return nullptr;
    }
    if (self->state == State::Stopped) Py_RETURN_NONE;
    // A propagating exception (__exit__ of a block that raised) must come out unchanged.
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    for (auto& c : *self->collectors) c->stop();
    self->state = State::Stopped;
    g_recording = nullptr;
    bool failed = false;
    try {
        auto profile = std::make_unique<calltree::Profile>();
        NameTable names;
        for (auto& c : *self->collectors) c->name_functions(names);
        names.finish();
        for (auto& c : *self->collectors) c->add_to(*profile, names);
        profile->command = command_line();
        profile->pid = static_cast<uint64_t>(getpid());
        self->result = profile.release();
    } catch (const std::exception& e) {
        failed = true;
        PyErr_Restore(type, value, traceback);
        type = value = traceback = nullptr;
        set_error(PyExc_RuntimeError, std::string("could not build the profile: ") + e.what());
    }
    tracer::reset();
    delete self->collectors;
    self->collectors = nullptr;
    if (failed) return nullptr;
    PyErr_Restore(type, value, traceback);
    Py_RETURN_NONE;
}

std::string expand_pid(std::string path) {
    std::string pid = std::to_string(getpid());
    for (size_t at = path.find("%p"); at != std::string::npos; at = path.find("%p", at + pid.size())) path.replace(at, 2, pid);
    return path;
}

PyObject* Profile_write(ProfileObject* self, PyObject* args, PyObject* kwargs) {
    static const char* kwlist[] = {"path", "format", nullptr};
    PyObject* path_arg = nullptr;
    const char* format_name = "callgrind";
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O&|s:write", const_cast<char**>(kwlist), PyUnicode_FSConverter,
                                     &path_arg, &format_name))
        return nullptr;
    std::string path = expand_pid(PyBytes_AS_STRING(path_arg));
    Py_DECREF(path_arg);
    if (self->state != State::Stopped || self->result == nullptr) {
        set_error(PyExc_RuntimeError, self->state == State::New ? "this Profile was never started; nothing to write"
                                                                : "stop() the Profile before writing it");
        return nullptr;
    }
    OutputFormat format;
    try {
        format = parse_output_format(format_name);
        if (format == OutputFormat::Pstats && self->sample)
            throw std::invalid_argument("a sampled profile cannot be written as pstats: pstats has one time per function "
                                        "and no lines or event types; use callgrind");
        if (format == OutputFormat::Pstats && self->memory)
            throw std::invalid_argument("a profile with memory events cannot be written as pstats: pstats has no memory "
                                        "events; use callgrind");
    } catch (const std::invalid_argument& e) {
        set_error(PyExc_ValueError, e.what());
        return nullptr;
    }
    if (path != "-") {
        std::error_code ec;
        auto absolute = std::filesystem::absolute(path, ec);
        if (!ec) path = absolute.string();
    }
    try {
        Py_BEGIN_ALLOW_THREADS
        save_profile(*self->result, path, format);
        Py_END_ALLOW_THREADS
    } catch (const std::exception& e) {
        set_error(PyExc_OSError, e.what());
        return nullptr;
    }
    return PyUnicode_DecodeFSDefault(path.c_str());
}

PyObject* Profile_run(ProfileObject* self, PyObject* args, PyObject* kwargs) {
    static const char* kwlist[] = {"code", "globals", "locals", nullptr};
    PyObject *code, *globals = Py_None, *locals = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|OO:run", const_cast<char**>(kwlist), &code, &globals, &locals))
        return nullptr;
    PyObject* compiled;
    if (PyCode_Check(code)) {
        Py_INCREF(code);
        compiled = code;
    } else {
        const char* source = PyUnicode_AsUTF8(code);
        if (source == nullptr) return nullptr;
        compiled = Py_CompileString(source, "<string>", Py_file_input);
        if (compiled == nullptr) return nullptr;
    }
    if (globals == Py_None) {
        PyObject* main = PyImport_AddModule("__main__");  // borrowed
        globals = main != nullptr ? PyModule_GetDict(main) : nullptr;
        if (globals == nullptr) {
            Py_DECREF(compiled);
            return nullptr;
        }
    }
    if (!PyDict_Check(globals)) {
        Py_DECREF(compiled);
        PyErr_SetString(PyExc_TypeError, "run(): globals must be a dict");
        return nullptr;
    }
    if (locals == Py_None) locals = globals;
    PyObject* started = start_recording(self, false);
    if (started == nullptr) {
        Py_DECREF(compiled);
        return nullptr;
    }
    Py_DECREF(started);
    // Called from C: no call event for the code's own frame's caller; the code's frame is the root.
    PyObject* result = PyEval_EvalCode(compiled, globals, locals);
    Py_DECREF(compiled);
    PyObject* stopped = Profile_stop(self, nullptr);
    if (stopped == nullptr) {
        Py_XDECREF(result);
        return nullptr;
    }
    Py_DECREF(stopped);
    return result;
}

calltree::Profile* stopped_result(ProfileObject* self) {
    if (self->result == nullptr) set_error(PyExc_RuntimeError, "the Profile has not recorded yet (start() and stop() it first)");
    return self->result;
}

PyObject* costs_tuple(const Costs& costs, size_t n) {
    PyObject* t = PyTuple_New(static_cast<Py_ssize_t>(n));
    if (t == nullptr) return nullptr;
    for (size_t i = 0; i < n; ++i)
        PyTuple_SET_ITEM(t, static_cast<Py_ssize_t>(i), PyLong_FromUnsignedLongLong(i < costs.size() ? costs[i] : 0));
    return t;
}

PyObject* Profile_events(ProfileObject* self, PyObject*) {
    calltree::Profile* p = stopped_result(self);
    if (p == nullptr) return nullptr;
    PyObject* list = PyList_New(0);
    for (const EventType& e : p->events()) {
        PyObject* item = Py_BuildValue("(ss)", e.name.c_str(), e.long_name.c_str());
        if (item == nullptr || PyList_Append(list, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(list);
            return nullptr;
        }
        Py_DECREF(item);
    }
    return list;
}

PyObject* Profile_functions(ProfileObject* self, PyObject*) {
    calltree::Profile* p = stopped_result(self);
    if (p == nullptr) return nullptr;
    const size_t n = p->event_count();
    PyObject* list = PyList_New(0);
    for (const Function& f : p->functions()) {
        Costs self_costs(n, 0);
        for (const auto& [line, costs] : f.self_by_line)
            for (size_t i = 0; i < n && i < costs.size(); ++i) self_costs[i] += costs[i];
        PyObject* item = Py_BuildValue("(s s s K N N)", f.name.c_str(), p->file(f.file).c_str(), p->object(f.object).c_str(),
                                       static_cast<unsigned long long>(f.calls), costs_tuple(self_costs, n),
                                       costs_tuple(f.inclusive, n));
        if (item == nullptr || PyList_Append(list, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(list);
            return nullptr;
        }
        Py_DECREF(item);
    }
    return list;
}

PyObject* Profile_merge(ProfileObject* self, PyObject* other_arg) {
    if (!PyObject_TypeCheck(other_arg, Py_TYPE(self))) {
        PyErr_SetString(PyExc_TypeError, "merge() takes a Profile");
        return nullptr;
    }
    auto* other = reinterpret_cast<ProfileObject*>(other_arg);
    if (stopped_result(other) == nullptr) return nullptr;
    if (self->state == State::Recording) {
        set_error(PyExc_RuntimeError, "stop() the Profile before merging into it");
        return nullptr;
    }
    if (self->result == nullptr) {
        self->result = new calltree::Profile(*other->result);
        self->sample = other->sample;
        self->memory = other->memory;
    } else {
        self->result->merge(*other->result);
    }
    self->state = State::Stopped;
    Py_RETURN_NONE;
}

PyObject* Profile_enter(ProfileObject* self, PyObject*) {
    PyObject* r = Profile_start(self, nullptr);
    if (r == nullptr) return nullptr;
    Py_DECREF(r);
    Py_INCREF(self);
    return reinterpret_cast<PyObject*>(self);
}

PyObject* Profile_exit(ProfileObject* self, PyObject*) {
    PyObject* r = Profile_stop(self, nullptr);
    if (r == nullptr) return nullptr;
    Py_DECREF(r);
    Py_RETURN_FALSE;
}

PyObject* Profile_get_recording(ProfileObject* self, void*) { return PyBool_FromLong(self->state == State::Recording); }

PyDoc_STRVAR(start_doc, "start()\n--\n\n"
"Start recording.  The calls open in the calling thread become the\n"
"profile's roots; raise RuntimeError if another profile is recording.");
PyDoc_STRVAR(stop_doc, "stop()\n--\n\n"
"Stop recording and build the profile; write() can then save it.\n"
"Calling stop() again does nothing.");
PyDoc_STRVAR(write_doc, "write(path, format='callgrind')\n--\n\n"
"Write the stopped profile to *path* ('%p' becomes the process id) and\n"
"return its absolute path.  *format* is 'callgrind' or 'pstats'.  The\n"
"file is replaced atomically: a failed write leaves no file behind.");

PyDoc_STRVAR(run_doc, "run(code, globals=None, locals=None)\n--\n\n"
"Record the execution of *code* (a code object or a string) in *globals*\n"
"(by default __main__'s) and *locals*, and return its result.  The code's\n"
"own frame is the profile's root: the caller of run() is not shown.");
PyDoc_STRVAR(events_doc, "events()\n--\n\n"
"Return the recorded event types as a list of (name, description) pairs,\n"
"in the order of the costs that functions() returns.");
PyDoc_STRVAR(functions_doc, "functions()\n--\n\n"
"Return one (name, file, object, calls, self, inclusive) tuple per\n"
"function, *self* and *inclusive* being tuples of costs per event.");
PyDoc_STRVAR(merge_doc, "merge(other)\n--\n\n"
"Add the stopped Profile *other* into this one (a Profile that never\n"
"recorded becomes a copy of it).");

PyMethodDef Profile_methods[] = {
    {"start", reinterpret_cast<PyCFunction>(Profile_start), METH_NOARGS, start_doc},
    {"stop", reinterpret_cast<PyCFunction>(Profile_stop), METH_NOARGS, stop_doc},
    {"write", reinterpret_cast<PyCFunction>(reinterpret_cast<void*>(Profile_write)), METH_VARARGS | METH_KEYWORDS, write_doc},
    {"run", reinterpret_cast<PyCFunction>(reinterpret_cast<void*>(Profile_run)), METH_VARARGS | METH_KEYWORDS, run_doc},
    {"events", reinterpret_cast<PyCFunction>(Profile_events), METH_NOARGS, events_doc},
    {"functions", reinterpret_cast<PyCFunction>(Profile_functions), METH_NOARGS, functions_doc},
    {"merge", reinterpret_cast<PyCFunction>(Profile_merge), METH_O, merge_doc},
    {"__enter__", reinterpret_cast<PyCFunction>(Profile_enter), METH_NOARGS, "Start recording; return self."},
    {"__exit__", reinterpret_cast<PyCFunction>(Profile_exit), METH_VARARGS, "Stop recording; exceptions propagate."},
    {nullptr, nullptr, 0, nullptr},
};

PyGetSetDef Profile_getset[] = {
    {"recording", reinterpret_cast<getter>(Profile_get_recording), nullptr, "True between start() and stop().", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

PyDoc_STRVAR(Profile_doc,
"Profile(*, sample=False, interval='1ms', clock='wall', memory=False,\n"
"        memory_rate='32KiB', bias_correction=True, subprocesses=False)\n"
"--\n\n"
"A recording made by calltree's own collectors, the ones the calltree\n"
"command uses.  By default every Python and C call is recorded with its\n"
"caller, call-site line, count and times; sample=True samples each\n"
"thread's stack every *interval* instead; memory=True adds allocation\n"
"events.  The keyword arguments mean what the command's options of the\n"
"same names mean.  Use start() and stop(), or the profile as a context\n"
"manager, then write().");

PyTypeObject ProfileType = [] {
    PyTypeObject t{PyVarObject_HEAD_INIT(nullptr, 0)};
    t.tp_name = "calltree.Profile";
    t.tp_basicsize = sizeof(ProfileObject);
    t.tp_dealloc = reinterpret_cast<destructor>(Profile_dealloc);
    t.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE;
    t.tp_doc = Profile_doc;
    t.tp_methods = Profile_methods;
    t.tp_getset = Profile_getset;
    t.tp_init = reinterpret_cast<initproc>(Profile_init);
    t.tp_new = [](PyTypeObject* type, PyObject*, PyObject*) -> PyObject* {
        auto* self = reinterpret_cast<ProfileObject*>(type->tp_alloc(type, 0));
        if (self == nullptr) return nullptr;
        self->state = State::New;
        self->sample = self->memory = false;
        self->bias_correction = true;
        self->clock = TracerClock::Wall;
        self->interval_ns = 1'000'000;
        self->memory_rate = 32 * 1024;
        self->collectors = nullptr;
        self->result = nullptr;
        self->weakrefs = nullptr;
        return reinterpret_cast<PyObject*>(self);
    };
    t.tp_weaklistoffset = offsetof(ProfileObject, weakrefs);
    return t;
}();

// convert(input, output, format, call_sites, command): a pstats file to `format`, as
// `calltree convert` does; returns the absolute output path.
PyObject* convert(PyObject*, PyObject* args) {
    PyObject *input_arg, *output_arg;
    const char* format_name;
    int call_sites;
    const char* command;
    if (!PyArg_ParseTuple(args, "O&O&sps:convert", PyUnicode_FSConverter, &input_arg, PyUnicode_FSConverter, &output_arg,
                          &format_name, &call_sites, &command))
        return nullptr;
    std::string input = PyBytes_AS_STRING(input_arg), output = PyBytes_AS_STRING(output_arg);
    Py_DECREF(input_arg);
    Py_DECREF(output_arg);
    std::string error;
    PyObject* error_type = PyExc_ValueError;
    Py_BEGIN_ALLOW_THREADS
    try {
        OutputFormat format = parse_output_format(format_name);
        check_not_input(output, input);
        try {
            PstatsOptions options;
            options.locate_call_sites = call_sites;
            calltree::Profile profile = read_pstats_file(input, options);
            profile.command = command;
            try {
                save_profile(profile, output, format, /*durable=*/false);
            } catch (const std::exception& e) {
                error_type = PyExc_OSError;
                error = e.what();
            }
        } catch (const std::exception& e) {
            if (error.empty()) error = input + ": " + e.what();
        }
    } catch (const std::exception& e) {
        error = e.what();
    }
    Py_END_ALLOW_THREADS
    if (!error.empty()) {
        set_error(error_type, error);
        return nullptr;
    }
    std::error_code ec;
    auto absolute = std::filesystem::absolute(output, ec);
    return PyUnicode_DecodeFSDefault((ec ? output : absolute.string()).c_str());
}

PyObject* open_in_viewer(PyObject*, PyObject* arg) {
    PyObject* path;
    if (!PyUnicode_FSConverter(arg, &path)) return nullptr;
    std::string p = PyBytes_AS_STRING(path);
    Py_DECREF(path);
    open_viewer(p);
    Py_RETURN_NONE;
}

PyObject* recording(PyObject*, PyObject*) { return PyBool_FromLong(g_recording != nullptr || tracer::recording()); }

PyObject* set_api_files(PyObject*, PyObject* files) {
    if (!PyTuple_Check(files)) {
        PyErr_SetString(PyExc_TypeError, "a tuple of file names");
        return nullptr;
    }
    Py_INCREF(files);
    Py_XSETREF(g_api_files, files);
    Py_RETURN_NONE;
}

PyMethodDef module_methods[] = {
    {"convert", convert, METH_VARARGS, "convert(input, output, format, call_sites, command): calltree convert's core."},
    {"open_viewer", open_in_viewer, METH_O, "open_viewer(path): start KCachegrind (or QCachegrind) on path."},
    {"recording", recording, METH_NOARGS, "recording(): whether a profile records in this process."},
    {"_set_api_files", set_api_files, METH_O, "The files whose frames are the API's own."},
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "calltree._calltree",
                          "calltree's collectors and writers, for the calltree package.", -1, module_methods,
                          nullptr, nullptr, nullptr, nullptr};

// libcalltree.so preloaded (the calltree command) defines __libc_start_main before libc.
bool under_command() {
    void* symbol = dlsym(RTLD_DEFAULT, "__libc_start_main");
    Dl_info info{};
    if (symbol == nullptr || dladdr(symbol, &info) == 0 || info.dli_fname == nullptr) return false;
    const char* base = std::strrchr(info.dli_fname, '/');
    // libcalltree.so, or a per-version build's libcalltree-3.X.so.
    return std::strncmp(base != nullptr ? base + 1 : info.dli_fname, "libcalltree", 11) == 0;
}

}  // namespace

PyMODINIT_FUNC PyInit__calltree() {
    if (PyType_Ready(&ProfileType) < 0) return nullptr;
    PyObject* m = PyModule_Create(&module_def);
    if (m == nullptr) return nullptr;
    g_under_command = under_command();
    Py_INCREF(&ProfileType);
    if (PyModule_AddObject(m, "Profile", reinterpret_cast<PyObject*>(&ProfileType)) < 0 ||
        PyModule_AddObject(m, "under_command", PyBool_FromLong(g_under_command)) < 0 ||
        PyModule_AddStringConstant(m, "python_version", CALLTREE_PYTHON_VERSION) < 0 ||
        PyModule_AddObject(m, "native_memory", PyBool_FromLong(memory_mode_available())) < 0) {
        Py_DECREF(m);
        return nullptr;
    }
    return m;
}
