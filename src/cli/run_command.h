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
    std::string interval = "1ms";
    bool memory = false;
    std::string memory_rate = "32KiB";  // a 100 KiB block is seen 96% of the time
    Program program;
};

// Registers the run options on the top-level app (the program itself is split off beforehand).
void setup_run(CLI::App& app, RunOptions& options);

// Splits argv into calltree's own options and the program: everything after the script,
// `-m MODULE` or `-c CODE` belongs to the program, even if it looks like an option.
// Returns the number of leading arguments (argv[0] included) that are calltree's; fills
// `program` and sets `found` when a program was named.
int split_program(const CLI::App& app, int argc, char** argv, Program& program, bool& found);

int run_profiled(const RunOptions& options, const std::string& command_line);

}  // namespace calltree
