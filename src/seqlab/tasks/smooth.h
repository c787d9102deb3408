// Function estimation with direction-dependent and dynamic smoothness (spec/tasks.md §5; the
// protocol is protocols.md §1.3, E1.1 T1/T2): `smooth_aniso` (anisotropic γ), `smooth_mixed`
// (mixed γ) and `smooth_dynamic` (anisotropic γ over importance-sorted tokens). Regression, MSE.
//
// The target (§5.2 items 3-5): f(X) = Σ_{l∈Λ} c_l ψ_l(z(X)), z(X) ∈ [0,1]^D the coordinates of X,
//   Λ = {l ∈ Z^D, l ≠ 0 : |supp l| ≤ K, γ(s(l)) ≤ T_max},
//   c_l = ξ_l · 2^{−(1+η)γ(s(l))} · |B_{s(l)}|^{−1/2}, ξ_l ~ N(0,1) i.i.d. (Rng(target_seed), in
//   the order of SmoothFunction::term), then all c_l rescaled so that Σ c_l² = 1 (Var f = 1).
// The constant ψ_0 is excluded, so E f = 0.
//
// Coordinates (§5.2 item 2; d = task.dim, U or R = task.window; c is the coordinate's index in
// SmoothFunction):
// - Fixed variant (smooth_aniso, smooth_mixed): c = k·U + ℓ for feature k ∈ [0, d) and lag
//   ℓ ∈ [0, U). The value at position i is x_{i−ℓ, k} (final readout: i = N−1, so lag 0 is the
//   last token). Smoothness a_c = a0 · 2^ℓ · (1 + k).
// - Dynamic variant (smooth_dynamic): importance μ_j = x_{j,0}; the tokens are sorted by decreasing
//   μ (ties: the earlier token first), π(0) the most important. Without key_in_g, feature 0 only
//   selects: c = (k − 1)·R + r for content feature k ∈ [1, d) and rank r ∈ [0, R), value
//   x_{π(r), k}, a_c = a0 · 2^r · k (so the first content feature has a0 · 2^r); d = 1 is then a
//   UserError (no content feature). With key_in_g, feature 0 is an argument too: c = k·R + r for
//   k ∈ [0, d), a_c = a0 · 2^r · (1 + k) (d = 1 is protocols.md §1.3 T2: g of the sorted values).
//   Final readout: the top R of all N tokens, resampled (the whole sequence) until the gaps
//   μ_{π(r)} − μ_{π(r+1)} ≥ δ = task.margin for r = 0..R−1 (r = R−1 only when N > R). Seq
//   readout: the top R of the last W = task.select_window tokens ending at i; no margin (§5.2
//   item 7).
// The class (smooth_class) is the task's own (smooth_mixed: mixed; smooth_aniso and smooth_dynamic:
// aniso) unless task.smooth_class is aniso or mixed.
//
// Tokens x_j ~ U[0,1]^d i.i.d., drawn as float32 (the model's inputs); targets are computed in
// float64 from those float32 values, so f is exactly the function of the inputs the model sees.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "seqlab/tasks/task.h"
#include "seqlab/util/rng.h"

