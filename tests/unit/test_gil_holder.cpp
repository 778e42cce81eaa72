// gil_holder against CPython 3.11 itself, in an embedded interpreter: who holds the GIL, and that
// a pinned GIL keeps its holder from releasing it (what keeps the sampler's signal out of the
// holder's next blocking call).
#include <gtest/gtest.h>
#include <time.h>

#include <atomic>
#include <thread>

#include "cpython/boundary.h"
#include "embedded_python.h"

namespace {

uint64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

TEST(GilHolder, TellsTheHolder) {
    calltree::testing::ensure_python();
    PyThreadState* mine = PyThreadState_Get();
    EXPECT_TRUE(ct_holds_gil(mine));
    EXPECT_FALSE(ct_holds_gil(nullptr));
    PyThreadState* saved = PyEval_SaveThread();
    EXPECT_FALSE(ct_holds_gil(mine));
    PyEval_RestoreThread(saved);
    EXPECT_TRUE(ct_holds_gil(mine));
}

TEST(GilHolder, APinnedGilIsNotReleasedUntilUnpinned) {
    calltree::testing::ensure_python();
    std::atomic<bool> pinned{false};
    std::atomic<uint64_t> unpinned_at{0};
    bool second_pin = true;
    std::thread other([&] {
        if (!ct_pin_gil()) return;
        second_pin = ct_pin_gil();  // the mutex is taken: never waits
        pinned.store(true);
        timespec pause{0, 50'000'000};
        nanosleep(&pause, nullptr);
        unpinned_at.store(now_ns());
        ct_unpin_gil();
    });
    while (!pinned.load()) std::this_thread::yield();
    EXPECT_FALSE(second_pin);
    PyThreadState* mine = PyThreadState_Get();
    EXPECT_TRUE(ct_holds_gil(mine));  // and stays so while pinned: releasing waits
    PyThreadState* saved = PyEval_SaveThread();
    uint64_t released_at = now_ns();
    PyEval_RestoreThread(saved);
    other.join();
    EXPECT_GE(released_at, unpinned_at.load());
    EXPECT_TRUE(ct_pin_gil());
    ct_unpin_gil();
}

}  // namespace
