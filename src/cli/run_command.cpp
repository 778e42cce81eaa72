#include "cli/run_command.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <new>
#include <iostream>
#include <algorithm>
#include <set>

#include "cli/open_viewer.h"
#include "cli/option_values.h"
#include "cli/profile_output.h"
#include "collect/memory/memory_collector.h"
#include "collect/sampler/sampler.h"
#include "cpython/boundary.h"
#include "collect/tracer/tracer.h"
#include "formats/output_file.h"
#include "runner/child_processes.h"
#include "runner/interpreter.h"
#include "runner/self_path.h"

namespace calltree {

namespace {

std::string expand_pid(std::string path) {
    std::string pid = std::to_string(getpid());
    for (size_t at = path.find("%p"); at != std::string::npos; at = path.find("%p", at + pid.size()))
        path.replace(at, 2, pid);
    return path;
}

// python3's own message and status for a script it cannot open.
bool check_script(const Program& program) {
    if (program.kind != Program::Kind::Script || program.target == "-") return true;
    FILE* f = std::fopen(program.target.c_str(), "r");
    if (f != nullptr) {
        std::fclose(f);
        return true;
    }
    int err = errno;
    std::error_code ec;
    std::string shown = std::filesystem::absolute(program.target, ec).string();
    std::cerr << "calltree: can't open file '" << (ec ? program.target : shown) << "': [Errno " << err << "] "
              << std::strerror(err) << "\n";
    return false;
}

// Where a child's profile goes: the output template when it names the pid, else the parent's
// own file with `.%p` appended, so the children's files sort next to it. Without -o, or with
// `-o -` (children cannot share the program's stdout), the default name callgrind.out.<pid>.
std::string child_template(const RunOptions& options, const std::string& parent_path, OutputFormat format) {
    std::string pattern = options.output;
    if (pattern.empty() || pattern == "-") pattern = format == OutputFormat::Pstats ? "calltree.%p.prof" : "callgrind.out.%p";
    else if (pattern.find("%p") == std::string::npos) pattern = parent_path + ".%p";
    std::error_code ec;
    auto absolute = std::filesystem::absolute(pattern, ec);
    return ec ? pattern : absolute.string();
}

// The options every child calltree gets: the parent's own (--subprocesses among them, see
// RunOptions::inherited), and the child template as its output.
std::vector<std::string> child_options(const RunOptions& options, const std::string& pattern) {
    std::vector<std::string> args = options.inherited;
    args.push_back("--output=" + pattern);
    return args;
}

// The parent's final line names the children's files after its own, and the children that have
// no profile (each said why on stderr).
std::string children_message(child_processes::Reports reports) {
    std::string text;
    auto& paths = reports.profiles;
    if (!paths.empty()) {
        std::sort(paths.begin(), paths.end());
        text += "; " + std::to_string(paths.size()) + " child profile" + (paths.size() == 1 ? "" : "s") + ":";
        constexpr size_t kShown = 4;
        for (size_t i = 0; i < paths.size() && i < kShown; ++i) text += " " + paths[i];
        if (paths.size() > kShown) text += " ...";
    }
    auto& pids = reports.unprofiled;
    if (!pids.empty()) {
        std::sort(pids.begin(), pids.end(), [](const std::string& a, const std::string& b) {
            return a.size() != b.size() ? a.size() < b.size() : a < b;
        });
        text += "; " + std::to_string(pids.size()) + (pids.size() == 1 ? " child" : " children") +
                " without a profile: pid" + (pids.size() == 1 ? "" : "s");
        constexpr size_t kShown = 8;
        for (size_t i = 0; i < pids.size() && i < kShown; ++i) text += " " + pids[i];
        if (pids.size() > kShown) text += " ...";
    }
    return text;
}

// The collectors the options ask for, in the order their events appear in the file.
Collectors make_collectors(const RunOptions& options) {
    Collectors collectors;
    std::error_code ec;
    std::string cwd = std::filesystem::current_path(ec).string();
    MemoryOptions memory_options;
    memory_options.rate = parse_memory_rate(options.memory_rate);
    memory_options.cwd = cwd;
    if (options.memory && !memory_mode_available())
        throw std::invalid_argument("--memory is not available in sanitizer builds (their runtime replaces malloc)");
    // The sampler and the memory hooks read the interpreter's internals from outside the C API:
    // on 3.13+ the offsets compiled in must be the running interpreter's own (cpython/boundary.h).
    if (options.sample || options.memory) {
        if (const char* mismatch = ct_layout_mismatch())
            throw std::invalid_argument(std::string(options.sample ? "--sample" : "--memory") +
                                        " cannot read this interpreter's internals: " + mismatch);
    }
    if (options.sample) {
        SamplerOptions sampler_options;
        sampler_options.interval_ns = parse_interval(options.interval);
        sampler_options.cwd = cwd;
        collectors.push_back(make_sampler_collector(sampler_options));
    } else {
        TracerOptions tracer_options;
        tracer_options.clock = options.clock == "cpu"       ? TracerClock::Cpu
                               : options.clock == "counter" ? TracerClock::Counter
                                                            : TracerClock::Wall;
        tracer_options.cwd = cwd;
        tracer_options.bias_correction = !options.no_bias_correction;
        collectors.push_back(make_tracer_collector(tracer_options));
    }
    if (options.memory) collectors.push_back(make_memory_collector(memory_options));
    return collectors;
}

}  // namespace

int run_profiled(const RunOptions& options, const std::string& command_line, int, char**) {
    OutputFormat format = parse_output_format(options.format);
    Collectors collectors;
    try {
        if (options.sample && format == OutputFormat::Pstats)
            throw std::invalid_argument(
                "--sample cannot write --format pstats: pstats has one time per function and no lines or "
                "event types; use callgrind");
        if (options.memory && format == OutputFormat::Pstats)
            throw std::invalid_argument("--memory cannot write --format pstats: pstats has no memory events; use callgrind");
        collectors = make_collectors(options);
    } catch (const std::invalid_argument& e) {
        std::cerr << "calltree: " << e.what() << "\n";
        return 2;
    }
    const bool is_child = !options.child_list.empty();
    std::string path = options.output;
    if (path.empty()) path = format == OutputFormat::Pstats ? "calltree.%p.prof" : "callgrind.out.%p";
    path = is_child ? child_processes::child_output(path) : expand_pid(path);
    if (path != "-") {
        std::error_code ec;
        auto absolute = std::filesystem::absolute(path, ec);
        if (!ec) path = absolute.string();
    }
    // The children's file names, and the list they report them in (the top-level calltree's).
    std::string pattern = is_child ? options.output : child_template(options, path, format);
    std::string list = options.child_list;
    try {
        check_output_writable(path);
        if (options.subprocesses && !is_child) list = child_processes::create_list();
    } catch (const std::exception& e) {
        // A child whose profile cannot be written still runs, as python3 alone would run it.
        if (is_child) return child_processes::run_unprofiled(list, options.program, e.what(), python_executable());
        std::cerr << "calltree: " << e.what() << "\n";
        return 2;
    }
    if (!check_script(options.program)) return 2;
    if (options.subprocesses) child_processes::enable({child_options(options, pattern), list});
    const pid_t top_pid = getpid();
    const bool helper = is_child && child_processes::is_multiprocessing_helper(options.program);

    RunHooks hooks;
    hooks.start = [&] {
        try {
            for (auto& c : collectors)
                if (!c->start()) return false;
        } catch (const std::bad_alloc&) {
            std::cerr << "calltree: not enough memory to start profiling (is the address space limited? ulimit -v)"
                      << std::endl;
            return false;
        }
        return true;
    };
    hooks.stop = [&] {
        for (auto& c : collectors) c->stop();
    };
    hooks.finish = [&]() -> bool {
        // python3 already said why (no such module, a syntax error...): an empty profile would
        // only be clutter to clean up.
        for (auto& c : collectors)
            if (!c->program_started()) return true;
        // A forked child names its own file; every child reports it to the top-level calltree.
        // multiprocessing's helpers write nothing; the processes they fork write their own.
        if (helper && getpid() == top_pid) return true;
        bool child = is_child || getpid() != top_pid;
        std::string out = getpid() != top_pid ? child_processes::child_output(pattern) : path;
        try {
            Profile profile;
            NameTable names;
            for (auto& c : collectors) c->name_functions(names);
            names.finish();
            for (auto& c : collectors) c->add_to(profile, names);
            profile.command = command_line;
            profile.pid = static_cast<uint64_t>(getpid());
            save_profile(profile, out, format);
            if (child) {
                child_processes::add_to_list(list, out);
                return true;
            }
            std::string message = saved_message(path, format);
            std::string children = options.subprocesses ? children_message(child_processes::take_list(list)) : "";
            if (!children.empty()) message = message.empty() ? "calltree: " + children.substr(2) : message + children;
            if (!message.empty()) std::cerr << message << std::endl;
            if (options.open_viewer && path != "-") open_viewer(path);
            return true;
        } catch (const std::exception& e) {
            // A child's exit status is the program's, profile or not.
            if (child) {
                child_processes::say_unprofiled(list, e.what(), true);
                return true;
            }
            std::cerr << "calltree: " << e.what() << std::endl;
            return false;
        }
    };
    if (options.subprocesses) {
        hooks.fork_child = [&] {
            for (auto& c : collectors)
                if (!c->restart_in_fork_child()) return false;
            return true;
        };
    }
    return run_program(options.program, std::move(hooks));
}

}  // namespace calltree
