#include "interpose/signal_watch.h"

#include <csignal>
#include <atomic>

namespace calltree::signal_watch {

namespace {
std::atomic<uint32_t> g_changes[NSIG];
}

void note_change(int sig) noexcept {
    if (sig > 0 && sig < NSIG) g_changes[sig].fetch_add(1, std::memory_order_release);
}

uint32_t changes(int sig) noexcept {
    return sig > 0 && sig < NSIG ? g_changes[sig].load(std::memory_order_acquire) : 0;
}

}  // namespace calltree::signal_watch
