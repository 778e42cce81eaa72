// Placeholder until the pstats reader lands; the real implementation replaces this file.
#include "cli/convert_command.h"

#include <CLI/CLI.hpp>
#include <iostream>

namespace calltree {

CLI::App* setup_convert(CLI::App& app, ConvertOptions& options) {
    auto* sub = app.add_subcommand("convert", "Convert pstats .prof files to callgrind");
    sub->add_option("inputs", options.inputs, "Input .prof files")->required();
    sub->add_option("-o,--output", options.output, "Output file");
    return sub;
}

int run_convert(const ConvertOptions&) {
    std::cerr << "calltree: convert is not implemented yet\n";
    return 2;
}

}  // namespace calltree
