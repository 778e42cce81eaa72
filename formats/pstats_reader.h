// Reads pstats `.prof` files (cProfile, profile, yappi, pyinstrument) into a Profile, without Python.
#pragma once
#include <cstdint>
#include <span>
#include <string>

#include "formats/marshal_reader.h"
#include "model/profile.h"

namespace calltree {

// Parses a marshal'ed pstats dict. Throws FormatError (with the byte offset) on bad input.
Profile read_pstats(std::span<const uint8_t> data);

// Reads a file, or "-" for stdin; gzip input is detected by content. Throws FormatError or
// std::runtime_error (I/O) with a one-line message.
Profile read_pstats_file(const std::string& path);

}  // namespace calltree
