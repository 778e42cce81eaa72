#include "cli/convert_command.h"

#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/open_viewer.h"
#include "cli/profile_output.h"
#include "formats/output_file.h"
#include "formats/pstats_reader.h"

namespace calltree {

CLI::App* setup_convert(CLI::App& app, ConvertOptions& options) {
    auto* sub = app.add_subcommand("convert", "Convert cProfile/pstats .prof files (any Python 3, gzip too) to callgrind");
    sub->add_option("inputs", options.inputs, "Input .prof files; several are summed into one profile; - is stdin")
        ->required();
    sub->add_option("-o,--output", options.output,
                    "Output file, - for stdout (default: the first input's name + .callgrind).\n"
                    "Example: calltree convert prog.prof -o prog.callgrind");
    sub->add_option("--format", options.format, "Output format: callgrind (default) or pstats")
        ->check(CLI::IsMember({"callgrind", "pstats"}));
    sub->add_flag("--open", options.open_viewer, "Open the result in KCachegrind (or QCachegrind)");
    sub->add_flag("--no-call-sites", options.no_call_sites,
                  "Put every call at its caller's first line instead of looking up the call in the\n"
                  "caller's source file (pstats files record no call sites)");
    sub->footer("Examples:\n  calltree convert prog.prof\n  calltree convert a.prof b.prof.gz -o merged.callgrind\n"
                "  calltree convert prog.prof -o - | callgrind_annotate /dev/stdin");
    return sub;
}

int run_convert(const ConvertOptions& options) {
    OutputFormat format = parse_output_format(options.format);
    std::string output = options.output;
    if (output.empty()) {
        const std::string& first = options.inputs.front();
        output = first == "-" ? "-" : first + (format == OutputFormat::Pstats ? ".pstats" : ".callgrind");
    }
    try {
        for (const std::string& input : options.inputs) check_not_input(output, input);
        check_output_writable(output);
    } catch (const std::exception& e) {
        std::cerr << "calltree: " << e.what() << "\n";
        return 2;
    }
    // Left to the OS at exit (as compilers leave their ASTs): freeing a 100k-arc profile node
    // by node is a twentieth of a conversion, and the process ends right after.
    Profile& merged = *new Profile();
    for (size_t i = 0; i < options.inputs.size(); ++i) {
        const std::string& input = options.inputs[i];
        try {
            PstatsOptions read_options;
            read_options.locate_call_sites = !options.no_call_sites;
            Profile profile = read_pstats_file(input, read_options);
            if (i == 0)
                merged = std::move(profile);
            else
                merged.merge(profile);
        } catch (const std::exception& e) {
            std::cerr << "calltree: " << input << ": " << e.what() << "\n";
            return 2;
        }
    }
    merged.command = "calltree convert";
    for (const std::string& input : options.inputs) merged.command += " " + input;
    try {
        // Not synced: the input is still there and converting again takes a fraction of a second,
        // while fsync of a large output can take longer than the whole conversion. A run's
        // profile, which cannot be made again, is synced.
        save_profile(merged, output, format, /*durable=*/false);
    } catch (const std::exception& e) {
        std::cerr << "calltree: " << e.what() << "\n";
        return 2;
    }
    std::string message = saved_message(output, format);
    if (!message.empty()) std::cerr << message << "\n";
    if (options.open_viewer && output != "-") open_viewer(output);
    return 0;
}

}  // namespace calltree
