// The PathfinderSegmentation image generator (spec/tasks.md §2.3; DLR, arXiv:2212.00768, after
// the "snakes" generator of Linsley et al.): two long snakes of paddles with continuity,
// distractor snakes each carrying a marker, two markers on the long snakes (positive: both ends
// of one snake; negative: one end of each), and a 3-class label per pixel.
//
// Construction choices the spec allows (§2.3.2): paddles are rasterised analytically on the
// supersampled canvas (a pixel centre within t·aa/2 of the segment, PIL's line without caps), the
// exclusion mask is the same line grown by m·aa (distance to the segment's rectangle), and
// downsampling is a box (area) filter instead of Lanczos. Seeds are drawn uniformly among the
// available pixels by rejection sampling (same distribution as listing them all), falling back
// to the full list when pixels are scarce.
#pragma once
#include <cstdint>
#include <vector>

#include "seqlab/util/rng.h"

namespace seqlab::tasks::pathfinder {

struct Params {
  int64_t size = 128;                  // H = W
  int64_t padding = 1;                 // occupied border frame
  std::vector<int64_t> margins{2, 3};  // paddle_margin m, uniform per image
  int64_t seed_distance = 22;
  double marker_radius = 2.1;
  int64_t contour_length = 14;    // paddles per long snake
  int64_t paddle_length = 5;      // L_p
  double paddle_thickness = 1.5;  // t
  int64_t antialias = 2;          // aa
  double continuity = 1.8;        // κ
  int64_t distractor_length = 4;  // paddles per distractor
  int64_t distractors = 16;
  double snake_contrast = 0.9;
  int64_t paddle_retries = 2;      // up to 3 tries per paddle
  int64_t distractor_retries = 4;  // up to 5 tries per distractor
};

// The §2.3.1 table for 128, 256 or 512; throws seqlab::UserError for another size.
Params params_for(int64_t size);

struct Point {
  int64_t y = 0, x = 0;
  bool operator==(const Point& o) const { return y == o.y && x == o.x; }
};

// ---- Primitives (§2.3.2; golden example #47 tests these) ---------------------------------------
// (⌈c_y + d sin θ⌉, ⌈c_x + d cos θ⌉).
Point translate(Point c, double theta, double d);
// θ + π if θ < 0, else θ − π.
double flip(double theta);
// cos²(min(κ·Δ, π/2)): the continuity weight of a turn by Δ radians.
double continuity_weight(double delta, double kappa);
// The candidate far tips of the next paddle around pivot P′ (§2.3.3 step 2): points at radius
// r = L_p + m, one pixel of arc apart, inside [0, size)², truncated to integers, deduplicated in
// order of first appearance.
std::vector<Point> extension_candidates(Point pivot, int64_t paddle_length, int64_t margin,
                                        int64_t size);

// One generated image: 8-bit pixels and per-pixel classes (0 background/distractor, 1 long snake
// not connecting the markers, 2 the connecting snake), both row-major size².
struct Image {
  int64_t size = 0;
  int label = 0;  // 1: the markers are connected
  std::vector<uint8_t> pixels;
  std::vector<uint8_t> classes;
  std::vector<Point> markers;  // the two main markers (origin, terminal)
  int64_t distractors_drawn = 0;
};

// Generates one image (§2.3.4) from `rng`; the result depends only on the rng state.
Image generate_image(const Params& params, Rng& rng);

}  // namespace seqlab::tasks::pathfinder
