// libFuzzer target: any byte string given to the pstats reader must give a profile or a
// FormatError, never a crash, a hang or an unbounded allocation.
#include <cstddef>
#include <cstdint>

#include "formats/pstats_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        calltree::Profile profile = calltree::read_pstats(std::span<const uint8_t>(data, size));
        (void)profile.totals();
    } catch (const calltree::FormatError&) {
    }
    return 0;
}
