// Writes a Profile as a pstats `.prof` file (marshal version 4 of cProfile's stats dict), which
// pstats.Stats, `python3 -m pstats`, snakeviz and gprof2dot load.
#pragma once
#include <ostream>

#include "model/profile.h"

namespace calltree {

// Uses the profile's first event as the time (ns -> seconds). Throws std::runtime_error if the
// stream fails.
void write_pstats(const Profile& profile, std::ostream& out);

}  // namespace calltree
