// Writes a Profile as a callgrind file that KCachegrind and callgrind_annotate read (what it holds
// and how the two readers take it: docs/output-format.md).
#pragma once
#include <ostream>
#include <string>

#include "model/profile.h"

namespace calltree {

struct CallgrindOptions {
    std::string creator = "calltree";
    bool compress_names = true;  // "(id) name" on first use, "(id)" after
};

// Throws std::runtime_error if the stream fails (e.g. disk full).
void write_callgrind(const Profile& profile, std::ostream& out, const CallgrindOptions& options = {});

}  // namespace calltree
