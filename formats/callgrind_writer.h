// Writes a Profile as a callgrind file (see ../shared/docs/CALLGRIND.md) that KCachegrind and
// callgrind_annotate read.
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
