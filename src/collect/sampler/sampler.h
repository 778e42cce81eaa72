// Sampling collector: every interval a native thread looks at each Python thread's CPU clocks
// and, for threads that ran, asks them (with a signal) to record their own Python stack. Each
// thread's wall time is split into Python, Native, System and Idle and charged to the line
// that was running, so KCachegrind shows per-line costs at a few percent overhead.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "collect/collector.h"

namespace calltree {

struct SamplerOptions {
    uint64_t interval_ns = 1'000'000;
    std::string cwd;  // resolves relative source paths
    // Started from inside a running program (the Python API), perhaps again and again: no wait
    // for __main__; and no sigaction interposer keeps the fault guard in place, so the sampler
    // thread checks at every tick that the program has not replaced it (fault_guard.h), and
    // reads by system call from then on if it has.
    bool in_running_program = false;
};

std::unique_ptr<Collector> make_sampler_collector(const SamplerOptions& options);

}  // namespace calltree
