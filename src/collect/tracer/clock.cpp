#include "collect/tracer/clock.h"

#include <fstream>
#include <string>
#include <thread>

namespace calltree {

bool tsc_is_reliable() {
#if defined(__x86_64__)
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line;
    while (std::getline(cpuinfo, line)) {
        if (line.rfind("flags", 0) == 0)
            return line.find(" constant_tsc") != std::string::npos &&
                   line.find(" nonstop_tsc") != std::string::npos;
    }
#endif
    return false;
}

void TscCalibration::start() {
    ns0_ = MonotonicClock::now();
    tsc0_ = TscClock::now();
}

double TscCalibration::finish() {
    // Both clocks have ns resolution: 2 ms bound the ratio's error to ~1e-4 even for tiny runs.
    constexpr uint64_t kMinSpanNs = 2'000'000;
    uint64_t ns1 = MonotonicClock::now();
    if (ns1 - ns0_ < kMinSpanNs) {
        std::this_thread::sleep_for(std::chrono::nanoseconds(kMinSpanNs - (ns1 - ns0_)));
        ns1 = MonotonicClock::now();
    }
    uint64_t tsc1 = TscClock::now();
    if (tsc1 <= tsc0_) return 1.0;
    return static_cast<double>(ns1 - ns0_) / static_cast<double>(tsc1 - tsc0_);
}

}  // namespace calltree
