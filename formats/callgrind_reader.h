// Reads callgrind files (ours and valgrind's) into a Profile: used to check the writer by round
// trip, and a base for merging or re-writing existing callgrind files.
#pragma once
#include <istream>

#include "model/profile.h"

namespace calltree {

// Throws std::runtime_error("line N: ...") on malformed input. Supports `positions: line` only;
// function identity follows KCachegrind (name + file + object).
Profile read_callgrind(std::istream& in);

}  // namespace calltree
