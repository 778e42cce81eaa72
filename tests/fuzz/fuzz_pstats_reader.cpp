// libFuzzer target: any byte string given to the pstats reader (gzip'ed or not) must give a
// profile or a one-line error, never a crash, a hang or an unbounded allocation.
#include <cstddef>
#include <cstdint>
#include <stdexcept>

#include "formats/gzip_input.h"
#include "formats/pstats_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::span<const uint8_t> input(data, size);
    try {
        std::vector<uint8_t> inflated;
        if (calltree::is_gzip(input)) {
            inflated = calltree::gunzip(input, size_t{16} << 20);
            input = inflated;
        }
        calltree::Profile profile = calltree::read_pstats(input);
        (void)profile.totals();
    } catch (const calltree::FormatError&) {
    } catch (const std::runtime_error& e) {
        // Only the gzip layer may throw anything but FormatError.
        if (!calltree::is_gzip(std::span<const uint8_t>(data, size))) throw;
    }
    return 0;
}
