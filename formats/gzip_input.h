// Whole-file input with transparent gzip decompression (detected by the 1f 8b magic).
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace calltree {

// Reads `path` ("-" = stdin). Throws std::runtime_error with a one-line message on I/O errors,
// a truncated or corrupt gzip stream, or output beyond `limit` bytes.
std::vector<uint8_t> read_input(const std::string& path, size_t limit = size_t{4} << 30);

// Whether `data` starts with the gzip magic.
bool is_gzip(std::span<const uint8_t> data);

// Inflates gzip data (members that follow one another are one stream, as gzip(1) reads them).
// Throws std::runtime_error: "truncated gzip stream", "bad gzip stream: ...", or
// "gzip data expands beyond N MiB" past `limit` bytes.
std::vector<uint8_t> gunzip(std::span<const uint8_t> data, size_t limit);

}  // namespace calltree
