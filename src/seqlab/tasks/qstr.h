// Sparse token retrieval (spec/tasks.md §4; QSTR arXiv:2503.11272 Definition 2, QSA Definition
// 4): `qstr` (q pointers per token), `qstr_simple` (one pointer tuple shared by every position),
// `qsa` (q-sparse averaging of unit vectors over a q-subset). Per-token regression over all N
// positions (MSE).
//
// Token i of a prompt of N tokens is encoded as z_i = [x_i, ω_i, ω_{t_i1}, ..., ω_{t_iq}] (or, qsa
// with set_encoding "sum", [x_i, ω_i, Σ_j ω_{t_ij}]), where ω_0..ω_{N−1} is the position codebook:
// i.i.d. entries ±1/√d_e, d_e = ⌊5 ln N⌋, fixed per N from a fixed seed (shared by every run and
// repetition, §0.3). The link's directions u_j are fixed per experiment from task.data_seed.
// Gaussian draws use Box–Muller on seqlab::Rng, so batches depend only on the rng state.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "seqlab/tasks/task.h"
#include "seqlab/util/rng.h"

namespace seqlab::tasks {

bool is_qstr_task(const std::string& name);
std::vector<std::string> qstr_task_names();

// Links of §4.1: y_i = g(x_{t_i1}, ..., x_{t_iq}).
enum class QstrLink { kLinear, kLinearSum, kHermite2, kQuadnorm, kMean };
// "linear" | "linear_sum" | "hermite2" | "quadnorm" | "mean"; UserError naming the valid ones.
QstrLink qstr_link_from_name(const std::string& name);
std::vector<std::string> qstr_link_names();

// d_e = ⌊5 ln N⌋ (at least 1): N = 3 → 5, 12 → 12, 100 → 23 (golden row 64).
int64_t qstr_embedding_dim(int64_t N);
// The codebook ω (N × d_e, row-major), entries ±1/√d_e, from a seed fixed per N; rows are
// distinct (a repeated row is drawn again: seqlab's construction, so that no two positions share
// a code).
std::vector<double> qstr_codebook(int64_t N);
// q orthonormal directions in R^d (q × d, row-major): Gram–Schmidt of Gaussians (q = 1: uniform
// on the sphere S^{d−1}). UserError if q > d.
std::vector<double> orthonormal_directions(Rng& rng, int64_t q, int64_t d);

// Targets of one prompt (golden rows 60-63): x (N × d), pointers (N × q), u (q × d) row-major.
// Returns N × O values, O = d for kMean and 1 otherwise:
//   linear      ⟨u_1, x_{t_i1}⟩ (q = 1)
//   linear_sum  q^{−1/2} Σ_j ⟨u_j, x_{t_ij}⟩
//   hermite2    q^{−1/2} Σ_j He₂(⟨u_j, x_{t_ij}⟩), He₂(z) = (z² − 1)/√2
//   quadnorm    (q d)^{−1/2} Σ_j (‖x_{t_ij}‖² − d·P(t < N/2)) (the caller zeroes x_i, i ≥ N/2)
//   mean        (1/q) Σ_j x_{t_ij}
std::vector<double> qstr_targets(const std::vector<double>& x, const std::vector<int64_t>& pointers,
                                 int64_t N, int64_t d, int64_t q, QstrLink link,
                                 const std::vector<double>& u);

// The task: sample(rng, B, N) returns inputs (B, N, F) float32 and targets (B, N, O) float32,
// F = d + (q + 1) d_e (qsa with set_encoding "sum": d + 2 d_e). N is task.tokens (the length
// asked for must equal it, since F depends on N through d_e).
class QstrTask : public Task {
 public:
  // Throws seqlab::UserError on an invalid option (tokens < 2, q < 1, linear with q ≠ 1, q > d
  // for directional links, qsa with q > N, an unknown link or set encoding).
  explicit QstrTask(const TaskOptions& options);
  const TaskInfo& info() const override { return info_; }
  Batch sample(Rng& rng, int64_t batch, int64_t length) const override;

 private:
  TaskInfo info_;
  TaskOptions options_;
  QstrLink link_;
  std::vector<double> codebook_;  // N × d_e
  std::vector<double> u_;         // q × d (directional links)
  int64_t d_e_;
};

}  // namespace seqlab::tasks
