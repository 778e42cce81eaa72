#include "cli/run_command.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <string>
#include <vector>

#include "runner/child_processes.h"

// The run command's options, and how calltree's own arguments are told from the program's. No
// Python here: the launcher (src/host) checks a command line before it starts python3.
namespace calltree {

namespace {

// The options a child calltree does not take from its parent: it gets the child template as its
// -o, and a viewer opened per child would be a surprise. Everything else is passed on.
bool parent_only(const CLI::Option& option) { return option.check_lname("output") || option.check_lname("open"); }

// The options given on the command line, re-serialised from what CLI11 parsed: each value as
// `--name=value` (a flag's value too: "true", or the "false" of --flag=false), so the child's
// parse gives the same result whatever the value looks like.
std::vector<std::string> inherited_options(const CLI::App& app) {
    std::vector<std::string> args;
    for (const CLI::Option* option : app.get_options()) {
        if (option->count() == 0 || parent_only(*option)) continue;
        const auto& lnames = option->get_lnames();
        const auto& snames = option->get_snames();
        if (lnames.empty() && snames.empty()) continue;  // a positional: calltree has none
        for (const std::string& value : option->results()) {
            if (!lnames.empty())
                args.push_back("--" + lnames.front() + "=" + value);
            else
                args.push_back("-" + snames.front() + value);
        }
    }
    return args;
}

}  // namespace

void setup_run(CLI::App& app, RunOptions& options) {
    // After a successful parse (CLI11 calls it once, for the run and the convert commands alike).
    app.final_callback([&app, &options] { options.inherited = inherited_options(app); });
    app.add_option("-o,--output", options.output,
                   "Output file; %p becomes the process id (default: callgrind.out.<pid>,\n"
                   "or calltree.<pid>.prof with --format pstats). Example: -o prog.%p.callgrind");
    app.add_option("--clock", options.clock,
                   "What time to measure: wall (default, includes sleeping and waiting), cpu (CPU time\n"
                   "of each thread), or counter (exactly 1000 ns per event, for tests). Example: --clock cpu")
        ->check(CLI::IsMember({"wall", "cpu", "counter"}));
    app.add_flag("--no-bias-correction", options.no_bias_correction,
                 "Keep the profiler's own cost per call in the times. By default it is measured at\n"
                 "start-up and subtracted, so functions making many calls are not overcharged.");
    app.add_option("--format", options.format,
                   "Output format: callgrind (default, for KCachegrind) or pstats (a .prof file for\n"
                   "pstats, snakeviz, gprof2dot). Example: --format pstats -o prog.prof")
        ->check(CLI::IsMember({"callgrind", "pstats"}));
    app.add_flag("--sample", options.sample,
                 "Sample instead of tracing every call: per-line costs split into Python, Native,\n"
                 "System and Idle time for every thread, at a few percent overhead. Example: --sample prog.py");
    app.add_option("--interval", options.interval,
                   "Sampling interval of wall time, 0.1ms..100ms (default 1ms). Example: --interval 0.2ms");
    app.add_flag("--subprocesses", options.subprocesses,
                 "Profile the program's Python child processes too (multiprocessing, subprocess\n"
                 "running python3, os.fork), each into its own file: -o with %p, or the output file\n"
                 "with .<pid> appended. Example: --subprocesses -o run.callgrind prog.py");
    app.add_flag("--memory", options.memory,
                 "Also record memory, per line and call path: AllocBytes, Allocs, LeakBytes (still live\n"
                 "at the end), PeakBytes (live at the largest footprint), CopyBytes (memcpy/memmove).\n"
                 "Example: --memory prog.py, or --sample --memory prog.py");
    app.add_option("--memory-rate", options.memory_rate,
                   "With --memory: mean bytes between samples (default 32KiB); 1 records every\n"
                   "allocation. Example: --memory-rate 1MiB");
    // Last one wins: a child calltree (--subprocesses) is given the interpreter its program
    // exec'd after the options it inherits from its parent.
    app.add_option("--python", options.python,
                   "The Python interpreter to run the program in (default: the python3 a shell would\n"
                   "run, found on PATH: a virtualenv's, a pyenv shim's choice; else the one calltree was built\n"
                   "with). It must be the Python version calltree was built for.\n"
                   "Example: --python venv/bin/python3")
        ->type_name("PATH")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    app.add_flag("--open", options.open_viewer,
                 "Open the result in KCachegrind (or QCachegrind) when done. Example: --open prog.py");
    // -m and -c end calltree's options like python3's; split_program handles them, these
    // entries only document them in --help.
    app.add_option("-m", "Run a library module as the program, like python3 -m. Example: -m json.tool in.json")
        ->type_name("MODULE");
    app.add_option("-c", "Run this code as the program, like python3 -c. Example: -c \"import json\"")
        ->type_name("CODE");
}

namespace {

bool takes_value(const CLI::App& app, const std::string& arg) {
    for (const CLI::Option* opt : app.get_options()) {
        // A flag (--open, --help): CLI11 gives flags a type size of 1 but no expected values.
        if (opt->get_items_expected_max() == 0) continue;
        for (const std::string& name : opt->get_lnames())
            if (arg == "--" + name) return true;
        for (const std::string& name : opt->get_snames())
            if (arg == "-" + name) return true;
    }
    return false;
}

}  // namespace

int split_program(const CLI::App& app, int argc, char** argv, Program& program, bool& found) {
    found = false;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        auto rest = [&](int from) { program.args.assign(argv + std::min(from, argc), argv + argc); };
        if (arg == "--") {
            if (i + 1 >= argc) return i;
            program.kind = Program::Kind::Script;
            program.target = argv[i + 1];
            rest(i + 2);
            found = true;
            return i;
        }
        if (arg.rfind("-m", 0) == 0 || arg.rfind("-c", 0) == 0) {
            program.kind = arg[1] == 'm' ? Program::Kind::Module : Program::Kind::Code;
            if (arg.size() > 2) {
                program.target = arg.substr(2);
                rest(i + 1);
            } else {
                if (i + 1 >= argc) return i;  // CLI11 reports the missing value
                program.target = argv[i + 1];
                rest(i + 2);
            }
            found = true;
            return i;
        }
        if (arg.size() > 1 && arg[0] == '-') {
            if (arg.find('=') == std::string::npos && takes_value(app, arg)) ++i;
            continue;
        }
        program.kind = Program::Kind::Script;
        program.target = arg;
        rest(i + 1);
        found = true;
        return i;
    }
    return argc;
}

int split_child(int argc, char** argv, RunOptions& options) {
    if (argc < 3 || std::string(argv[1]) != child_processes::kChildMarker) return 0;
    for (int i = 3; i < argc; ++i) {
        if (std::string(argv[i]) != "--") continue;
        if (i + 1 >= argc) return 0;
        options.child_list = argv[2];
        options.program.kind = Program::Kind::PythonArgv;
        options.program.target = argv[i + 1];
        options.program.args.assign(argv + i + 2, argv + argc);
        return i;
    }
    return 0;
}

}  // namespace calltree
