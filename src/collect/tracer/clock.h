// Clocks for the tracer. The tracer is a template over the clock so the hot path inlines one
// clock read per event and tests can substitute a fake clock with exact values.
#pragma once
#include <cstdint>
#include <ctime>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

namespace calltree {

// Invariant TSC: the cheapest wall clock (on call_heavy, a callback reading it once per event costs
// 1.18x the empty-callback floor, one calling clock_gettime 1.33x: docs/how-it-works.md, The
// tracer). Ticks are converted to ns once, when the profile is built.
struct TscClock {
    static uint64_t now() {
#if defined(__x86_64__) || defined(__i386__)
        return __rdtsc();
#else
        return 0;
#endif
    }
};

struct MonotonicClock {
    static uint64_t now() {
        timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
    }
};

// CPU time of the calling thread: each thread's shadow stack only ever compares readings taken
// on that same thread.
struct ThreadCpuClock {
    static uint64_t now() {
        timespec ts;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
    }
};

// True when the CPU has a constant, non-stop TSC that all cores share (Linux /proc/cpuinfo).
bool tsc_is_reliable();

// Measures TSC ticks against CLOCK_MONOTONIC between start() and finish().
class TscCalibration {
public:
    void start();
    // Returns nanoseconds per tick; waits until enough time has passed for a precise ratio.
    double finish();

private:
    uint64_t tsc0_ = 0, ns0_ = 0;
};

}  // namespace calltree
