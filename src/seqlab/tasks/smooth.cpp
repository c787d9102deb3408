// Smoothness regression tasks smooth_aniso, smooth_mixed and smooth_dynamic (spec/tasks.md §5;
// see smooth.h).
#include "seqlab/tasks/smooth.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "seqlab/util/error.h"

namespace seqlab::tasks {
namespace {

constexpr double kSqrt2 = 1.41421356237309504880;
constexpr double kTwoPi = 6.283185307179586476925;
// Tables hold at most 2^{kMaxLevel+1} − 1 entries per coordinate; a coordinate with more levels
// alone has more than kSmoothMaxTerms terms.
constexpr int kMaxLevel = 24;
// Rejection draws of one sequence under the margin δ before giving up (§5.2 item 6).
constexpr int64_t kMaxMarginAttempts = 100000;

// γ ≤ T_max with a relative tolerance, so that e.g. a = 2^ℓ·(1+k) in floating point hits integer
// levels exactly (§5.2 item 3).
bool within(double gamma, double t_max) {
  return gamma <= t_max + 1e-9 * std::max(1.0, std::abs(t_max));
}

// Highest level s with a·s ≤ T_max (§5.2 item 5: tables for |j| < 2^{⌊T_max/a_c⌋}).
int max_level(double a, double t_max) {
  if (!within(a, t_max)) return 0;
  const double m = std::floor(t_max / a + 1e-9);
  if (m > kMaxLevel)
    throw UserError("smooth: coordinate smoothness a = " + std::to_string(a) +
                    " with task.t_max = " + std::to_string(t_max) + " gives more than 2^" +
                    std::to_string(kMaxLevel) +
                    " indices in one coordinate (raise task.a0 or lower task.t_max)");
  int s = static_cast<int>(m);
  while (s > 0 && !within(a * s, t_max)) --s;
  return s;
}

// The blocks of Λ (§5.2 item 3), grouped as rows of SmoothFunction: for every support set S
// (1 ≤ |S| ≤ K, coordinates with m_c ≥ 1, by size then lexicographically), the inner coordinate
// (smallest a_c, ties the smallest c), the outer coordinates (S without it, ascending) and every
// outer level vector s_outer ≥ 1 (lexicographic) whose γ leaves room for inner level 1,
// visit(outer, s_outer, inner, M) with M the highest admissible inner level: γ(s) ≤ T_max ⇔
// s_inner ≤ M, for both classes, so each visit is one contiguous range of inner levels 1..M.
template <typename Visit>
class LevelRows {
 public:
  LevelRows(const std::vector<double>& a, const std::vector<int>& m, SmoothClass cls, double t_max,
            Visit& visit)
      : a_(a), m_(m), cls_(cls), t_max_(t_max), visit_(visit) {}

  void run(int64_t max_order) {
    std::vector<int> active;
    for (size_t c = 0; c < a_.size(); ++c)
      if (m_[c] >= 1) active.push_back(static_cast<int>(c));
    const int n = static_cast<int>(active.size());
    const int kmax = static_cast<int>(std::min<int64_t>(max_order, n));
    for (int k = 1; k <= kmax; ++k) {
      std::vector<int> pick(static_cast<size_t>(k));
      std::iota(pick.begin(), pick.end(), 0);
      while (true) {
        inner_ = active[pick[0]];
        for (int i = 1; i < k; ++i)
          if (a_[active[pick[i]]] < a_[inner_]) inner_ = active[pick[i]];
        outer_.clear();
        for (int i = 0; i < k; ++i)
          if (active[pick[i]] != inner_) outer_.push_back(active[pick[i]]);
        s_.assign(outer_.size(), 0);
        levels(0, 0.0);
        int i = k - 1;  // next combination of k active coordinates
        while (i >= 0 && pick[i] == n - k + i) --i;
        if (i < 0) break;
        ++pick[i];
        for (int j = i + 1; j < k; ++j) pick[j] = pick[j - 1] + 1;
      }
    }
  }

 private:
  double combine(double g, double as) const {
    return cls_ == SmoothClass::kMixed ? g + as : std::max(g, as);  // §5.1 item 3
  }

