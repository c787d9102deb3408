// DLR's 11 atomic sequence-to-sequence regression tasks (spec/tasks.md §2.1; DLR,
// arXiv:2212.00768): shift, cumsum, cummax, reverse, sort, masked_select(_fixed), solve(_fixed),
// context_shift, mips. Inputs are float features (B, L_in, F): the task's value channels followed
// by the two positional features cos(2πl/L_in), sin(2πl/L_in); targets (B, l_out, O) are compared
// with the model's last l_out outputs (MSE; R² as the headline metric, §0.4).
//
// `length` is the task's L: L_in = L for shift, cumsum, cummax, solve, context_shift, mips; 2L for
// reverse and sort (x followed by L zeros); M + L + M for masked_select (L noise values).
// Values are v ~ N(0, 1)^n divided by max|v| (∞-norm, per sample). Gaussian draws use Box–Muller
// on seqlab::Rng, so batches depend only on the rng state, never on the thread count.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "seqlab/tasks/task.h"

namespace seqlab::tasks {

bool is_dlr_atomic_task(const std::string& name);
std::vector<std::string> dlr_atomic_task_names();

// ---- Pure target functions (golden examples of §2.1 / §6 rows 33-43 test these) ---------------
// cos and sin of 2πl/L_in for l = 0..L_in−1.
std::vector<double> position_cos(int64_t length_in);
std::vector<double> position_sin(int64_t length_in);
// y[t][h] = x[t − s_h] (0 before the start), s_h = h·L/H; L must be divisible by H.
std::vector<std::vector<double>> shift_targets(const std::vector<double>& x, int64_t shifts);
// y_t = (Σ_{j≤t} x_j) / √(t+1).
std::vector<double> cumsum_targets(const std::vector<double>& x);
// y_t = max_{j≤t} x_j.
std::vector<double> cummax_targets(const std::vector<double>& x);
// y_t = x_{L−1−t}.
std::vector<double> reverse_targets(const std::vector<double>& x);
// x sorted ascending by |x_j − x_0|, stable (ties keep index order).
std::vector<double> sort_targets(const std::vector<double>& x);
// seq = [cos(2πs/L), sin(2πs/L), x_1..x_{L−2}] (x has L − 2 values).
std::vector<double> context_shift_sequence(const std::vector<double>& x, int64_t s);
// y_t = seq_{t−s} for t ≥ s, else 0.
std::vector<double> context_shift_targets(const std::vector<double>& seq, int64_t s);
// y_k = values[positions[k]] (positions sorted ascending).
std::vector<double> masked_select_targets(const std::vector<double>& values,
                                          const std::vector<int64_t>& positions);
// N = ⌊√(L+1) − 1⌋, the largest N with N² + 2N ≤ L (exact integer arithmetic).
int64_t solve_size(int64_t length);
// Row-major [A | B] with B = A X, zero-padded to `length` (A is N×N row-major).
std::vector<double> solve_input(const std::vector<double>& A, const std::vector<double>& X,
                                int64_t length);
// y_i = v_{j*}, j* = argmax_{j≤i} ⟨q_i, k_j⟩ (first maximum on ties); vectors of dimension D
// stored row-major (L × D).
std::vector<double> mips_targets(const std::vector<double>& q, const std::vector<double>& k,
                                 const std::vector<double>& v, int64_t dim);

// The task: sample() returns Batch{inputs (B, L_in, F) float32, targets (B, l_out, O) float32}.
class DlrAtomicTask : public Task {
 public:
  // Throws seqlab::UserError on an unknown name or invalid option.
  explicit DlrAtomicTask(const TaskOptions& options);
  const TaskInfo& info() const override { return info_; }
  Batch sample(Rng& rng, int64_t batch, int64_t length) const override;
  // Input length L_in and target length l_out for the task length L (UserError if L is invalid).
  int64_t input_length(int64_t length) const;
  int64_t output_length(int64_t length) const;

 private:
  TaskInfo info_;
  TaskOptions options_;
};

}  // namespace seqlab::tasks
