// The tracer's clocks: monotonic, CPU time that stops while sleeping, and the TSC calibration
// checked against CLOCK_MONOTONIC over an independent interval.
#include <gtest/gtest.h>
#include <time.h>

#include <chrono>
#include <thread>

#include "collect/tracer/clock.h"

using namespace calltree;

namespace {

// A (TSC, monotonic) pair read close together: a preemption between the two reads would skew
// the pair by a scheduling quantum, so the closest of a few attempts is kept.
struct Pair {
    uint64_t tsc, ns;
};
Pair read_pair() {
    Pair best{};
    uint64_t best_width = UINT64_MAX;
    for (int i = 0; i < 20; ++i) {
        uint64_t before = MonotonicClock::now();
        uint64_t tsc = TscClock::now();
        uint64_t after = MonotonicClock::now();
        if (after - before < best_width) {
            best_width = after - before;
            best = {tsc, before + (after - before) / 2};
        }
    }
    return best;
}

}  // namespace

TEST(Clock, MonotonicNeverGoesBackAndMatchesClockMonotonic) {
    uint64_t last = MonotonicClock::now();
    for (int i = 0; i < 100000; ++i) {
        uint64_t now = MonotonicClock::now();
        ASSERT_GE(now, last);
        last = now;
    }
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t reference = static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
    uint64_t ours = MonotonicClock::now();
    EXPECT_GE(ours, reference);  // the same clock in ns, read later
    EXPECT_LT(ours - reference, 1'000'000'000u);
}

TEST(Clock, ThreadCpuTimeStopsWhileSleepingAndRunsWhileBusy) {
    uint64_t cpu0 = ThreadCpuClock::now();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    // A sleeping thread uses no CPU: 100 ms asleep must not look like 100 ms of CPU. (Waking up
    // costs microseconds; 20 ms is far above that and far below the sleep.)
    EXPECT_LT(ThreadCpuClock::now() - cpu0, 20'000'000u);

    // Busy until 5 ms of CPU have been used: the wall clock saw at least as much time pass.
    uint64_t wall0 = MonotonicClock::now();
    cpu0 = ThreadCpuClock::now();
    volatile uint64_t sink = 0;
    while (ThreadCpuClock::now() - cpu0 < 5'000'000u) sink = sink + 1;
    uint64_t cpu = ThreadCpuClock::now() - cpu0;
    EXPECT_GE(MonotonicClock::now() - wall0, cpu);
}

TEST(Clock, TscCalibrationConvertsTicksToMonotonicNanoseconds) {
    if (!tsc_is_reliable()) GTEST_SKIP() << "this CPU has no constant, non-stop TSC: the tracer uses CLOCK_MONOTONIC";
    TscCalibration calibration;
    calibration.start();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    double ns_per_tick = calibration.finish();
    ASSERT_GT(ns_per_tick, 0.0);

    // An interval of its own: ticks converted with the calibration equal CLOCK_MONOTONIC's ns.
    // Each end is read within microseconds; even a 2 ms preemption is 1% of 200 ms, so 2% cannot
    // flake, while a wrong ratio (inverted, ticks taken as ns, a per-core TSC) is off by far more.
    Pair a = read_pair();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    Pair b = read_pair();
    double converted = static_cast<double>(b.tsc - a.tsc) * ns_per_tick;
    double elapsed = static_cast<double>(b.ns - a.ns);
    EXPECT_NEAR(converted / elapsed, 1.0, 0.02) << "ns per tick " << ns_per_tick;
}

TEST(Clock, TscCalibrationWaitsForAPreciseSpan) {
    // finish() right after start() still measures over at least 2 ms, so the ratio of a tiny
    // run is as precise as a long one's.
    TscCalibration calibration;
    uint64_t t0 = MonotonicClock::now();
    calibration.start();
    double ns_per_tick = calibration.finish();
    EXPECT_GE(MonotonicClock::now() - t0, 2'000'000u);
    if (tsc_is_reliable()) {
        EXPECT_GT(ns_per_tick, 0.0);
    }
}
