#include "process/signal_watch.h"

#include <atomic>
#include <csignal>

namespace calltree::signal_watch {

namespace {
std::atomic<uint32_t> g_changes[NSIG];
std::atomic<Guard> g_guards[NSIG];

bool valid(int sig) { return sig > 0 && sig < NSIG; }
}  // namespace

void set_guard(int sig, Guard guard) noexcept {
    if (valid(sig)) g_guards[sig].store(guard);
}

void before_change(int sig) noexcept {
    Guard guard = valid(sig) ? g_guards[sig].load() : nullptr;
    if (guard != nullptr) guard();
}

void note_change(int sig) noexcept {
    if (valid(sig)) g_changes[sig].fetch_add(1, std::memory_order_release);
}

uint32_t changes(int sig) noexcept { return valid(sig) ? g_changes[sig].load(std::memory_order_acquire) : 0; }

}  // namespace calltree::signal_watch
