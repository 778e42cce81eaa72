// calltree: wires the subcommands together; each lives in its own file with an options struct.
#include <CLI/CLI.hpp>
#include <iostream>
#include <string>
#include <vector>

#include "cli/calltree_main.h"
#include "cli/convert_command.h"
#include "cli/run_command.h"

#ifndef CALLTREE_VERSION
#define CALLTREE_VERSION "0.0.0"
#endif

namespace {

constexpr const char* kDescription =
    "calltree: a profiler for Python programs that writes callgrind files for KCachegrind.\n\n"
    "Usage:\n"
    "  calltree [options] prog.py [args...]     profile a script\n"
    "  calltree [options] -m module [args...]   profile a module, like python3 -m\n"
    "  calltree [options] -c code [args...]     profile code, like python3 -c\n"
    "  calltree convert prog.prof [-o out]      convert a cProfile/pstats file\n\n"
    "Options go before the program; everything after it is the program's own sys.argv.";

constexpr const char* kFooter =
    "Examples:\n"
    "  calltree -o out.callgrind prog.py --verbose   # then: kcachegrind out.callgrind\n"
    "  calltree --clock cpu -m http.server 8000\n"
    "  calltree -c \"import json; json.dumps(list(range(10**6)))\"\n"
    "  calltree convert old.prof -o old.callgrind";

std::string join_command(int argc, char** argv) {
    std::string command;
    for (int i = 0; i < argc; ++i) {
        if (i > 0) command += ' ';
        command += argv[i];
    }
    return command;
}

// CLI11's own messages for usage errors, as one line with calltree's prefix and status 2.
int usage_error(const std::string& message) {
    std::cerr << "calltree: " << message << " (see calltree --help)\n";
    return 2;
}

}  // namespace

namespace calltree {

std::string build_python_minor() {
    const std::string full = CALLTREE_PYTHON_VERSION;
    const size_t major_end = full.find('.');
    const size_t minor_end = major_end == std::string::npos ? major_end : full.find('.', major_end + 1);
    return full.substr(0, minor_end);
}

int calltree_main(int argc, char** argv, RunProgram run_program, const std::string& pythons) {
    CLI::App app{kDescription, "calltree"};
    app.footer(kFooter);
    app.set_version_flag("--version", std::string("calltree ") + CALLTREE_VERSION + " (Python " + pythons + ")");
    calltree::RunOptions run;
    calltree::ConvertOptions convert;
    calltree::setup_run(app, run);
    CLI::App* convert_command = calltree::setup_convert(app, convert);

    bool has_program = false;
    int own_args = argc;
    // A child calltree (--subprocesses): its options sit between the list file and "--".
    std::vector<char*> child_args;
    std::string command = join_command(argc, argv);
    if (int end = calltree::split_child(argc, argv, run); end > 0) {
        child_args.push_back(argv[0]);
        child_args.insert(child_args.end(), argv + 3, argv + end);
        has_program = true;
        command = join_command(argc - end - 1, argv + end + 1);  // what the program ran
    } else if (!(argc > 1 && std::string(argv[1]) == convert_command->get_name())) {
        own_args = calltree::split_program(app, argc, argv, run.program, has_program);
    }
    try {
        if (!child_args.empty())
            app.parse(static_cast<int>(child_args.size()), child_args.data());
        else
            app.parse(own_args, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        return usage_error(e.what());
    }
    if (convert_command->parsed()) return calltree::run_convert(convert);
    if (!has_program) return usage_error("no program to profile: give a script, -m MODULE or -c CODE");
    return run_program(run, command, argc, argv);
}

}  // namespace calltree
