// Fused dense-structure scan (spec/mixers.md §3.1 "dense" class, §3.2.6 sequential form, §3.3.1
// adjoint, §3.3.2 "dense" row): for each batch b,
//
//     x_t = A_{idx[b,t]} x_{t−1} + u_t,   t = 1..T,   x_0 = h0,
//
// where the transitions come from a table of M dense N×N matrices, A[m][row][col] (row-major, so
// x_new[row] = Σ_col A[row][col] x[col]). One form covers both SD-SSM paths (§3.2.6):
//   - one-hot fast path: M = number of distinct symbols, idx = token ids;
//   - generic path: M = B·T, idx[b, t] = b·T + t (one matrix per step).
// Every state x_1..x_T is returned, so the backward reuses the outputs as states.
//
// Shapes (contiguous after the autograd shell, float32 or float64, CPU):
//   A_table (M, N, N)
//   idx     (B, T) int64 in [0, M)
//   u       (B, T, N)
//   h0      (B, N)  optional: undefined = zero initial state
//   x       (B, T, N) output
//
// Backward (§3.3.1 with v ≡ 1, dense projection of §3.3.2). With g_t = ∂L/∂x_t:
//   λ_T = g_T,   λ_t = g_t + A_{t+1}ᵀ λ_{t+1}
//   dA_{idx_t} += λ_t x_{t−1}ᵀ,   du_t = λ_t,   dh0 = A_1ᵀ λ_1.
//
// Parallelism and determinism: at::parallel_for over fixed blocks of kSeqBlock sequences; time
// runs inside, and every inner loop runs over N contiguous elements in axpy form (vectorizable
// without reassociating sums). When idx is injective (generic path) each dA_m has one
// contribution, written directly. Otherwise each block sums its contributions into its own
// (M, N, N) partial buffer (a rank-k update per matrix, tokens in (b, t) order) and the partials
// are added in block order. Block boundaries do not depend on the thread count, so every result is
// bit-identical at any number of threads. Partial buffers cost ceil(B / kSeqBlock)·M·N² scalars.
#pragma once
#include <torch/types.h>

#include <cstdint>

namespace seqlab::core {

// Sequences per work item of the backward; fixed so that dA sums do not depend on threads.
constexpr int64_t kDenseScanSeqBlock = 8;

// Sizes and pointers of one scan call (element strides are implied by contiguity).
template <typename scalar_t>
struct DenseScanParams {
  int64_t batch = 0;             // B
  int64_t length = 0;            // T
  int64_t state = 0;             // N
  int64_t num_mats = 0;          // M
  const scalar_t* a = nullptr;   // (M, N, N) A_table, row-major A[m][row][col]
  const int64_t* idx = nullptr;  // (B, T), values in [0, M)
  bool idx_injective = false;    // no two (b, t) share a matrix: dA is written without partials
  const scalar_t* u = nullptr;   // (B, T, N); not read by the backward
  const scalar_t* h0 = nullptr;  // (B, N) or nullptr (zero initial state)
  scalar_t* x = nullptr;         // (B, T, N) output; read back as states in backward
};

// Gradient buffers. Backward ADDS into them (zero them first); nullptr skips that gradient.
template <typename scalar_t>
struct DenseScanGrads {
  const scalar_t* grad_x = nullptr;  // (B, T, N) upstream gradient ∂L/∂x
  scalar_t* da = nullptr;            // (M, N, N)
  scalar_t* du = nullptr;            // (B, T, N)
  scalar_t* dh0 = nullptr;           // (B, N); only used when p.h0 is set
};

// x_t = A_{idx_t} x_{t−1} + u_t for t = 1..T; writes p.x.
template <typename scalar_t>
void dense_scan_forward(const DenseScanParams<scalar_t>& p);

// Reverse-time adjoint of the forward above; reads p.a, p.idx, p.h0 and the states p.x.
template <typename scalar_t>
void dense_scan_backward(const DenseScanParams<scalar_t>& p, const DenseScanGrads<scalar_t>& g);

// Differentiable entry point (a torch::autograd::Function over the kernels above): returns all
// states x (B, T, N). `h0` may be undefined. Throws c10::Error naming the expected shape on bad
// input, and on idx values outside [0, M). Gradients flow to A_table, u and h0 (not idx). The
// hand-written backward is not itself differentiable (no double backward).
torch::Tensor dense_scan(const torch::Tensor& a_table, const torch::Tensor& idx,
                         const torch::Tensor& u, const torch::Tensor& h0 = {});

}  // namespace seqlab::core