namespace seqlab::tasks {

bool is_smooth_task(const std::string& name);
std::vector<std::string> smooth_task_names();

// §5.1 item 3: mixed γ(s) = Σ_c a_c s_c, anisotropic γ(s) = max_c a_c s_c.
enum class SmoothClass { kAniso, kMixed };
// "aniso" | "mixed"; UserError naming the valid ones.
SmoothClass smooth_class_from_name(const std::string& name);
std::string smooth_class_name(SmoothClass cls);

// §5.1 item 1: ψ_0 = 1, ψ_j(x) = √2 sin(2πjx) (j > 0), √2 cos(2π|j|x) (j < 0) (golden row 65).
double smooth_basis(int64_t j, double x);
// §5.1 item 2: s(j) = 0 for j = 0, else the bit length of |j| (2^{s−1} ≤ |j| < 2^s).
int smooth_level(int64_t j);
// §5.1 item 3: γ(s) over coordinates with smoothness a (same sizes; golden row 67).
double smooth_gamma(const std::vector<int>& s, const std::vector<double>& a, SmoothClass cls);
// §5.1 item 5 and §5.2 (support limit K): anisotropic a† = (Σ_{K smallest a_c} 1/a_c)^{−1};
// mixed a† = min_c a_c (golden row 69). Over all coordinates, truncated ones included.
double smooth_a_dagger(const std::vector<double>& a, SmoothClass cls, int64_t max_order);
// §5.1 item 6: the rate exponent 2a†/(2a†+1).
double smooth_predicted_exponent(double a_dagger);
// |Λ| (§5.2 item 3) without building it: a sum of block sizes |B_s| over the level vectors s with
// 1..K nonzero entries and γ(s) ≤ T_max (golden row 68). UserError beyond kSmoothMaxTerms.
int64_t smooth_index_set_size(const std::vector<double>& a, SmoothClass cls, int64_t max_order,
                              double t_max);
// The largest |Λ| a function may have (memory 8 bytes per term; evaluation O(|Λ|) per target).
constexpr int64_t kSmoothMaxTerms = int64_t{1} << 24;

// One active coordinate of a term: ψ_j of coordinate `coord`, j ≠ 0.
struct SmoothIndex {
  int64_t coord;
  int64_t j;
  bool operator==(const SmoothIndex& o) const { return coord == o.coord && j == o.j; }
};

// f = Σ_{l∈Λ} c_l ψ_l over D coordinates (§5.2 items 3-5).
//
// Evaluation works on per-coordinate ψ tables in "level order": position 0 holds ψ_0 = 1, and
// level s ≥ 1 occupies positions [2^s − 1, 2^{s+1} − 1): first j = 2^{s−1}..2^s − 1 (sin), then
// j = −2^{s−1}..−(2^s − 1) (cos). A table of levels ≤ m has 2^{m+1} − 1 entries (all |j| < 2^m).
// Λ is stored as rows: within one support set, for fixed levels and indices of all but the
// smoothest-least coordinate ("inner", the one with the smallest a_c), the admissible inner levels
// are 1..m for some m (for both classes), i.e. one contiguous range of the inner table; a row is
// (outer factors, inner coordinate, inner range) and f = Σ_rows Π outer · ⟨c_row, table range⟩.
// Term order (the order of ξ draws, coefficients() and term()): support sets by size, then
// lexicographically; within a support set, outer level vectors lexicographically (outer
// coordinates ascending), then outer table positions lexicographically, then the inner range.
class SmoothFunction {
 public:
  SmoothFunction() = default;
  // The random function of §5.2 item 4: Λ from (a, cls, K, T_max), coefficients from
  // Rng(target_seed), rescaled to Σ c_l² = 1. UserError on a ≤ 0, K < 1, an empty Λ (T_max below
  // every a_c) or |Λ| > kSmoothMaxTerms.
  SmoothFunction(std::vector<double> a, SmoothClass cls, int64_t max_order, double t_max,
                 double eta, uint64_t target_seed);
  // An explicit function (golden row 66): terms given as multi-indices l ∈ Z^D (dense, D entries;
  // the zero index is the constant ψ_0 = 1) with their coefficients, used as given (no rescaling,
  // no truncation). a = 1 for every coordinate.
  static SmoothFunction from_terms(const std::vector<std::vector<int64_t>>& indices,
                                   const std::vector<double>& coefficients);

  int64_t num_coords() const { return static_cast<int64_t>(a_.size()); }
  int64_t size() const { return static_cast<int64_t>(coef_.size()); }  // |Λ|
  const std::vector<double>& smoothness() const { return a_; }         // a_c per coordinate
  SmoothClass smooth_class() const { return cls_; }
  int64_t max_order() const { return max_order_; }
  double t_max() const { return t_max_; }
  double a_dagger() const { return smooth_a_dagger(a_, cls_, max_order_); }
  double predicted_exponent() const { return smooth_predicted_exponent(a_dagger()); }
  const std::vector<double>& coefficients() const { return coef_; }  // c_l in term order
  // The active coordinates of term t (ascending coord), t ∈ [0, size()).
  std::vector<SmoothIndex> term(int64_t t) const;
  // Highest level m_c of coordinate c's table (0 if the coordinate is in no term).
  int table_levels(int64_t c) const { return levels_[static_cast<size_t>(c)]; }

