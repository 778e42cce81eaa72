// Memory collector (--memory): allocations (bytes and count), bytes still live at the end
// (leaks), bytes live at the largest footprint (peak) and memcpy/memmove volume, per line and
// call path, as events merged into the tracer's or the sampler's profile. Python objects are
// seen through the PyMem/PyObject allocator domains, native memory through the malloc family
// and memcpy/memmove calltree's preloaded library defines (src/interpose); see alloc_recorder.h
// and docs/how-it-works.md, Memory hooks.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "collect/collector.h"

namespace calltree {

struct MemoryOptions {
    uint64_t rate = 32 * 1024;  // mean bytes between samples; 1 = every allocation
    std::string cwd;            // resolves relative source paths
    bool in_running_program = false;  // the Python API: no fault guard (alloc_recorder.h)
};

// Whether this build can run --memory (the allocator interposers are linked in; not in
// sanitizer builds, whose runtime interposes malloc itself).
bool memory_mode_available();

std::unique_ptr<Collector> make_memory_collector(const MemoryOptions& options);

}  // namespace calltree
