// PathfinderSegmentation image generator (pathfinder_draw.h; spec/tasks.md §2.3).
#include "seqlab/tasks/pathfinder_draw.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <tuple>

#include "seqlab/util/error.h"

namespace seqlab::tasks::pathfinder {
namespace {

constexpr double kPi = 3.14159265358979323846;

double radians(int64_t degrees) {
  return static_cast<double>(degrees) * kPi / 180.0;
}

// A square float image with its side length.
struct Grid {
  int64_t n = 0;
  std::vector<float> v;
  explicit Grid(int64_t side = 0, float fill = 0.f) : n(side), v(side * side, fill) {}
  float& at(int64_t y, int64_t x) { return v[y * n + x]; }
  float at(int64_t y, int64_t x) const { return v[y * n + x]; }
  bool inside(int64_t y, int64_t x) const { return y >= 0 && x >= 0 && y < n && x < n; }
};

// Box (area) resize of a square image from in.n to n_out pixels per side: output pixel i covers
// the input interval [i·s, (i+1)·s), s = in.n / n_out, each input pixel weighted by its overlap.
Grid box_resize(const Grid& in, int64_t n_out) {
  const double s = static_cast<double>(in.n) / static_cast<double>(n_out);
  // weights[i] = (first input pixel, overlaps...)
  std::vector<std::pair<int64_t, std::vector<double>>> weights(n_out);
  for (int64_t i = 0; i < n_out; ++i) {
    const double lo = i * s, hi = (i + 1) * s;
    const auto first = static_cast<int64_t>(std::floor(lo));
    std::vector<double> w;
    for (int64_t j = first; j < in.n && j < hi; ++j)
      w.push_back((std::min(hi, j + 1.0) - std::max(lo, static_cast<double>(j))) / s);
    weights[i] = {first, std::move(w)};
  }
  std::vector<double> rows(n_out * in.n, 0.0);  // resized along y
  for (int64_t i = 0; i < n_out; ++i)
    for (size_t k = 0; k < weights[i].second.size(); ++k)
      for (int64_t x = 0; x < in.n; ++x)
        rows[i * in.n + x] += weights[i].second[k] * in.at(weights[i].first + k, x);
  Grid out(n_out);
  for (int64_t i = 0; i < n_out; ++i)
    for (int64_t j = 0; j < n_out; ++j) {
      double acc = 0;
      for (size_t k = 0; k < weights[j].second.size(); ++k)
        acc += weights[j].second[k] * rows[i * in.n + weights[j].first + k];
      out.at(i, j) = static_cast<float>(acc);
    }
  return out;
}

// A paddle's line image and exclusion mask on a (2R+1)² patch whose centre is the paddle's start
// (§2.3.2 item 3). Drawn on the (2R·aa+1)² supersampled canvas, then box-downsampled.
struct Patch {
  int64_t radius = 0;
  Grid line, exclusion;
};

Patch paddle_patch(const Params& p, int64_t margin, double theta, double contrast, int64_t radius) {
  const int64_t aa = p.antialias, n_ss = 2 * radius * aa + 1, c = radius * aa;
  const Point end = translate({c, c}, theta, static_cast<double>(p.paddle_length * aa));
  const double dy = static_cast<double>(end.y - c), dx = static_cast<double>(end.x - c);
  const double len = std::max(std::hypot(dy, dx), 1e-12);
  const double half = std::round(p.paddle_thickness * aa) / 2.0, grow = margin * aa;
  Grid line_ss(n_ss), excl_ss(n_ss);
  for (int64_t y = 0; y < n_ss; ++y)
    for (int64_t x = 0; x < n_ss; ++x) {
      const double ry = y - c, rx = x - c;
      const double u = (ry * dy + rx * dx) / len;             // along the segment
      const double perp = std::abs(ry * dx - rx * dy) / len;  // across it
      if (u >= 0 && u <= len && perp <= half) line_ss.at(y, x) = 1.f;
      const double du = std::max({0.0, -u, u - len}), dp = std::max(0.0, perp - half);
      if (du * du + dp * dp <= grow * grow) excl_ss.at(y, x) = 1.f;
    }
  Patch out{radius, box_resize(line_ss, 2 * radius + 1), box_resize(excl_ss, 2 * radius + 1)};
  for (auto& v : out.line.v) v *= static_cast<float>(contrast);
  for (auto& v : out.exclusion.v) v = std::clamp(v, 0.f, 1.f);
  return out;
}

using PatchPtr = std::shared_ptr<const Patch>;

// Patches depend only on (parameters, margin, θ, contrast, radius), and θ comes from a small set
// (integer degrees for seeds; atan2 of integer offsets for extensions): a per-thread cache makes
// each one rasterised once instead of once per paddle.
PatchPtr cached_patch(const Params& p, int64_t margin, double theta, double contrast,
                      int64_t radius) {
  using Key = std::tuple<int64_t, int64_t, int64_t, double, double, double, int64_t, int64_t>;
  thread_local std::map<Key, PatchPtr> cache;
  const Key key{p.size, p.paddle_length, p.antialias, p.paddle_thickness,
                theta,  contrast,        margin,      radius};
  auto it = cache.find(key);
  if (it == cache.end()) {
    if (cache.size() > 20000) cache.clear();  // bound the memory across many parameter sets
    it =
        cache
            .emplace(key, std::make_shared<Patch>(paddle_patch(p, margin, theta, contrast, radius)))
            .first;
  }
  return it->second;
}

PatchPtr paddle(const Params& p, int64_t margin, double theta, double contrast) {
  const auto thick = static_cast<int64_t>(std::ceil(p.paddle_thickness));
  return cached_patch(p, margin, theta, contrast, p.paddle_length + thick + margin);
}

// A patch placed with its centre on `at`, clipped at the image border.
struct Placed {
  Point at;
  PatchPtr patch;
};

template <typename F>
void for_each_pixel(const Placed& pl, int64_t size, F&& f) {
  const int64_t r = pl.patch->radius;
  for (int64_t i = 0; i <= 2 * r; ++i)
    for (int64_t j = 0; j <= 2 * r; ++j) {
      const int64_t y = pl.at.y - r + i, x = pl.at.x - r + j;
      if (y >= 0 && x >= 0 && y < size && x < size) f(y, x, i, j);
    }
}

void draw_line(Grid& image, const Placed& pl) {
  for_each_pixel(pl, image.n, [&](int64_t y, int64_t x, int64_t i, int64_t j) {
    image.at(y, x) = std::max(image.at(y, x), pl.patch->line.at(i, j));
  });
}

void commit(Grid& mask, const Placed& pl) {
  for_each_pixel(pl, mask.n, [&](int64_t y, int64_t x, int64_t i, int64_t j) {
    mask.at(y, x) = std::max(mask.at(y, x), pl.patch->exclusion.at(i, j));
  });
}

// Offsets of the oriented seed kernel K_θ (§2.3.2 item 4): the fully covered core of a paddle's
// exclusion mask drawn from the centre of a (2(L_p + m) + 1)² canvas (the reference's (1, 1)
// offset dropped, as the spec allows).
std::vector<Point> seed_kernel(const Params& p, int64_t margin, double theta) {
  const int64_t r = p.paddle_length + margin;
  const PatchPtr k = cached_patch(p, margin, theta, 1.0, r);
  std::vector<Point> off;
  for (int64_t i = 0; i <= 2 * r; ++i)
    for (int64_t j = 0; j <= 2 * r; ++j)
      if (k->exclusion.at(i, j) >= 1.f - 1e-6f) off.push_back({i - r, j - r});
  return off;
}

// A pixel is available when a paddle drawn from it overlaps nothing: max of M′ over p + K_θ
// (outside pixels ignored, as cv2's dilate does) is at most 0.3.
bool available(const Grid& m, const std::vector<Point>& kernel, Point p) {
  for (const auto& o : kernel) {
    const int64_t y = p.y + o.y, x = p.x + o.x;
    if (m.inside(y, x) && m.at(y, x) > 0.3f) return false;
  }
  return true;
}

// Uniform among available pixels: rejection sampling, then the full list when scarce.
std::optional<Point> sample_available(const Grid& m, const std::vector<Point>& kernel, Rng& rng) {
  const auto n = static_cast<uint64_t>(m.n);
  for (int k = 0; k < 256; ++k) {
    const Point p{static_cast<int64_t>(rng.uniform_int(n)),
                  static_cast<int64_t>(rng.uniform_int(n))};
    if (available(m, kernel, p)) return p;
  }
  std::vector<Point> all;
  for (int64_t y = 0; y < m.n; ++y)
    for (int64_t x = 0; x < m.n; ++x)
      if (available(m, kernel, {y, x})) all.push_back({y, x});
  if (all.empty()) return std::nullopt;
  return all[rng.uniform_int(all.size())];
}

// The state of a snake being grown: its last paddle's (uncommitted) exclusion mask, the pivot and
// orientation the next extension starts from, and its tips.
struct Snake {
  Placed last;
  Point pivot;
  double theta = 0;
  Point tail, tip;
};

struct Canvas {
  const Params& p;
  int64_t margin;
  Grid mask;  // occupancy M
};

bool inside(const Grid& g, Point q) {
  return g.inside(q.y, q.x);
}

// Sets a border of `width` pixels to 1 (the padding frame of M, and the seed frames of M′).
void set_frame(Grid& g, int64_t width) {
  for (int64_t y = 0; y < g.n; ++y)
    for (int64_t x = 0; x < g.n; ++x)
      if (y < width || x < width || y >= g.n - width || x >= g.n - width) g.at(y, x) = 1.f;
}

// seed_snake (§2.3.3): frame = width of the border set to 1 in M′; `distractor` adds the 1 %
// availability stop. Draws the first paddle into `image`.
std::optional<Snake> seed_snake(Canvas& cv, Grid& image, int64_t frame, bool distractor,
                                double contrast, Rng& rng) {
  const Params& p = cv.p;
  Grid framed = cv.mask;
  set_frame(framed, frame);
  if (distractor) {
    int64_t free_pixels = 0;
    for (float v : cv.mask.v) free_pixels += v <= 0.3f;
    if (static_cast<double>(free_pixels) < 0.01 * static_cast<double>(cv.mask.v.size()))
      return std::nullopt;
  }
  for (int64_t attempt = 0; attempt <= p.paddle_retries; ++attempt) {
    const double theta = radians(rng.uniform_range(-180, 179));
    const auto tail = sample_available(framed, seed_kernel(p, cv.margin, theta), rng);
    if (!tail) return std::nullopt;
    const Point head = translate(*tail, theta, static_cast<double>(p.paddle_length));
    const Point pivot =
        translate(head, flip(theta), static_cast<double>(p.paddle_length + cv.margin));
    if (!inside(image, head) || !inside(image, pivot)) continue;
    Snake s{{*tail, paddle(p, cv.margin, theta, contrast)}, pivot, theta, *tail, *tail};
    draw_line(image, s.last);
    return s;
  }
  return std::nullopt;
}

// extend_snake (§2.3.3): one more paddle beyond the pivot, chosen among the candidates with the
// continuity and occupancy weights; the previous paddle's mask is committed on success.
bool extend_snake(Canvas& cv, Grid& image, Snake& s, double contrast, Rng& rng) {
  const Params& p = cv.p;
  const Point next_pivot =
      translate(s.pivot, s.theta, static_cast<double>(p.paddle_length + 2 * cv.margin));
  const auto cands = extension_candidates(next_pivot, p.paddle_length, cv.margin, image.n);
  std::vector<double> weight(cands.size()), phi(cands.size());
  double total = 0;
  const int64_t m = cv.margin;
  for (size_t k = 0; k < cands.size(); ++k) {
    const Point c = cands[k];
    phi[k] = std::atan2(static_cast<double>(c.y - next_pivot.y),
                        static_cast<double>(c.x - next_pivot.x));
    const double d = std::abs(phi[k] - s.theta);
    float occupied = 0;  // dilate(M, disk(m)) at c
    for (int64_t dy = -m; dy <= m; ++dy)
      for (int64_t dx = -m; dx <= m; ++dx)
        if (dy * dy + dx * dx <= m * m && cv.mask.inside(c.y + dy, c.x + dx))
          occupied = std::max(occupied, cv.mask.at(c.y + dy, c.x + dx));
    weight[k] = continuity_weight(std::min(d, 2 * kPi - d), p.continuity) * (1.0 - occupied);
    total += weight[k];
  }
  if (total < 1e-4) return false;
  for (int64_t attempt = 0; attempt <= p.paddle_retries; ++attempt) {
    const double u = rng.uniform01();
    size_t pick = cands.size() - 1;
    double cum = 0;
    for (size_t k = 0; k < cands.size(); ++k) {
      cum += weight[k] / total;
      if (cum > u) {
        pick = k;
        break;
      }
    }
    Placed next{cands[pick], paddle(p, cv.margin, flip(phi[pick]), contrast)};
    bool collides = false;
    for_each_pixel(next, image.n, [&](int64_t y, int64_t x, int64_t i, int64_t j) {
      collides = collides || cv.mask.at(y, x) + next.patch->exclusion.at(i, j) >= 1.8f;
    });
    if (collides) continue;
    draw_line(image, next);
    commit(cv.mask, s.last);
    s.last = std::move(next);
    s.pivot = next_pivot;
    s.theta = phi[pick];
    s.tip = cands[pick];
    return true;
  }
  return false;
}

// A circle marker (§2.3.4 step 4): the fraction of each pixel's aa × aa sub-pixels within
// marker_radius·aa of c·aa, drawn with max into `image`.
void draw_marker(const Params& p, Grid& image, Point c) {
  const int64_t aa = p.antialias;
  const double r = p.marker_radius * aa;
  const auto reach = static_cast<int64_t>(std::ceil(p.marker_radius)) + 1;
  for (int64_t y = c.y - reach; y <= c.y + reach; ++y)
    for (int64_t x = c.x - reach; x <= c.x + reach; ++x) {
      if (!image.inside(y, x)) continue;
      int64_t hit = 0;
      for (int64_t i = 0; i < aa; ++i)
        for (int64_t j = 0; j < aa; ++j) {
          const double dy = static_cast<double>(y * aa + i - c.y * aa);
          const double dx = static_cast<double>(x * aa + j - c.x * aa);
          hit += dy * dy + dx * dx <= r * r;
        }
      image.at(y, x) = std::max(image.at(y, x), static_cast<float>(hit) / (aa * aa));
    }
}

}  // namespace

Params params_for(int64_t size) {
  Params p;
  p.size = size;
  if (size == 128) return p;  // the struct's defaults are the 128 column
  if (size == 256) {
    p.margins = {4};
    p.seed_distance = 27;
    p.marker_radius = 4.2;
    p.contour_length = 16;
    p.paddle_length = 8;
    p.paddle_thickness = 2;
    p.antialias = 2;
    p.continuity = 2.2;
    p.distractor_length = 5;
    p.distractors = 16;
    p.snake_contrast = 1.0;
    return p;
  }
  if (size == 512) {
    p.margins = {7};
    p.seed_distance = 40;
    p.marker_radius = 9;
    p.contour_length = 12;
    p.paddle_length = 22;
    p.paddle_thickness = 6;
    p.antialias = 3;
    p.continuity = 2.5;
    p.distractor_length = 4;
    p.distractors = 18;
    p.snake_contrast = 1.0;
    return p;
  }
  throw UserError("pathfinder: image size " + std::to_string(size) +
                  " has no parameters (valid: 128, 256, 512)");
}

Point translate(Point c, double theta, double d) {
  return {static_cast<int64_t>(std::ceil(static_cast<double>(c.y) + d * std::sin(theta))),
          static_cast<int64_t>(std::ceil(static_cast<double>(c.x) + d * std::cos(theta)))};
}

double flip(double theta) {
  return theta < 0 ? theta + kPi : theta - kPi;
}

double continuity_weight(double delta, double kappa) {
  const double c = std::cos(std::min(kappa * delta, kPi / 2));
  return c * c;
}

std::vector<Point> extension_candidates(Point pivot, int64_t paddle_length, int64_t margin,
                                        int64_t size) {
  const double r = static_cast<double>(paddle_length + margin);
  const double step = 360.0 / (2 * kPi * r);  // degrees: one pixel of arc
  std::vector<Point> out;
  for (int64_t k = 0; k * step < 360.0; ++k) {
    const double a = k * step * kPi / 180.0;
    const double y = static_cast<double>(pivot.y) + r * std::sin(a);
    const double x = static_cast<double>(pivot.x) + r * std::cos(a);
    if (y < 0 || x < 0 || y >= static_cast<double>(size) || x >= static_cast<double>(size))
      continue;
    const Point q{static_cast<int64_t>(y), static_cast<int64_t>(x)};
    if (std::find(out.begin(), out.end(), q) == out.end()) out.push_back(q);
  }
  return out;
}

Image generate_image(const Params& p, Rng& rng) {
  const int64_t n = p.size;
  const int label = static_cast<int>(rng.uniform_int(2));
  const int64_t margin = p.margins[rng.uniform_int(p.margins.size())];
  Canvas cv{p, margin, Grid(n)};
  Grid snake_a(n), snake_b(n);
  Snake a, b;
  // Long snakes A and B (§2.3.4 step 2), restarted together until both reach full length.
  for (int64_t restart = 0;; ++restart) {
    if (restart == 10000)
      throw std::runtime_error("pathfinder: no room for the two long snakes after 10000 tries");
    cv.mask = Grid(n);
    set_frame(cv.mask, p.padding);
    snake_a = Grid(n);
    snake_b = Grid(n);
    auto sa = seed_snake(cv, snake_a, 2 * p.seed_distance, false, p.snake_contrast, rng);
    if (!sa) continue;
    std::optional<Snake> sb;
    for (int64_t attempt = 0; attempt <= p.paddle_retries && !sb; ++attempt) {
      const double theta = radians(rng.uniform_range(-180, 179));
      const double psi = radians(rng.uniform_range(0, 359));
      const Point tail{
          static_cast<int64_t>(std::round(sa->tail.y + p.seed_distance * std::sin(psi))),
          static_cast<int64_t>(std::round(sa->tail.x + p.seed_distance * std::cos(psi)))};
      const Point head = translate(tail, theta, static_cast<double>(p.paddle_length));
      const Point pivot =
          translate(head, flip(theta), static_cast<double>(p.paddle_length + margin));
      if (!inside(snake_b, tail) || !inside(snake_b, head) || !inside(snake_b, pivot)) continue;
      sb = Snake{{tail, paddle(p, margin, theta, p.snake_contrast)}, pivot, theta, tail, tail};
      draw_line(snake_b, sb->last);
    }
    if (!sb) continue;
    bool ok = true;
    for (int64_t k = 2; k <= p.contour_length && ok; ++k)
      ok = extend_snake(cv, snake_a, *sa, p.snake_contrast, rng) &&
           extend_snake(cv, snake_b, *sb, p.snake_contrast, rng);
    if (!ok) continue;
    commit(cv.mask, sb->last);
    commit(cv.mask, sa->last);  // the reference leaves A's last paddle uncommitted (§2.3.4)
    a = std::move(*sa);
    b = std::move(*sb);
    break;
  }
  // Distractors, each with a marker at its seed's pivot; a failed attempt is undone.
  Grid others(n);
  Image out;
  for (int64_t d = 0; d < p.distractors; ++d) {
    for (int64_t attempt = 0; attempt <= p.distractor_retries; ++attempt) {
      const Grid mask_before = cv.mask, others_before = others;
      auto s = seed_snake(cv, others, 1, true, p.snake_contrast, rng);
      bool ok = s.has_value();
      if (ok) draw_marker(p, others, s->pivot);
      for (int64_t k = 1; k < p.distractor_length && ok; ++k)
        ok = extend_snake(cv, others, *s, p.snake_contrast, rng);
      if (ok) {
        commit(cv.mask, s->last);
        ++out.distractors_drawn;
        break;
      }
      cv.mask = mask_before;
      others = others_before;
    }
  }
  // The two main markers (§2.3.4 step 4).
  const int origin = static_cast<int>(rng.uniform_int(2));
  const int terminal = label == 1 ? origin : 1 - origin;
  const Point origins[2] = {a.tail, b.tail}, terminals[2] = {a.tip, b.tip};
  draw_marker(p, others, origins[origin]);
  draw_marker(p, others, terminals[terminal]);

  Grid image(n);
  for (size_t i = 0; i < image.v.size(); ++i)
    image.v[i] = std::max({snake_a.v[i], snake_b.v[i], others.v[i]});
  const auto [lo_it, hi_it] = std::minmax_element(image.v.begin(), image.v.end());
  const double lo = *lo_it, range = std::max(static_cast<double>(*hi_it) - lo, 1e-12);
  auto quantise = [&](float v) {
    return static_cast<uint8_t>(
        std::clamp<long>(std::lround(255.0 * (static_cast<double>(v) - lo) / range), 0, 255));
  };
  out.size = n;
  out.label = label;
  out.markers = {origins[origin], terminals[terminal]};
  out.pixels.resize(image.v.size());
  out.classes.assign(image.v.size(), 0);
  for (size_t i = 0; i < image.v.size(); ++i) {
    out.pixels[i] = quantise(image.v[i]);
    // S_i: pixels of snake i alone that survive 8-bit quantisation (§2.3.4 step 5).
    const bool on_a = quantise(snake_a.v[i]) > 0, on_b = quantise(snake_b.v[i]) > 0;
    const uint8_t ca = on_a ? static_cast<uint8_t>(1 + (label == 1 && origin == 0)) : 0;
    const uint8_t cb = on_b ? static_cast<uint8_t>(1 + (label == 1 && origin == 1)) : 0;
    out.classes[i] = std::max(ca, cb);
  }
  return out;
}

}  // namespace seqlab::tasks::pathfinder