  // Outer coordinate i onwards, γ of the outer levels chosen so far = g.
  void levels(size_t i, double g) {
    if (i == outer_.size()) {
      int M = 0;
      while (M < m_[inner_] && within(combine(g, a_[inner_] * (M + 1)), t_max_)) ++M;
      if (M >= 1) visit_(outer_, s_, inner_, M);
      return;
    }
    // Least γ the remaining coordinates add (all at level 1), to prune the mixed class.
    double rest = a_[inner_];
    for (size_t j = i + 1; j < outer_.size(); ++j) rest = combine(rest, a_[outer_[j]]);
    for (int s = 1; s <= m_[outer_[i]]; ++s) {
      const double gs = combine(g, a_[outer_[i]] * s);
      if (!within(combine(gs, rest), t_max_)) break;  // γ grows with s
      s_[i] = s;
      levels(i + 1, gs);
    }
  }

  const std::vector<double>& a_;
  const std::vector<int>& m_;
  SmoothClass cls_;
  double t_max_;
  Visit& visit_;
  int inner_ = 0;
  std::vector<int> outer_, s_;
};

template <typename Visit>
void for_each_level_row(const std::vector<double>& a, const std::vector<int>& m, SmoothClass cls,
                        int64_t max_order, double t_max, Visit&& visit) {
  LevelRows<std::remove_reference_t<Visit>> rows(a, m, cls, t_max, visit);
  rows.run(max_order);
}

int64_t count_terms(const std::vector<double>& a, const std::vector<int>& m, SmoothClass cls,
                    int64_t max_order, double t_max) {
  int64_t total = 0;
  auto too_many = [] {
    return UserError("smooth: the index set Λ has more than " + std::to_string(kSmoothMaxTerms) +
                     " terms (lower task.t_max, task.max_order, task.window or task.dim, or "
                     "raise task.a0)");
  };
  for_each_level_row(a, m, cls, max_order, t_max,
                     [&](const std::vector<int>&, const std::vector<int>& s, int, int M) {
                       // Σ over inner levels 1..M of |B_s| = Π_o 2^{s_o} · (2^{M+1} − 2).
                       int bits = M + 1;
                       for (int v : s) bits += v;
                       if (bits > 40) throw too_many();
                       int64_t outer = 1;
                       for (int v : s) outer <<= v;
                       total += outer * ((int64_t{1} << (M + 1)) - 2);
                       if (total > kSmoothMaxTerms) throw too_many();
                     });
  return total;
}

void check_smoothness(const std::vector<double>& a, int64_t max_order) {
  if (a.empty()) throw UserError("smooth: the function needs at least one coordinate");
  for (double v : a)
    if (!(v > 0.0) || !std::isfinite(v))
      throw UserError("smooth: smoothness a_c = " + std::to_string(v) + " must be > 0");
  if (max_order < 1)
    throw UserError("smooth: task.max_order = " + std::to_string(max_order) + " must be >= 1");
}

std::vector<int> table_levels_of(const std::vector<double>& a, double t_max) {
  std::vector<int> m(a.size());
  for (size_t c = 0; c < a.size(); ++c) m[c] = max_level(a[c], t_max);
  return m;
}

}  // namespace

bool is_smooth_task(const std::string& name) {
  return name == "smooth_aniso" || name == "smooth_mixed" || name == "smooth_dynamic";
}

std::vector<std::string> smooth_task_names() {
  return {"smooth_aniso", "smooth_mixed", "smooth_dynamic"};
}

SmoothClass smooth_class_from_name(const std::string& name) {
  if (name == "aniso") return SmoothClass::kAniso;
  if (name == "mixed") return SmoothClass::kMixed;
  throw UserError("smooth class '" + name + "' is not valid (one of: aniso, mixed)");
}

std::string smooth_class_name(SmoothClass cls) {
  return cls == SmoothClass::kAniso ? "aniso" : "mixed";
}

double smooth_basis(int64_t j, double x) {
  if (j == 0) return 1.0;  // §5.1 item 1
  // 2π|j|x reduced mod 2π exactly first (|j|·x is exact for float32 x and |j| < 2^29).
  double r = static_cast<double>(j < 0 ? -j : j) * x;
  r -= std::floor(r);
  return j > 0 ? kSqrt2 * std::sin(kTwoPi * r) : kSqrt2 * std::cos(kTwoPi * r);
}

int smooth_level(int64_t j) {
  uint64_t v = j < 0 ? 0 - static_cast<uint64_t>(j) : static_cast<uint64_t>(j);
  int s = 0;  // §5.1 item 2: the bit length of |j|
  while (v != 0) {
    v >>= 1;
    ++s;
  }
  return s;
}

double smooth_gamma(const std::vector<int>& s, const std::vector<double>& a, SmoothClass cls) {
  if (s.size() != a.size())
    throw UserError("smooth_gamma: " + std::to_string(s.size()) + " levels for " +
                    std::to_string(a.size()) + " smoothness values");
  double g = 0.0;  // §5.1 item 3
  for (size_t c = 0; c < s.size(); ++c)
    g = cls == SmoothClass::kMixed ? g + a[c] * s[c] : std::max(g, a[c] * s[c]);
  return g;
}

double smooth_a_dagger(const std::vector<double>& a, SmoothClass cls, int64_t max_order) {
  check_smoothness(a, max_order);
  if (cls == SmoothClass::kMixed) return *std::min_element(a.begin(), a.end());  // §5.1 item 5
  // §5.2 "With a support limit K < D": (Σ over the K smallest a_c of 1/a_c)^{−1}.
  std::vector<double> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  const size_t k = static_cast<size_t>(std::min<int64_t>(max_order, sorted.size()));
  double inv = 0.0;
  for (size_t i = 0; i < k; ++i) inv += 1.0 / sorted[i];
  return 1.0 / inv;
}

double smooth_predicted_exponent(double a_dagger) {
  return 2.0 * a_dagger / (2.0 * a_dagger + 1.0);  // §5.1 item 6
}

int64_t smooth_index_set_size(const std::vector<double>& a, SmoothClass cls, int64_t max_order,
                              double t_max) {
  check_smoothness(a, max_order);
  return count_terms(a, table_levels_of(a, t_max), cls, max_order, t_max);
}

// ---------------------------------------------------------------------------------------------
// SmoothFunction

int64_t SmoothFunction::table_position(int64_t j) {
  if (j == 0) return 0;
  const int s = smooth_level(j);
  const int64_t base = (int64_t{1} << s) - 1, half = int64_t{1} << (s - 1);
  return j > 0 ? base + (j - half) : base - j;  // sin block, then the cos block
}

int64_t SmoothFunction::table_index(int64_t position) {
  if (position == 0) return 0;
  const int s = smooth_level(position + 1) - 1;
  const int64_t off = position - ((int64_t{1} << s) - 1), half = int64_t{1} << (s - 1);
  return off < half ? half + off : -off;
}

void SmoothFunction::fill_table(double x, int m, double* out) {
  out[0] = 1.0;
  if (m <= 0) return;
  const int64_t n_max = (int64_t{1} << m) - 1;
  // cos/sin(2πnx) for n = n0 + k, k < 32, as the anchor e^{2πi·n0·x} times e^{2πi·k·x}: the 32
  // steps by rotation from the exact e^{2πix}, anchors by rotation with e^{2πi·32x}, re-anchored
  // exactly (argument reduced mod 1 first) every 1024 indices, so errors stay at ~1e-14 and the
  // inner loop has no dependency chain.
  constexpr int kBlock = 32;
  double sc[kBlock], ss[kBlock];  // √2 cos(2πkx), √2 sin(2πkx)
  const double r1 = x - std::floor(x);
  const double c1 = std::cos(kTwoPi * r1), s1 = std::sin(kTwoPi * r1);
  double c = 1.0, s = 0.0;
  for (int k = 0; k < kBlock; ++k) {
    sc[k] = kSqrt2 * c;
    ss[k] = kSqrt2 * s;
    const double cn = c * c1 - s * s1;
    s = s * c1 + c * s1;
    c = cn;
  }
  const double c32 = c, s32 = s;  // e^{2πi·32x}
  for (int64_t n = 1; n <= std::min<int64_t>(kBlock - 1, n_max); ++n) {
    const int level = smooth_level(n);
    const int64_t base = (int64_t{1} << level) - 1, half = int64_t{1} << (level - 1);
    out[base + (n - half)] = ss[n];  // ψ_n
    out[base + n] = sc[n];           // ψ_{−n}
  }
  double ca = 1.0, sa = 0.0;  // e^{2πi·n0·x}
  for (int64_t n0 = kBlock; n0 <= n_max; n0 += kBlock) {
    if ((n0 & 1023) == 0) {
      double r = static_cast<double>(n0) * x;
      r -= std::floor(r);
      ca = std::cos(kTwoPi * r);
      sa = std::sin(kTwoPi * r);
    } else {
      const double cn = ca * c32 - sa * s32;
      sa = sa * c32 + ca * s32;
      ca = cn;
    }
    // n0 ≥ 32 is a multiple of 32, so the block n0 .. n0 + 31 lies in one level.
    const int level = smooth_level(n0);
    const int64_t base = (int64_t{1} << level) - 1, half = int64_t{1} << (level - 1);
    double* os = out + base + (n0 - half);  // ψ_n, n = n0 + k
    double* oc = out + base + n0;           // ψ_{−n}
    for (int k = 0; k < kBlock; ++k) {
      os[k] = sa * sc[k] + ca * ss[k];
      oc[k] = ca * sc[k] - sa * ss[k];
    }
  }
}

SmoothFunction::SmoothFunction(std::vector<double> a, SmoothClass cls, int64_t max_order,
                               double t_max, double eta, uint64_t target_seed)
    : a_(std::move(a)), cls_(cls), max_order_(max_order), t_max_(t_max) {
  check_smoothness(a_, max_order_);
  if (!(eta >= 0.0)) throw UserError("smooth: task.eta = " + std::to_string(eta) + " must be >= 0");
  const std::vector<int> m = table_levels_of(a_, t_max_);
  const int64_t total = count_terms(a_, m, cls_, max_order_, t_max_);
  if (total == 0) {
    const double amin = *std::min_element(a_.begin(), a_.end());
    throw UserError("smooth: the index set Λ is empty: task.t_max = " + std::to_string(t_max_) +
                    " is below the smallest coordinate smoothness a = " + std::to_string(amin) +
                    " (raise task.t_max or lower task.a0)");
  }
  levels_ = m;
  coef_.reserve(static_cast<size_t>(total));
  Rng rng(target_seed);
  std::vector<int> pos;  // outer table positions (odometer)
  for_each_level_row(
      a_, m, cls_, max_order_, t_max_,
      [&](const std::vector<int>& outer, const std::vector<int>& s, int inner, int M) {
        // §5.2 item 4: c_l = ξ_l · 2^{−(1+η)γ(s)} · |B_s|^{−1/2}, |B_s| = 2^{Σ s_c}.
        double g_outer = 0.0;
        int bits_outer = 0;
        for (size_t i = 0; i < outer.size(); ++i) {
          const double as = a_[outer[i]] * s[i];
          g_outer = cls_ == SmoothClass::kMixed ? g_outer + as : std::max(g_outer, as);
          bits_outer += s[i];
        }
        std::vector<double> magnitude;  // per inner position 1 .. 2^{M+1} − 2
        for (int si = 1; si <= M; ++si) {
          const double as = a_[inner] * si;
          const double g = cls_ == SmoothClass::kMixed ? g_outer + as : std::max(g_outer, as);
          const double mag = std::exp2(-(1.0 + eta) * g - 0.5 * (bits_outer + si));
          magnitude.insert(magnitude.end(), size_t{1} << si, mag);
        }
        pos.resize(outer.size());
        for (size_t i = 0; i < outer.size(); ++i) pos[i] = (1 << s[i]) - 1;
        while (true) {
          Row row;
          row.coef_begin = static_cast<int64_t>(coef_.size());
          row.factor_begin = static_cast<int32_t>(factors_.size());
          row.factor_count = static_cast<int32_t>(outer.size());
          row.inner_coord = inner;
          row.inner_begin = 1;
          row.length = static_cast<int32_t>(magnitude.size());
          for (size_t i = 0; i < outer.size(); ++i) factors_.push_back({outer[i], pos[i]});
          rows_.push_back(row);
          for (double mag : magnitude) coef_.push_back(rng.normal() * mag);
          int i = static_cast<int>(outer.size()) - 1;  // next outer positions within B_s
          while (i >= 0 && pos[i] == (2 << s[i]) - 2) {
            pos[i] = (1 << s[i]) - 1;
            --i;
          }
          if (i < 0) break;
          ++pos[i];
        }
      });
  // §5.2 item 4: rescale so that Σ c_l² = 1, i.e. Var f = 1 (orthonormal basis, no constant).
  double ss = 0.0;
  for (double c : coef_) ss += c * c;
  const double scale = 1.0 / std::sqrt(ss);
  for (double& c : coef_) c *= scale;
}

SmoothFunction SmoothFunction::from_terms(const std::vector<std::vector<int64_t>>& indices,
                                          const std::vector<double>& coefficients) {
  if (indices.empty() || indices.size() != coefficients.size())
    throw UserError("SmoothFunction::from_terms: " + std::to_string(indices.size()) +
                    " indices for " + std::to_string(coefficients.size()) + " coefficients");
  const size_t D = indices[0].size();
  SmoothFunction f;
  f.a_.assign(D, 1.0);
  f.levels_.assign(D, 0);
  f.max_order_ = 1;
  for (size_t t = 0; t < indices.size(); ++t) {
    const auto& l = indices[t];
    if (l.size() != D)
      throw UserError("SmoothFunction::from_terms: index " + std::to_string(t) + " has " +
                      std::to_string(l.size()) + " entries, not " + std::to_string(D));
    std::vector<int> support;
    for (size_t c = 0; c < D; ++c)
      if (l[c] != 0) support.push_back(static_cast<int>(c));
    if (support.empty()) {
      f.constant_ += coefficients[t];
      continue;
    }
    for (int c : support) {
      if (smooth_level(l[c]) > kMaxLevel)
        throw UserError("SmoothFunction::from_terms: index " + std::to_string(l[c]) +
                        " exceeds 2^" + std::to_string(kMaxLevel));
      f.levels_[c] = std::max(f.levels_[c], smooth_level(l[c]));
    }
    f.max_order_ = std::max<int64_t>(f.max_order_, static_cast<int64_t>(support.size()));
    Row row;
    row.coef_begin = static_cast<int64_t>(f.coef_.size());
    row.factor_begin = static_cast<int32_t>(f.factors_.size());
    row.factor_count = static_cast<int32_t>(support.size() - 1);
    for (size_t i = 0; i + 1 < support.size(); ++i)
      f.factors_.push_back({support[i], static_cast<int32_t>(table_position(l[support[i]]))});
    row.inner_coord = support.back();
    row.inner_begin = static_cast<int32_t>(table_position(l[support.back()]));
    row.length = 1;
    f.rows_.push_back(row);
    f.coef_.push_back(coefficients[t]);
  }
  return f;
}

std::vector<SmoothIndex> SmoothFunction::term(int64_t t) const {
  if (t < 0 || t >= size())
    throw UserError("SmoothFunction::term: " + std::to_string(t) + " is not in [0, " +
                    std::to_string(size()) + ")");
  const auto it = std::upper_bound(rows_.begin(), rows_.end(), t,
                                   [](int64_t v, const Row& r) { return v < r.coef_begin; });
  const Row& row = *(it - 1);
  std::vector<SmoothIndex> out;
  for (int32_t i = 0; i < row.factor_count; ++i) {
    const Factor& f = factors_[static_cast<size_t>(row.factor_begin + i)];
    out.push_back({f.coord, table_index(f.position)});
  }
  out.push_back({row.inner_coord, table_index(row.inner_begin + (t - row.coef_begin))});
  std::sort(out.begin(), out.end(),
            [](const SmoothIndex& x, const SmoothIndex& y) { return x.coord < y.coord; });
  return out;
}

double SmoothFunction::evaluate(const std::vector<double>& z) const {
  if (static_cast<int64_t>(z.size()) != num_coords())
    throw UserError("SmoothFunction::evaluate: " + std::to_string(z.size()) +
                    " coordinates for a function of " + std::to_string(num_coords()));
  std::vector<double> tables;
  std::vector<int64_t> offset(z.size());
  for (size_t c = 0; c < z.size(); ++c) {
    offset[c] = static_cast<int64_t>(tables.size());
    tables.resize(tables.size() + (size_t{2} << levels_[c]) - 1);
  }
  std::vector<const double*> ptr(z.size());
  for (size_t c = 0; c < z.size(); ++c) {
    fill_table(z[c], levels_[c], tables.data() + offset[c]);
    ptr[c] = tables.data() + offset[c];
  }
  return evaluate_tables(ptr.data());
}

double SmoothFunction::evaluate_tables(const double* const* tables) const {
  double f = constant_;
  const double* coef = coef_.data();
  const Factor* factors = factors_.data();
  for (const Row& row : rows_) {
    double p = 1.0;
    for (int32_t i = 0; i < row.factor_count; ++i) {
      const Factor& fa = factors[row.factor_begin + i];
      p *= tables[fa.coord][fa.position];
    }
    // ⟨c_row, ψ table range⟩ (§5.2 item 5: O(|Λ|) per target). The SIMD reduction's order is
    // fixed at compile time, so results do not depend on the thread count.
    const double* t = tables[row.inner_coord] + row.inner_begin;
    const double* c = coef + row.coef_begin;
    const int32_t L = row.length;
    double dot = 0.0;
#pragma omp simd reduction(+ : dot)
    for (int32_t i = 0; i < L; ++i) dot += c[i] * t[i];
    f += p * dot;
  }
  return f;
}

// ---------------------------------------------------------------------------------------------
// SmoothTask

struct SmoothTask::Workspace {
  std::vector<double> tables;       // N × table_block_
  std::vector<const double*> ptrs;  // per coordinate
  std::vector<int64_t> order;       // token indices being ranked
};

SmoothTask::SmoothTask(const TaskOptions& options) : options_(options) {
  const auto& n = options.name;
  if (!is_smooth_task(n))
    throw UserError("unknown smoothness task '" + n +
                    "' (valid: " + join_names(smooth_task_names()) + ")");
  dynamic_ = n == "smooth_dynamic";
  SmoothClass cls = n == "smooth_mixed" ? SmoothClass::kMixed : SmoothClass::kAniso;
  if (options.smooth_class != "task") {
    if (options.smooth_class != "aniso" && options.smooth_class != "mixed")
      throw UserError("task.smooth_class = '" + options.smooth_class +
                      "' is not valid (one of: task, aniso, mixed)");
    cls = smooth_class_from_name(options.smooth_class);
  }
  if (options.smooth_readout != "final" && options.smooth_readout != "seq")
    throw UserError("task.smooth_readout = '" + options.smooth_readout +
                    "' is not valid (one of: final, seq)");
  per_token_ = options.smooth_readout == "seq";
  d_ = options.dim;
  window_ = options.window;
  if (d_ < 1) throw UserError(n + ": task.dim = " + std::to_string(d_) + " must be >= 1");
  if (window_ < 1)
    throw UserError(n + ": task.window = " + std::to_string(window_) +
                    (dynamic_ ? " (ranks R)" : " (lags U)") + " must be >= 1");
  if (!(options.a0 > 0.0))
    throw UserError(n + ": task.a0 = " + std::to_string(options.a0) + " must be > 0");
  if (!(options.noise >= 0.0))
    throw UserError(n + ": task.noise = " + std::to_string(options.noise) + " must be >= 0");
  if (!(options.margin >= 0.0 && options.margin < 1.0))
    throw UserError(n + ": task.margin = " + std::to_string(options.margin) + " must be in [0, 1)");
  if (!dynamic_) {
    if (options.key_in_g)
      throw UserError(n +
                      ": task.key_in_g applies to smooth_dynamic only (the fixed variant's "
                      "arguments are every feature at every lag)");
    if (options.margin > 0.0)
      throw UserError(n + ": task.margin applies to smooth_dynamic only (got " +
                      std::to_string(options.margin) + ")");
  } else {
    first_feature_ = options.key_in_g ? 0 : 1;
    if (!options.key_in_g && d_ < 2)
      throw UserError(
          "smooth_dynamic: task.dim = 1 leaves no content feature (feature 0 is the importance "
          "and only selects); set task.dim >= 2, or task.key_in_g = true to make g act on the "
          "sorted values themselves (protocols.md §1.3 T2)");
    if (per_token_ && options.select_window < window_)
      throw UserError(
          "smooth_dynamic: task.select_window = " + std::to_string(options.select_window) +
          " must be >= task.window = " + std::to_string(window_) +
          " (the top R ranks come from the last W tokens)");
    if (!per_token_ && options.margin * static_cast<double>(window_) >= 1.0)
      throw UserError("smooth_dynamic: task.margin = " + std::to_string(options.margin) +
                      " is too large: R = " + std::to_string(window_) +
                      " gaps of at least the margin need R · margin < 1");
  }
  // §5.2 item 2: coordinates and smoothness (see smooth.h).
  const int64_t features = d_ - first_feature_;
  std::vector<double> a(static_cast<size_t>(features * window_));
  for (int64_t kk = 0; kk < features; ++kk)
    for (int64_t r = 0; r < window_; ++r) {
      const int64_t k = kk + first_feature_;
      const double mult = dynamic_ && !options.key_in_g ? static_cast<double>(k) : 1.0 + k;
      a[static_cast<size_t>(kk * window_ + r)] = options.a0 * std::exp2(double(r)) * mult;
    }
  function_ =
      SmoothFunction(a, cls, options.max_order, options.t_max, options.eta, options.target_seed);
  feature_levels_.assign(static_cast<size_t>(features), 0);
  feature_offset_.assign(static_cast<size_t>(features), 0);
  table_block_ = 0;
  for (int64_t kk = 0; kk < features; ++kk) {
    int m = 0;
    for (int64_t r = 0; r < window_; ++r) m = std::max(m, function_.table_levels(kk * window_ + r));
    feature_levels_[kk] = m;
    feature_offset_[kk] = table_block_;
    table_block_ += (int64_t{2} << m) - 1;
  }
  info_.name = n;
  info_.kind = TaskKind::kRegression;
  info_.readout = per_token_ ? Readout::kPerToken : Readout::kFinal;
  info_.input_features = d_;
  info_.output_dim = 1;
  info_.num_classes = 1;
  info_.description =
      dynamic_ ? "smoothness regression over importance-sorted tokens: g of the top-R tokens "
                 "ranked by feature 0 (§5)"
      : cls == SmoothClass::kMixed
          ? "smoothness regression, mixed gamma over (feature, lag) of the last window (§5)"
          : "smoothness regression, anisotropic gamma over (feature, lag) of the last window (§5)";
}

int64_t SmoothTask::coord_feature(int64_t c) const {
  return c / window_ + first_feature_;
}

int64_t SmoothTask::coord_offset(int64_t c) const {
  return c % window_;
}

int64_t SmoothTask::output_length(int64_t N) const {
  if (!per_token_) return 1;
  return N - (dynamic_ ? options_.select_window : window_) + 1;
}

void SmoothTask::check_length(int64_t length) const {
  const auto& n = options_.name;
  if (!dynamic_ && length < window_)
    throw UserError(n + ": length " + std::to_string(length) + " is shorter than task.window = " +
                    std::to_string(window_) + " (the lags the target reads)");
  if (dynamic_ && length < window_)
    throw UserError(n + ": length " + std::to_string(length) + " is shorter than task.window = " +
                    std::to_string(window_) + " (the ranks the target reads)");
  if (dynamic_ && per_token_ && length < options_.select_window)
    throw UserError(
        n + ": length " + std::to_string(length) +
        " is shorter than task.select_window = " + std::to_string(options_.select_window) +
        " (seq readout: no position has W "
        "tokens to rank)");
}

namespace {

// Ranks token indices [lo, hi) by decreasing importance μ = x_{j,0} (ties: the earlier token
// first); the top `top` land in order[0 .. top).
void rank_tokens(const float* x, int64_t d, int64_t lo, int64_t hi, int64_t top,
                 std::vector<int64_t>& order) {
  order.resize(static_cast<size_t>(hi - lo));
  std::iota(order.begin(), order.end(), lo);
  std::partial_sort(order.begin(), order.begin() + std::min(top, hi - lo), order.end(),
                    [x, d](int64_t p, int64_t q) {
                      const float mp = x[p * d], mq = x[q * d];
                      return mp > mq || (mp == mq && p < q);
                    });
}

}  // namespace

bool SmoothTask::margin_ok(const float* x, int64_t N, Workspace& ws) const {
  // §5.2 item 6: μ_{π(r)} − μ_{π(r+1)} ≥ δ for r = 0..R−1 (π(R) exists only when N > R).
  const int64_t R = window_, top = std::min(R + 1, N);
  rank_tokens(x, d_, 0, N, top, ws.order);
  for (int64_t r = 0; r + 1 < top; ++r)
    if (double(x[ws.order[r] * d_]) - double(x[ws.order[r + 1] * d_]) < options_.margin)
      return false;
  return true;
}

void SmoothTask::sequence_targets(const float* x, int64_t N, Workspace& ws, double* out) const {
  const int64_t features = d_ - first_feature_, R = window_;
  ws.tables.resize(static_cast<size_t>(N * table_block_));
  ws.ptrs.resize(static_cast<size_t>(function_.num_coords()));
  auto fill = [&](int64_t i) {  // ψ tables of token i, every argument feature
    for (int64_t kk = 0; kk < features; ++kk)
      SmoothFunction::fill_table(double(x[i * d_ + kk + first_feature_]), feature_levels_[kk],
                                 ws.tables.data() + i * table_block_ + feature_offset_[kk]);
  };
  auto point = [&](int64_t c, int64_t token) {
    ws.ptrs[c] = ws.tables.data() + token * table_block_ + feature_offset_[c / R];
  };
  if (!dynamic_) {
    // Fixed variant (§5.2 item 2): coordinate (k, ℓ) at position i is x_{i−ℓ, k}.
    const int64_t first = per_token_ ? R - 1 : N - 1;
    for (int64_t i = first - (R - 1); i < N; ++i) fill(i);
    for (int64_t i = first, t = 0; i < N; ++i, ++t) {
      for (int64_t c = 0; c < function_.num_coords(); ++c) point(c, i - c % R);
      out[t] = function_.evaluate_tables(ws.ptrs.data());
    }
    return;
  }
  // Dynamic variant: coordinate (k, r) is x_{π(r), k}, π ranking the whole sequence (final) or
  // the last W tokens ending at i (seq).
  if (!per_token_) {
    rank_tokens(x, d_, 0, N, R, ws.order);
    for (int64_t r = 0; r < R; ++r) fill(ws.order[r]);
    for (int64_t c = 0; c < function_.num_coords(); ++c) point(c, ws.order[c % R]);
    out[0] = function_.evaluate_tables(ws.ptrs.data());
    return;
  }
  const int64_t W = options_.select_window;
  for (int64_t i = 0; i < N; ++i) fill(i);
  for (int64_t i = W - 1, t = 0; i < N; ++i, ++t) {
    rank_tokens(x, d_, i - W + 1, i + 1, R, ws.order);
    for (int64_t c = 0; c < function_.num_coords(); ++c) point(c, ws.order[c % R]);
    out[t] = function_.evaluate_tables(ws.ptrs.data());
  }
}

Batch SmoothTask::sample(Rng& rng, int64_t batch, int64_t length) const {
  check_length(length);
  const int64_t N = length, d = d_, l_out = output_length(N);
  const double sigma = options_.noise;
  const bool margin = dynamic_ && !per_token_ && options_.margin > 0.0;
  std::vector<float> in(static_cast<size_t>(batch * N * d));
  std::vector<float> out(static_cast<size_t>(batch * l_out));
  std::vector<double> f(static_cast<size_t>(l_out));
  Workspace ws;
  for (int64_t b = 0; b < batch; ++b) {
    float* x = in.data() + b * N * d;
    for (int64_t attempt = 0;; ++attempt) {
      if (attempt == kMaxMarginAttempts)
        throw UserError(options_.name + ": task.margin = " + std::to_string(options_.margin) +
                        " rejected " + std::to_string(kMaxMarginAttempts) +
                        " sequences in a row (lower the margin or task.window, or use more "
                        "tokens)");
      // §5.2 item 1: x_j ~ U[0,1]^d i.i.d. (float32, the model's inputs).
      for (int64_t e = 0; e < N * d; ++e) x[e] = static_cast<float>(rng.uniform01());
      if (!margin || margin_ok(x, N, ws)) break;
    }
    sequence_targets(x, N, ws, f.data());
    // §5.2 item 5: y = f + N(0, σ²).
    for (int64_t t = 0; t < l_out; ++t)
      out[b * l_out + t] = static_cast<float>(sigma > 0.0 ? f[t] + sigma * rng.normal() : f[t]);
  }
  return {torch::from_blob(in.data(), {batch, N, d}, torch::kFloat32).clone(),
          torch::from_blob(out.data(), {batch, l_out, 1}, torch::kFloat32).clone()};
}

torch::Tensor SmoothTask::targets_of(const torch::Tensor& inputs) const {
  if (inputs.dim() != 3 || inputs.size(2) != d_)
    throw UserError(options_.name + ": targets_of expects inputs (B, N, " + std::to_string(d_) +
                    "), got " + std::to_string(inputs.dim()) + " dimensions");
  const auto x = inputs.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  const int64_t B = x.size(0), N = x.size(1);
  check_length(N);
  const int64_t l_out = output_length(N);
  auto out = torch::empty({B, l_out, 1}, torch::kFloat32);
  std::vector<double> f(static_cast<size_t>(l_out));
  Workspace ws;
  const float* px = x.data_ptr<float>();
  float* po = out.data_ptr<float>();
  for (int64_t b = 0; b < B; ++b) {
    sequence_targets(px + b * N * d_, N, ws, f.data());
    for (int64_t t = 0; t < l_out; ++t) po[b * l_out + t] = static_cast<float>(f[t]);
  }
  return out;
}

}  // namespace seqlab::tasks
