// Dispositions set through libc's sigaction (and glibc's signal() family, which calltree routes
// through it), seen by the runner's sigaction interposer (runner/fatal_signals.cpp):
// - counted per signal, so a collector that owns a signal (the sampler's) learns that the program
//   took it over without a system call per check;
// - announced beforehand to the signal's guard, so that none of the collector's signals still on
//   its way is delivered to the handler the program is installing.
// Dispositions set by a raw rt_sigaction system call are not seen: callers still check the kernel
// now and then.
#pragma once

#include <cstdint>

namespace calltree::signal_watch {

// Called before a new disposition for its signal reaches the kernel, by whichever thread sets it
// (possibly in a signal handler, or in a vfork child): async-signal-safe and bounded.
using Guard = void (*)();
void set_guard(int sig, Guard guard) noexcept;

// From the interposer, around setting a disposition (whether or not it succeeds).
void before_change(int sig) noexcept;
void note_change(int sig) noexcept;

// Changes noted for `sig` so far.
uint32_t changes(int sig) noexcept;

}  // namespace calltree::signal_watch
