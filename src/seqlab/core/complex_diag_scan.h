// Fused complex-diagonal scan (spec/mixers.md §3.1 "complex diagonal" class, §3.2.1 sequential
// scan, §3.3.1-§3.3.2 adjoint): for each batch b and channel n,
//
//     x_t = λ_t ⊙ x_{t−1} + u_t,   t = 1..T,   x_0 = h0,
//
// with complex numbers stored as real pairs (last dimension 2: re, im; spec §0.3). Every state
// x_1..x_T is returned, so the backward reuses the outputs as states and recomputes nothing.
//
// Shapes (all contiguous after the autograd shell, float32 or float64, CPU):
//   λ   (B, T, N, 2)
//   u   (B, T, N, 2)      optional: undefined = no input term
//   h0  (N, 2) | (B, N, 2) optional: undefined = zero; (N, 2) is shared by the batch
//   x   (B, T, N, 2)      output
//
// Gradients use the convention grad = ∂L/∂Re + i ∂L/∂Im (spec §0.3). With g_t = ∂L/∂x_t:
//   μ_T = g_T,   μ_t = g_t + conj(λ_{t+1}) μ_{t+1}
//   dλ_t = μ_t ⊙ conj(x_{t−1}),   du_t = μ_t,   dh0 = conj(λ_1) μ_1 (summed over the batch if
//   h0 is shared).
//
// Parallelism: at::parallel_for over (batch × blocks of channels); time runs inside, channels are
// innermost and contiguous. Each (b, n) chain is computed by one thread in a fixed order, and the
// batch reduction of a shared dh0 runs in a fixed order, so results are bit-identical at any
// thread count.
#pragma once
#include <torch/types.h>

#include <cstdint>

namespace seqlab::core {

// Sizes and pointers of one scan call (element strides are implied by contiguity).
template <typename scalar_t>
struct ComplexDiagScanParams {
  int64_t batch = 0;                 // B
  int64_t length = 0;                // T
  int64_t channels = 0;              // N (complex channels; 2N reals per time step)
  const scalar_t* lambda = nullptr;  // (B, T, N, 2)
  const scalar_t* u = nullptr;       // (B, T, N, 2) or nullptr
  const scalar_t* h0 = nullptr;      // (N, 2) or (B, N, 2) or nullptr (zero initial state)
  bool h0_per_batch = false;         // true: h0 is (B, N, 2)
  scalar_t* x = nullptr;             // (B, T, N, 2) output; read back as states in backward
};

// Gradient buffers. Backward ADDS into them (zero them first); nullptr skips that gradient.
template <typename scalar_t>
struct ComplexDiagScanGrads {
  const scalar_t* grad_x = nullptr;  // (B, T, N, 2) upstream gradient ∂L/∂x
  scalar_t* dlambda = nullptr;       // (B, T, N, 2)
  scalar_t* du = nullptr;            // (B, T, N, 2)
  // (B, N, 2) when p.h0_per_batch; (N, 2) otherwise (the batch sum, taken in fixed order).
  scalar_t* dh0 = nullptr;
};

// x_t = λ_t ⊙ x_{t−1} + u_t for t = 1..T; writes p.x.
template <typename scalar_t>
void complex_diag_scan_forward(const ComplexDiagScanParams<scalar_t>& p);

// Reverse-time adjoint of the forward above (spec §3.3.1 with the complex-diagonal projection of
// §3.3.2); reads p.lambda, p.h0 and the states p.x written by the forward.
template <typename scalar_t>
void complex_diag_scan_backward(const ComplexDiagScanParams<scalar_t>& p,
                                const ComplexDiagScanGrads<scalar_t>& g);

// Differentiable entry point (a torch::autograd::Function over the kernels above): returns all
// states x (B, T, N, 2). `u` and `h0` may be undefined tensors. Throws c10::Error with the expected
// shape on bad input. The hand-written backward is not itself differentiable (no double backward).
torch::Tensor complex_diag_scan(const torch::Tensor& lambda, const torch::Tensor& u,
                                const torch::Tensor& h0);

}  // namespace seqlab::core
