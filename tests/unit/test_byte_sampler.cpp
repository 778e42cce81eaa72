// Byte sampling must be unbiased whatever the sizes: simulated with fixed seeds, the weighted
// sums of sampled allocations must match the true sums within a few of their standard errors
// (computed from the same probabilities), and each size must be sampled with p = 1 - exp(-n/rate).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "collect/memory/byte_sampler.h"

namespace calltree::memory {
namespace {

TEST(ByteSampler, WeightedSumsAreUnbiasedForAMixOfSizes) {
    const uint64_t rate = 64 * 1024;
    ByteSampler sampler;
    sampler.reset(rate, 12345);
    std::mt19937_64 rng(7);
    std::uniform_int_distribution<uint64_t> small(1, 512), medium(513, 200000);
    double true_bytes = 0, true_count = 0, bytes = 0, count = 0, var_bytes = 0, var_count = 0;
    for (int i = 0; i < 2'000'000; ++i) {
        uint64_t size = i % 100 == 0 ? medium(rng) : i % 100000 == 1 ? 50u << 20 : small(rng);
        true_bytes += static_cast<double>(size);
        true_count += 1;
        double p = sampler.probability(size);
        var_bytes += static_cast<double>(size) * static_cast<double>(size) * (1 - p) / p;
        var_count += (1 - p) / p;
        if (sampler.take(size)) {
            bytes += sampler.bytes_weight(size);
            count += sampler.count_weight(size);
        }
    }
    EXPECT_NEAR(bytes, true_bytes, 4 * std::sqrt(var_bytes)) << "relative error " << bytes / true_bytes - 1;
    EXPECT_NEAR(count, true_count, 4 * std::sqrt(var_count)) << "relative error " << count / true_count - 1;
    // The standard error itself is what the rate promises: about sqrt(rate / bytes).
    EXPECT_LT(std::sqrt(var_bytes) / true_bytes, 3 * std::sqrt(static_cast<double>(rate) / true_bytes));
}

TEST(ByteSampler, EachSizeIsSampledWithItsProbability) {
    const uint64_t rate = 4096;
    for (uint64_t size : {16u, 1000u, 4096u, 20000u}) {
        ByteSampler sampler;
        sampler.reset(rate, 99 + size);
        const int n = 400'000;
        int taken = 0;
        for (int i = 0; i < n; ++i) taken += sampler.take(size) ? 1 : 0;
        double p = sampler.probability(size);
        EXPECT_NEAR(p, 1 - std::exp(-static_cast<double>(size) / rate), 1e-12);
        double sd = std::sqrt(p * (1 - p) / n);
        EXPECT_NEAR(static_cast<double>(taken) / n, p, 5 * sd + 1e-9) << "size " << size;
    }
}

TEST(ByteSampler, RateOneCountsEveryAllocationExactly) {
    ByteSampler sampler;
    sampler.reset(1, 3);
    for (uint64_t size : {0u, 1u, 17u, 1u << 20}) {
        EXPECT_TRUE(sampler.take(size) || size == 0);
        EXPECT_EQ(sampler.bytes_weight(size), static_cast<double>(size));
        EXPECT_EQ(sampler.count_weight(size), 1.0);
    }
}

TEST(ByteSampler, SameSeedSameSamples) {
    ByteSampler a, b;
    a.reset(1000, 42);
    b.reset(1000, 42);
    for (int i = 0; i < 10000; ++i) ASSERT_EQ(a.take(100 + i % 50), b.take(100 + i % 50));
}

}  // namespace
}  // namespace calltree::memory
