// Saving a profile in the format the user asked for: one place for runs and for convert.
#pragma once
#include <string>

#include "model/profile.h"

namespace calltree {

enum class OutputFormat { Callgrind, Pstats };

// "callgrind" or "pstats"; throws std::invalid_argument otherwise.
OutputFormat parse_output_format(const std::string& name);

// Writes atomically (temporary file + rename) or to stdout for "-". Throws std::runtime_error
// with a one-line message on any failure; a failed write leaves no file behind.
// `durable`: fsync before the rename (see AtomicOutputFile::Durability).
void save_profile(const Profile& profile, const std::string& path, OutputFormat format, bool durable = true);

// The one line printed after a successful save, naming the file and how to open it.
std::string saved_message(const std::string& path, OutputFormat format);

}  // namespace calltree
