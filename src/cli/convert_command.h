// `calltree convert`: pstats .prof files to callgrind (or pstats), no Python needed.
#pragma once
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace calltree {

struct ConvertOptions {
    std::vector<std::string> inputs;
    std::string output;               // empty: first input's name + ".callgrind"; "-": stdout
    std::string format = "callgrind";  // callgrind | pstats
    bool open_viewer = false;
    bool no_call_sites = false;
};

// Registers the `convert` subcommand on `app`, bound to `options`; returns the subcommand.
CLI::App* setup_convert(CLI::App& app, ConvertOptions& options);
// Runs it; returns the process exit status (0 ok, 2 bad input), printing one-line errors.
int run_convert(const ConvertOptions& options);

}  // namespace calltree
