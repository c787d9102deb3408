#include "seqlab/util/rng.h"

#include <gtest/gtest.h>

#include <set>

namespace seqlab {
namespace rng_test {

TEST(Rng, SameSeedSameStream) {
  Rng a(42), b(42);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.next_u64(), b.next_u64());
}

TEST(Rng, UniformIntInRangeAndCoversAll) {
  Rng r(7);
  std::set<uint64_t> seen;
  for (int i = 0; i < 2000; ++i) {
    const uint64_t v = r.uniform_int(5);
    ASSERT_LT(v, 5u);
    seen.insert(v);
  }
  EXPECT_EQ(seen.size(), 5u);
}

TEST(Rng, UniformIntIsRoughlyUniform) {
  Rng r(3);
  int counts[3] = {0, 0, 0};
  const int n = 30000;
  for (int i = 0; i < n; ++i) ++counts[r.uniform_int(3)];
  for (int c : counts) EXPECT_NEAR(c, n / 3, 500);
}

TEST(Rng, StateRoundTrip) {
  Rng a(9);
  a.next_u64();
  Rng b(0);
  b.set_state(a.state());
  EXPECT_EQ(a.next_u64(), b.next_u64());
}

TEST(Rng, ForkIsDeterministicAndDistinct) {
  Rng a(5);
  EXPECT_EQ(a.fork(1).next_u64(), a.fork(1).next_u64());
  EXPECT_NE(a.fork(1).next_u64(), a.fork(2).next_u64());
}

}  // namespace rng_test
}  // namespace seqlab
