// The default command: run a program under the profiler.
#pragma once
#include <string>
#include <vector>

#include "runner/program.h"

namespace CLI {
class App;
}

namespace calltree {

struct RunOptions {
    std::string output;  // empty: callgrind.out.<pid> (calltree.<pid>.prof for pstats)
    std::string clock = "wall";
    std::string format = "callgrind";
    bool open_viewer = false;
    bool sample = false;
    bool no_bias_correction = false;  // keep the profiler's per-event cost in the times
    std::string interval = "1ms";
    bool subprocesses = false;
    // Set in a child calltree (child_processes.h): the list file of the top-level calltree;
    // `output` is then the child template.
    std::string child_list;
    bool memory = false;
    std::string memory_rate = "32KiB";  // a 100 KiB block is seen 96% of the time
    // --python: the interpreter to run the program in (empty: the python3 found on PATH). The
    // launcher (src/host) resolves it; inside the interpreter it is already the one running.
    std::string python;
    Program program;
    // Every option given to calltree, as it was parsed, except those a child does not take from
    // its parent (-o, --open): what every child calltree is given under --subprocesses. Filled by
    // setup_run's parse callback, from CLI11's own record of the parse, so an option added to
    // setup_run reaches the children without being listed anywhere else.
    std::vector<std::string> inherited;
};

// Registers the run options on the top-level app (the program itself is split off beforehand).
void setup_run(CLI::App& app, RunOptions& options);

// Splits argv into calltree's own options and the program: everything after the script,
// `-m MODULE` or `-c CODE` belongs to the program, even if it looks like an option.
// Returns the number of leading arguments (argv[0] included) that are calltree's; fills
// `program` and sets `found` when a program was named.
int split_program(const CLI::App& app, int argc, char** argv, Program& program, bool& found);

// `calltree --as-child LIST [options] -- PYTHON-ARGV`, the command an exec of python3 becomes
// under --subprocesses: fills `options` (the caller parses the options between LIST and "--").
// Returns the index of "--", or 0 if argv is not a child command line.
int split_child(int argc, char** argv, RunOptions& options);

// Runs the program in this process, the interpreter's (a calltree::RunProgram).
int run_profiled(const RunOptions& options, const std::string& command_line, int argc, char** argv);

}  // namespace calltree
