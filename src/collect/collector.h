// The one shape every collector has (tracer, sampler, memory hooks), so the run command composes
// the ones the options ask for instead of growing a branch per combination.
#pragma once
#include <memory>
#include <vector>

#include "collect/shared/naming.h"
#include "model/profile.h"

namespace calltree {

class Collector {
public:
    virtual ~Collector() = default;
    // With the GIL, after interpreter start-up and before the program's first line. Returns
    // false with a Python exception set if the collector cannot run.
    virtual bool start() = 0;
    // Idempotent. Either with the GIL, or (when a signal ends the program) while no Python
    // thread can run: a collector must not need Python to stop.
    virtual void stop() = 0;
    // After stop(), without Python: adds every function it will write to the run's name table,
    // so names are decided once over what all collectors saw.
    virtual void name_functions(NameTable& names) = 0;
    // Then adds what was seen to the model (events appended by name), under those names.
    virtual void add_to(Profile& profile, const NameTable& names) = 0;
    // After stop(): false if the collector knows the program's first line never ran (`-m` of a
    // missing module, a syntax error): then there is no profile to write.
    virtual bool program_started() const { return true; }
    // In a forked child, with the GIL (--subprocesses): forget what the parent recorded and go on
    // recording the child's own run from here. False if this collector cannot (the child is then
    // not profiled).
    virtual bool restart_in_fork_child() { return false; }
};

using Collectors = std::vector<std::unique_ptr<Collector>>;

}  // namespace calltree
