// Byte sampling, as tcmalloc's and jemalloc's heap profilers do it: sample points fall on the
// stream of allocated bytes as a Poisson process of mean spacing `rate`, and an allocation is
// sampled when at least one point falls inside it, which happens with probability
// p = 1 - exp(-size/rate). Weighting a sampled allocation by size/p (and its count by 1/p)
// makes every sum unbiased, whatever the mix of sizes; large allocations are (almost) certain.
// Pure arithmetic, no allocation: runs inside malloc.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace calltree::memory {

class ByteSampler {
public:
    // `rate` 1 samples every allocation with weight = size (exact counting).
    void reset(uint64_t rate, uint64_t seed) {
        rate_ = rate == 0 ? 1 : rate;
        state_ = seed | 1;
        countdown_ = rate_ == 1 ? 0 : next_gap();
    }

    // Fast path: most calls only subtract. True when `size` bytes contain a sample point.
    bool take(uint64_t size) { return !pass(size) && sample_point(); }

    // take() in two halves, for hooks whose common case must stay a few instructions: pass()
    // subtracts and says whether no sample point was reached; if one was, settle() draws the next.
    bool pass(uint64_t size) {
        countdown_ -= static_cast<int64_t>(size);
        return countdown_ > 0;
    }
    void settle() {
        if (countdown_ <= 0) sample_point();
    }

private:
    // Out of line: inlined, its logarithm made every allocation hook save registers.
    [[gnu::noinline]] bool sample_point() {
        if (rate_ == 1) {
            countdown_ = 0;
            return true;
        }
        // Points after the first one inside this allocation do not matter: the process is
        // memoryless, so the next gap starts fresh after this allocation.
        countdown_ = next_gap();
        return true;
    }

public:
    // Weights of a sampled allocation of `size` bytes: bytes and count it stands for.
    double bytes_weight(uint64_t size) const {
        if (rate_ == 1 || size == 0) return static_cast<double>(size);
        double p = probability(size);
        return static_cast<double>(size) / p;
    }
    double count_weight(uint64_t size) const {
        if (rate_ == 1) return 1.0;
        return 1.0 / probability(size == 0 ? 1 : size);
    }
    double probability(uint64_t size) const {
        if (rate_ == 1) return 1.0;
        return -std::expm1(-static_cast<double>(size) / static_cast<double>(rate_));
    }
    uint64_t rate() const { return rate_; }

private:
    // xorshift64*: a few instructions, no state beyond 8 bytes, good enough for sampling.
    uint64_t next_random() {
        state_ ^= state_ >> 12;
        state_ ^= state_ << 25;
        state_ ^= state_ >> 27;
        return state_ * 0x2545F4914F6CDD1DULL;
    }
    // Exponentially distributed gap of mean `rate_`, at least 1 byte.
    int64_t next_gap() {
        // 53 random bits -> u in (0, 1].
        double u = static_cast<double>((next_random() >> 11) + 1) * (1.0 / 9007199254740992.0);
        double gap = -std::log(u) * static_cast<double>(rate_);
        if (gap < 1) gap = 1;
        if (gap > 9e18) gap = 9e18;
        return static_cast<int64_t>(gap);
    }

    uint64_t rate_ = 1;
    uint64_t state_ = 1;
    int64_t countdown_ = 0;
};

}  // namespace calltree::memory
