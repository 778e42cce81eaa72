// Dispositions set through libc's sigaction, counted per signal by the runner's sigaction
// interposer (runner/fatal_signals.cpp): a collector that owns a signal (the sampler's) learns
// that the program took it over without a system call per check. Dispositions set by a raw
// rt_sigaction system call are not counted: callers still check the kernel now and then.
#pragma once

#include <cstdint>

namespace calltree::signal_watch {

// After a disposition was set. Async-signal-safe.
void note_change(int sig) noexcept;

// Changes noted for `sig` so far.
uint32_t changes(int sig) noexcept;

}  // namespace calltree::signal_watch
