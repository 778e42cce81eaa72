// Reads pstats `.prof` files (cProfile, profile, yappi, pyinstrument) into a Profile, without Python.
#pragma once
#include <cstdint>
#include <span>
#include <string>

#include "formats/marshal_reader.h"
#include "model/profile.h"

namespace calltree {

struct PstatsOptions {
    // Read the callers' source files, where they exist, to place each call at its line
    // (formats/call_sites.h); otherwise every call sits at its caller's first line.
    bool locate_call_sites = false;
};

// Parses a marshal'ed pstats dict. Throws FormatError (with the byte offset) on bad input.
Profile read_pstats(std::span<const uint8_t> data, const PstatsOptions& options = {});

// Reads a file, or "-" for stdin; gzip input is detected by content. Throws FormatError or
// std::runtime_error (I/O) with a one-line message.
Profile read_pstats_file(const std::string& path, const PstatsOptions& options = {});

}  // namespace calltree
