// The live sampled blocks table: what goes in comes out once, the filter never says "not
// sampled" for a live block, tombstones are cleared without losing entries, a full table
// refuses instead of corrupting.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <unordered_map>

#include "collect/memory/live_table.h"

namespace calltree::memory {
namespace {

TEST(LiveTable, InsertedBlocksComeOutOnceWithTheirValues) {
    LiveTable table(1024);
    for (uintptr_t i = 1; i <= 500; ++i) ASSERT_TRUE(table.insert(i * 16 + 4096, {static_cast<double>(i) * 1.5, static_cast<uint32_t>(i)}));
    EXPECT_EQ(table.size(), 500u);
    for (uintptr_t i = 1; i <= 500; ++i) {
        uintptr_t p = i * 16 + 4096;
        EXPECT_TRUE(table.maybe_contains(p));
        LiveTable::Block b{};
        ASSERT_TRUE(table.remove(p, &b));
        EXPECT_EQ(b.stack, i);
        EXPECT_EQ(b.weight, static_cast<double>(i) * 1.5);
        EXPECT_FALSE(table.remove(p, &b));
    }
    EXPECT_EQ(table.size(), 0u);
}

TEST(LiveTable, UnknownAddressesAreHarmless) {
    LiveTable table(64);
    LiveTable::Block b{};
    EXPECT_FALSE(table.remove(0x1000, &b));  // a block allocated before profiling, say
    EXPECT_FALSE(table.maybe_contains(0x1000));
    ASSERT_TRUE(table.insert(0x2000, {1, 1}));
    EXPECT_FALSE(table.remove(0x3000, &b));
    EXPECT_EQ(table.size(), 1u);
}

TEST(LiveTable, ChurnKeepsEveryLiveBlock) {
    // Far more inserts and removes than slots: tombstones must be cleared along the way.
    LiveTable table(4096);
    std::unordered_map<uintptr_t, uint32_t> live;
    std::mt19937_64 rng(1);
    for (int step = 0; step < 300000; ++step) {
        uintptr_t p = (rng() % 100000 + 1) * 16;
        LiveTable::Block b{};
        if (live.count(p)) {
            ASSERT_TRUE(table.maybe_contains(p));
            ASSERT_TRUE(table.remove(p, &b));
            ASSERT_EQ(b.stack, live[p]);
            live.erase(p);
        } else if (live.size() < 1000) {
            ASSERT_TRUE(table.insert(p, {1.0, static_cast<uint32_t>(step)}));
            live[p] = static_cast<uint32_t>(step);
        }
    }
    EXPECT_EQ(table.size(), live.size());
    size_t visited = 0;
    table.for_each([&](uintptr_t p, const LiveTable::Block& b) {
        ++visited;
        EXPECT_EQ(live.at(p), b.stack);
    });
    EXPECT_EQ(visited, live.size());
}

TEST(LiveTable, GrowsFromSmallWithoutLosingBlocks) {
    LiveTable table(1 << 14, 16, 64);
    for (uintptr_t i = 1; i <= 10000; ++i) ASSERT_TRUE(table.insert(i * 48, {static_cast<double>(i), static_cast<uint32_t>(i)})) << i;
    EXPECT_EQ(table.size(), 10000u);
    LiveTable::Block b{};
    for (uintptr_t i = 1; i <= 10000; ++i) {
        ASSERT_TRUE(table.remove(i * 48, &b)) << i;
        EXPECT_EQ(b.stack, i);
    }
    EXPECT_EQ(table.size(), 0u);
}

TEST(LiveTable, FullTableRefuses) {
    LiveTable table(64);
    size_t inserted = 0;
    for (uintptr_t i = 1; i <= 100; ++i) inserted += table.insert(i * 16, {1, 0}) ? 1 : 0;
    EXPECT_EQ(inserted, table.capacity());
    EXPECT_LT(inserted, 100u);
    // Room comes back once enough blocks are freed to be worth a rebuild, and none is lost.
    LiveTable::Block b{};
    for (uintptr_t i = 1; i <= 8; ++i) EXPECT_TRUE(table.remove(i * 16, &b));
    EXPECT_TRUE(table.insert(100000, {1, 0}));
    EXPECT_EQ(table.size(), inserted - 8 + 1);
    for (uintptr_t i = 9; i <= inserted; ++i) EXPECT_TRUE(table.remove(i * 16, &b)) << i;
}

}  // namespace
}  // namespace calltree::memory