  // Fills out[0 .. 2^{m+1} − 1) with ψ_j(x), |j| < 2^m, in level order (see above).
  static void fill_table(double x, int m, double* out);
  // Table position of index j (level order) and its inverse.
  static int64_t table_position(int64_t j);
  static int64_t table_index(int64_t position);

  // f(z) for z ∈ [0,1]^D (D = num_coords()): builds the tables, then evaluate_tables.
  double evaluate(const std::vector<double>& z) const;
  // f from per-coordinate tables: tables[c] points at ≥ 2^{table_levels(c)+1} − 1 entries of
  // fill_table(z_c, ≥ table_levels(c)). O(|Λ|), no allocation.
  double evaluate_tables(const double* const* tables) const;

 private:
  struct Factor {  // an outer factor of a row: table position of a coordinate
    int32_t coord;
    int32_t position;
  };
  struct Row {
    int64_t coef_begin;  // first coefficient (term index) of the row
    int32_t factor_begin, factor_count;
    int32_t inner_coord, inner_begin, length;  // inner table positions [begin, begin + length)
  };
  std::vector<double> a_;
  SmoothClass cls_ = SmoothClass::kAniso;
  int64_t max_order_ = 1;
  double t_max_ = 0.0;
  std::vector<int> levels_;
  std::vector<Row> rows_;
  std::vector<Factor> factors_;
  std::vector<double> coef_;
  double constant_ = 0.0;  // from_terms only
};

// The task. sample(rng, B, N) returns inputs (B, N, d) float32 and targets (B, l_out, 1) float32,
// compared with the model's last l_out outputs (§5.2 item 7): readout final: l_out = 1 (the target
// of position N − 1); seq: one target per position i ≥ U − 1 (fixed) or i ≥ W − 1 (dynamic).
// y = f + σ·N(0,1) (σ = task.noise; σ = 0 draws no noise: the noise-free test sets). Per sequence,
// rng gives the tokens (row-major, redrawn whole under the margin), then the noise draws.
class SmoothTask : public Task {
 public:
  // Throws seqlab::UserError on an invalid option (unknown class or readout, d = 1 in the dynamic
  // variant without key_in_g, select_window < window in the dynamic seq readout, key_in_g or a
  // margin in a fixed variant, R·δ ≥ 1, an empty or too large Λ).
  explicit SmoothTask(const TaskOptions& options);
  const TaskInfo& info() const override { return info_; }
  // UserError if N < U (fixed), N < R (dynamic, final) or N < W (dynamic, seq).
  Batch sample(Rng& rng, int64_t batch, int64_t length) const override;

  const SmoothFunction& function() const { return function_; }
  bool dynamic() const { return dynamic_; }
  bool per_token() const { return per_token_; }
  // l_out for N tokens: 1 (final), N − U + 1 (fixed, seq) or N − W + 1 (dynamic, seq).
  int64_t output_length(int64_t N) const;
  // Feature and lag (fixed) or rank (dynamic) of coordinate c.
  int64_t coord_feature(int64_t c) const;
  int64_t coord_offset(int64_t c) const;
  // Noise-free targets f of given inputs (B, N, d) (any float dtype; values are rounded to
  // float32 as sample's are): (B, l_out, 1) float32, as sample's targets with σ = 0. No margin
  // resampling (the inputs are given).
  torch::Tensor targets_of(const torch::Tensor& inputs) const;

 private:
  void check_length(int64_t length) const;
  // f at every scored position of one sequence x (N × d, float32 values) into out (l_out).
  struct Workspace;
  void sequence_targets(const float* x, int64_t N, Workspace& ws, double* out) const;
  bool margin_ok(const float* x, int64_t N, Workspace& ws) const;

  TaskInfo info_;
  TaskOptions options_;
  bool dynamic_ = false, per_token_ = false;
  int64_t d_ = 1, window_ = 1, first_feature_ = 0;  // first argument feature (dynamic: 0 or 1)
  SmoothFunction function_;
  // Per argument feature kk (= k − first_feature_): table levels (max over lags or ranks) and the
  // offset of its table in one token's block of tables.
  std::vector<int> feature_levels_;
  std::vector<int64_t> feature_offset_;
  int64_t table_block_ = 0;
};

}  // namespace seqlab::tasks
