#include "cli/option_values.h"

#include <cmath>
#include <stdexcept>

#include "cli/run_command.h"

namespace calltree {

uint64_t parse_interval(const std::string& text) {
    const std::string bad = "--interval: '" + text + "' is not a duration between 0.1ms and 100ms (e.g. 1ms, 200us)";
    size_t used = 0;
    double value = 0;
    try {
        value = std::stod(text, &used);
    } catch (const std::exception&) {
        throw std::invalid_argument(bad);
    }
    std::string unit = text.substr(used);
    double ns_per_unit = unit.empty() || unit == "ms" ? 1e6 : unit == "us" ? 1e3 : unit == "s" ? 1e9 : 0;
    double ns = value * ns_per_unit;
    if (ns_per_unit == 0 || !std::isfinite(ns) || ns < 1e5 - 0.5 || ns > 1e8 + 0.5) throw std::invalid_argument(bad);
    return static_cast<uint64_t>(std::llround(ns));
}

uint64_t parse_memory_rate(const std::string& text) {
    const std::string bad = "--memory-rate: '" + text + "' is not a byte count between 1 and 1GiB (e.g. 64KiB, 1MiB, 1)";
    size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
    if (digits == 0 || digits > 10) throw std::invalid_argument(bad);
    uint64_t value = std::stoull(text.substr(0, digits));
    std::string unit = text.substr(digits);
    uint64_t scale = 0;
    if (unit.empty() || unit == "B") scale = 1;
    else if (unit == "KiB" || unit == "K" || unit == "KB" || unit == "k") scale = uint64_t{1} << 10;
    else if (unit == "MiB" || unit == "M" || unit == "MB") scale = uint64_t{1} << 20;
    else if (unit == "GiB" || unit == "G" || unit == "GB") scale = uint64_t{1} << 30;
    uint64_t bytes = value * scale;
    if (scale == 0 || value == 0 || bytes / scale != value || bytes > (uint64_t{1} << 30)) throw std::invalid_argument(bad);
    return bytes;
}

void check_option_values(const RunOptions& options) {
    // make_collectors (run_command.cpp) parses the rate always, the interval only with --sample.
    parse_memory_rate(options.memory_rate);
    if (options.sample) parse_interval(options.interval);
}

}  // namespace calltree
