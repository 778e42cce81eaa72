// The values of run options that are more than a word from a list: parsed here, without Python,
// so the launcher (src/host) refuses a bad value before it starts the interpreter, and the
// collectors inside it read the same value with the same parser.
#pragma once
#include <cstdint>
#include <string>

namespace calltree {

struct RunOptions;

// Parses "1ms", "0.2ms", "200us", "0.001s" or a bare number of milliseconds; the interval must
// lie within 0.1 ms .. 100 ms. Throws std::invalid_argument with a one-line message.
uint64_t parse_interval(const std::string& text);

// Parses a byte count: "64KiB", "1MiB", "1GiB", "512" (bytes; K/M/G and KB/MB/GB mean the same
// binary units), between 1 byte and 1 GiB. Throws std::invalid_argument with a one-line message.
uint64_t parse_memory_rate(const std::string& text);

// Every value run_profiled will parse, as it will parse it (--interval only with --sample):
// throws std::invalid_argument with run_profiled's own message.
void check_option_values(const RunOptions& options);

}  // namespace calltree
