// Whole-file input with transparent gzip decompression (detected by the 1f 8b magic).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace calltree {

// Reads `path` ("-" = stdin). Throws std::runtime_error with a one-line message on I/O errors,
// a truncated or corrupt gzip stream, or output beyond `limit` bytes.
std::vector<uint8_t> read_input(const std::string& path, size_t limit = size_t{4} << 30);

}  // namespace calltree
