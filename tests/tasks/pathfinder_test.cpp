// PathfinderSegmentation (spec/tasks.md §2.3): golden primitives (#47), continuity weights, the
// per-pixel scores (#50), structural invariants of generated images (labels cover the long
// snakes, positives connect the markers), determinism, the split and the cache file.
#include "seqlab/tasks/pathfinder.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <deque>
#include <filesystem>

#include "seqlab/tasks/pathfinder_draw.h"
#include "seqlab/util/error.h"

namespace fs = std::filesystem;

namespace pathfinder_test {

using namespace seqlab::tasks;
using pathfinder::Point;
constexpr double kPi = 3.14159265358979323846;

TEST(PathfinderGolden, StraightSnakeGeometry) {  // §6 row 47
  const Point tail{60, 40};
  const Point head = pathfinder::translate(tail, 0.0, 5);
  EXPECT_EQ(head, (Point{60, 45}));
  const Point pivot = pathfinder::translate(head, pathfinder::flip(0.0), 5 + 2);
  EXPECT_EQ(pivot, (Point{60, 38}));
  const Point next = pathfinder::translate(pivot, 0.0, 5 + 2 * 2);
  EXPECT_EQ(next, (Point{60, 47}));
  const auto cands = pathfinder::extension_candidates(next, 5, 2, 128);
  EXPECT_EQ(cands.size(), 41u);  // 44 angle samples, 41 unique pixels
  for (const Point c : {Point{60, 54}, Point{60, 53}, Point{61, 53}})
    EXPECT_NE(std::find(cands.begin(), cands.end(), c), cands.end()) << c.y << "," << c.x;
  const double phi = std::atan2(1.0, 6.0);
  EXPECT_NEAR(phi * 180 / kPi, 9.46, 0.005);
  EXPECT_NEAR(pathfinder::continuity_weight(phi, 1.8), 0.9142, 5e-5);
  EXPECT_DOUBLE_EQ(pathfinder::continuity_weight(std::atan2(0.0, 7.0), 1.8), 1.0);
  // Paddle 2 from the chosen (60, 54) runs back toward P′ and ends at (60, 49): a gap of 2m.
  const Point end = pathfinder::translate({60, 54}, pathfinder::flip(0.0), 5);
  EXPECT_EQ(end, (Point{60, 49}));
  EXPECT_EQ(end.x - head.x, 4);
  EXPECT_DOUBLE_EQ(pathfinder::flip(-1.0), -1.0 + kPi);
  EXPECT_DOUBLE_EQ(pathfinder::flip(1.0), 1.0 - kPi);
}

TEST(PathfinderGolden, ContinuityWeights) {  // §2.3.3 golden 2
  const double deltas[] = {0, 10, 20, 30, 45};
  const double want[3][5] = {
      {1, .9045, .6545, .3455, .0245}, {1, .8597, .5174, .1654, 0}, {1, .8214, .4132, .0670, 0}};
  const double kappas[] = {1.8, 2.2, 2.5};
  for (int k = 0; k < 3; ++k)
    for (int i = 0; i < 5; ++i)
      EXPECT_NEAR(pathfinder::continuity_weight(deltas[i] * kPi / 180, kappas[k]), want[k][i], 5e-5)
          << "kappa " << kappas[k] << " delta " << deltas[i];
}

TEST(PathfinderGolden, MacroF1AndBalancedAccuracy) {  // §6 row 50
  SegmentationScores s;
  s.add(torch::tensor({0, 0, 1, 1, 2, 2}), torch::tensor({0, 1, 1, 1, 2, 0}));
  EXPECT_NEAR(s.macro_f1(), (0.5 + 0.8 + 2.0 / 3) / 3, 1e-12);
  EXPECT_NEAR(s.macro_f1(), 0.6556, 5e-5);
  EXPECT_NEAR(s.balanced_accuracy(), 0.6667, 5e-5);
  EXPECT_NEAR(s.accuracy(), 4.0 / 6, 1e-12);
  // A class predicted but absent from y_true counts in macro-F1 with F1 = 0, not in recall.
  SegmentationScores t;
  t.add(torch::tensor({0, 0}), torch::tensor({0, 2}));
  EXPECT_NEAR(t.macro_f1(), (2.0 / 3 + 0) / 2, 1e-12);
  EXPECT_NEAR(t.balanced_accuracy(), 0.5, 1e-12);
}

// Pixels of class `cls` reachable from `from` in steps of at most `reach` px (paddles of one
// snake are ≈ 2m apart, so the snake is one component at this reach).
bool connected(const pathfinder::Image& img, int cls, Point from, Point to, int64_t reach) {
  const int64_t n = img.size;
  auto nearest = [&](Point p) {
    Point best{-1, -1};
    double bd = 1e300;
    for (int64_t y = 0; y < n; ++y)
      for (int64_t x = 0; x < n; ++x)
        if (img.classes[y * n + x] == cls) {
          const double d = std::hypot(double(y - p.y), double(x - p.x));
          if (d < bd) bd = d, best = {y, x};
        }
    return std::make_pair(best, bd);
  };
  const auto [a, da] = nearest(from);
  const auto [b, db] = nearest(to);
  if (da > 4 || db > 4) return false;  // each marker sits on the snake's end paddle
  std::vector<char> seen(n * n, 0);
  std::deque<Point> q{a};
  seen[a.y * n + a.x] = 1;
  while (!q.empty()) {
    const Point p = q.front();
    q.pop_front();
    if (p == b) return true;
    for (int64_t dy = -reach; dy <= reach; ++dy)
      for (int64_t dx = -reach; dx <= reach; ++dx) {
        const int64_t y = p.y + dy, x = p.x + dx;
        if (y < 0 || x < 0 || y >= n || x >= n || seen[y * n + x]) continue;
        if (img.classes[y * n + x] != cls) continue;
        seen[y * n + x] = 1;
        q.push_back({y, x});
      }
  }
  return false;
}

TEST(PathfinderImages, LabelsCoverTheLongSnakesAndPositivesConnectTheMarkers) {
  const auto params = pathfinder::params_for(128);
  int positives = 0, negatives = 0;
  for (uint64_t seed = 0; seed < 12; ++seed) {
    seqlab::Rng rng(seed);
    const auto img = pathfinder::generate_image(params, rng);
    ASSERT_EQ(img.pixels.size(), 128u * 128u);
    int64_t on_snake = 0, twos = 0;
    for (size_t i = 0; i < img.pixels.size(); ++i) {
      if (img.classes[i] > 0) {
        ++on_snake;
        EXPECT_GT(img.pixels[i], 0) << "a labelled pixel must be drawn";
      }
      twos += img.classes[i] == 2;
    }
    // Two snakes of 14 paddles of length 5 cover well over 2·14·5 pixels.
    EXPECT_GT(on_snake, 2 * params.contour_length * params.paddle_length) << seed;
    EXPECT_EQ(*std::max_element(img.pixels.begin(), img.pixels.end()), 255);
    EXPECT_GT(img.distractors_drawn, params.distractors / 2) << seed;
    if (img.label == 1) {
      ++positives;
      EXPECT_GT(twos, params.contour_length * params.paddle_length) << seed;
      EXPECT_LT(twos, on_snake) << "the other long snake stays class 1";
      EXPECT_TRUE(connected(img, 2, img.markers[0], img.markers[1], 2 * 3 + 2)) << seed;
    } else {
      ++negatives;
      EXPECT_EQ(twos, 0) << "negative images contain no 2s";
    }
  }
  EXPECT_GT(positives, 1);
  EXPECT_GT(negatives, 1);
}

TEST(PathfinderImages, LargerSizesGenerate) {
  for (int64_t size : {256, 512}) {
    seqlab::Rng rng(1);
    const auto img = pathfinder::generate_image(pathfinder::params_for(size), rng);
    int64_t on_snake = 0;
    for (auto c : img.classes) on_snake += c > 0;
    EXPECT_GT(on_snake, 200) << size;
  }
  EXPECT_THROW(pathfinder::params_for(64), seqlab::UserError);
}

TEST(PathfinderDataset, DeterministicAtAnyThreadCountSplitAndCache) {
  at::set_num_threads(1);
  const auto a = generate_pathfinder_dataset(128, 10, 7);
  at::set_num_threads(2);
  const auto b = generate_pathfinder_dataset(128, 10, 7);
  at::set_num_threads(1);
  EXPECT_EQ(a.pixels, b.pixels);
  EXPECT_EQ(a.classes, b.classes);
  EXPECT_EQ(a.train.size(), 8u);
  EXPECT_EQ(a.val.size(), 1u);
  EXPECT_EQ(a.test.size(), 1u);
  std::vector<int64_t> all(a.train);
  all.insert(all.end(), a.val.begin(), a.val.end());
  all.insert(all.end(), a.test.begin(), a.test.end());
  std::sort(all.begin(), all.end());
  for (int64_t i = 0; i < 10; ++i) EXPECT_EQ(all[i], i);
  const auto c = generate_pathfinder_dataset(128, 10, 8);
  EXPECT_NE(a.pixels, c.pixels);

  const fs::path dir = fs::temp_directory_path() / ("seqlab_pf_" + std::to_string(::getpid()));
  const auto path = pathfinder_cache_path(dir.string(), 128, 10, 7);
  write_pathfinder_dataset(a, path);
  const auto r = read_pathfinder_dataset(path, 128, 10, 7);
  EXPECT_EQ(r.pixels, a.pixels);
  EXPECT_EQ(r.classes, a.classes);
  EXPECT_EQ(r.labels, a.labels);
  EXPECT_EQ(r.test, a.test);
  EXPECT_THROW(read_pathfinder_dataset(path, 128, 11, 7), seqlab::UserError);

  // The task reads the cache; batches are (B, L, 1) in [−1, 1] with class targets.
  TaskOptions opts;
  opts.name = "pathfinder_seg_128";
  opts.images = 10;
  opts.data_seed = 7;
  opts.data_dir = dir.string();
  PathfinderTask task(opts);
  EXPECT_TRUE(task.info().class_weighted_loss);
  seqlab::Rng rng(0);
  const auto batch = task.sample(rng, 3, 128 * 128);
  EXPECT_EQ(batch.inputs.sizes(), (std::vector<int64_t>{3, 128 * 128, 1}));
  EXPECT_EQ(batch.targets.sizes(), (std::vector<int64_t>{3, 128 * 128}));
  EXPECT_GE(batch.inputs.min().item<float>(), -1.f);
  EXPECT_LE(batch.inputs.max().item<float>(), 1.f);
  EXPECT_LE(batch.targets.max().item<int64_t>(), 2);
  EXPECT_THROW(task.sample(rng, 1, 100), seqlab::UserError);
  fs::remove_all(dir);
  opts.name = "pathfinder_seg_100";
  EXPECT_THROW(PathfinderTask{opts}, seqlab::UserError);
}

}  // namespace pathfinder_test
