// Seeded, platform-independent random numbers for task generation.
//
// std::uniform_int_distribution is implementation-defined, so generators use this small
// splitmix64/xoshiro256** engine with Lemire's unbiased bounded integers: the same seed gives the
// same tokens on every machine and at every thread count (spec/tasks.md §0.3).
#pragma once
#include <array>
#include <cmath>
#include <cstdint>

namespace seqlab {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) { reseed(seed); }

  void reseed(uint64_t seed) {
    uint64_t z = seed;
    for (auto& s : state_) s = splitmix64(z);
  }

  uint64_t next_u64() {
    const uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  // Uniform integer in [0, n), n >= 1, without modulo bias (Lemire 2019).
  uint64_t uniform_int(uint64_t n) {
    unsigned __int128 m = static_cast<unsigned __int128>(next_u64()) * n;
    uint64_t low = static_cast<uint64_t>(m);
    if (low < n) {
      const uint64_t threshold = (0 - n) % n;
      while (low < threshold) {
        m = static_cast<unsigned __int128>(next_u64()) * n;
        low = static_cast<uint64_t>(m);
      }
    }
    return static_cast<uint64_t>(m >> 64);
  }

  // Uniform integer in [lo, hi] (inclusive).
  int64_t uniform_range(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(uniform_int(static_cast<uint64_t>(hi - lo + 1)));
  }

  // Uniform double in [0, 1) with 53 random bits.
  double uniform01() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

  // One N(0, 1) draw by Box–Muller from two uniforms (u1 in (0, 1]); libm's log and cos, so the
  // same seed gives the same value on every machine with the same libm.
  double normal() {
    const double u1 = 1.0 - uniform01(), u2 = uniform01();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586476925 * u2);
  }

  // A child stream, e.g. one per evaluation length, independent of how many draws preceded it.
  Rng fork(uint64_t stream) const {
    Rng child(0);
    uint64_t z = state_[0] ^ (stream * 0x9E3779B97F4A7C15ULL);
    for (auto& s : child.state_) s = splitmix64(z);
    return child;
  }

  const std::array<uint64_t, 4>& state() const { return state_; }
  void set_state(const std::array<uint64_t, 4>& s) { state_ = s; }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static uint64_t splitmix64(uint64_t& x) {
    uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  std::array<uint64_t, 4> state_{};
};

}  // namespace seqlab
