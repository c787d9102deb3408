// Complex-diagonal selective SSM (spec/mixers.md §2.2.21). See complex_diagonal.h.
#include "seqlab/mixers/complex_diagonal.h"

#include <torch/nn/modules/activation.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "seqlab/core/complex_diag_scan.h"

namespace seqlab::mixers {

ComplexDiagonalSSMImpl::ComplexDiagonalSSMImpl(const ComplexDiagonalSSMOptions& options)
    : options_(options) {
  const int64_t D = options_.d_input(), N = options_.state_size();
  TORCH_CHECK(D >= 1, "ComplexDiagonalSSM: d_input must be >= 1, got ", D);
  TORCH_CHECK(N >= 1, "ComplexDiagonalSSM: state_size must be >= 1, got ", N);
  TORCH_CHECK(std::isfinite(options_.scale_eigv()),
              "ComplexDiagonalSSM: scale_eigv must be finite");
  TORCH_CHECK(options_.eps_modulus() >= 0.0, "ComplexDiagonalSSM: eps_modulus must be >= 0, got ",
              options_.eps_modulus());
  const int64_t E = D;  // the run script passes E = D (§2.2.21 "Common parts")
  // PyTorch default initialization for both Linear layers (§0.3).
  embedding =
      register_module("embedding", torch::nn::Linear(torch::nn::LinearOptions(D, E).bias(false)));
  eig_mlp = register_module("eig_mlp",
                            torch::nn::Sequential(torch::nn::Linear(E, 4 * N), torch::nn::ReLU(),
                                                  torch::nn::Linear(4 * N, 2 * N)));
  torch::NoGradGuard no_grad;
  if (options_.with_b()) {
    // B_re, B_im ~ U(±√3/√(N + E)) each (§2.2.21 "With B").
    const double bound = std::sqrt(3.0) / std::sqrt(static_cast<double>(N + E));
    B_re = register_parameter("B_re", torch::empty({N, E}).uniform_(-bound, bound));
    B_im = register_parameter("B_im", torch::empty({N, E}).uniform_(-bound, bound));
  }
  // x_0 = exp(iϕ), ϕ ~ U[0, 2π): a buffer, so it is saved and moved with the module but never
  // handed to an optimizer.
  x0_phase = register_buffer("x0_phase", torch::rand({N}) * (2.0 * M_PI));
}

void ComplexDiagonalSSMImpl::check_input(const torch::Tensor& u) const {
  TORCH_CHECK(u.defined() && u.dim() == 3 && u.size(2) == options_.d_input(),
              "ComplexDiagonalSSM: input must be (B, T, D) with D = ", options_.d_input(), ", got ",
              u.defined() ? u.sizes() : torch::IntArrayRef{});
  TORCH_CHECK(u.scalar_type() == x0_phase.scalar_type(), "ComplexDiagonalSSM: input dtype ",
              u.scalar_type(), " differs from the module dtype ", x0_phase.scalar_type());
}

std::pair<torch::Tensor, torch::Tensor> ComplexDiagonalSSMImpl::eig_logits(const torch::Tensor& e) {
  const int64_t N = options_.state_size();
  auto out = eig_mlp->forward(e);  // (B, T, 2N)
  return {out.narrow(-1, 0, N), out.narrow(-1, N, N)};
}

torch::Tensor ComplexDiagonalSSMImpl::unit_transition(const torch::Tensor& e) {
  auto [zr, zi] = eig_logits(e);
  auto modulus = torch::sqrt(zr * zr + zi * zi);
  if (options_.eps_modulus() > 0) modulus = modulus.clamp_min(options_.eps_modulus());
  return torch::stack({zr / modulus, zi / modulus}, -1);  // (B, T, N, 2), |λ| = 1
}

torch::Tensor ComplexDiagonalSSMImpl::transition(const torch::Tensor& u) {
  check_input(u);
  return unit_transition(embedding->forward(u));
}

torch::Tensor ComplexDiagonalSSMImpl::initial_state() const {
  return torch::stack({torch::cos(x0_phase), torch::sin(x0_phase)}, -1);  // (N, 2)
}

torch::Tensor ComplexDiagonalSSMImpl::forward(const torch::Tensor& u) {
  check_input(u);
  auto e = embedding->forward(u);  // (B, T, E)
  auto lambda = unit_transition(e);
  torch::Tensor impulse;
  if (options_.with_b()) {
    if (options_.scale_eigv() != 1.0) lambda = lambda * options_.scale_eigv();
    // k_t = (B_re + i B_im) e_t as real pairs (B, T, N, 2).
    impulse = torch::stack({torch::matmul(e, B_re.t()), torch::matmul(e, B_im.t())}, -1);
  }
  auto x = core::complex_diag_scan(lambda, impulse, initial_state());  // (B, T, N, 2)
  return torch::cat({x.select(-1, 0), x.select(-1, 1)}, -1);
}

torch::Tensor ComplexDiagonalSSMImpl::complex_eigenvalues(const torch::Tensor& e) {
  auto [zr, zi] = eig_logits(e);
  auto z = torch::complex(zr, zi);
  auto modulus = z.abs();
  if (options_.eps_modulus() > 0) modulus = modulus.clamp_min(options_.eps_modulus());
  return z / modulus;
}

torch::Tensor ComplexDiagonalSSMImpl::reference(const torch::Tensor& u) {
  check_input(u);
  const int64_t Bsz = u.size(0), T = u.size(1), N = options_.state_size();
  auto e = embedding->forward(u);
  auto lambda = complex_eigenvalues(e);  // (B, T, N) complex
  torch::Tensor k;
  if (options_.with_b()) {
    auto bc = torch::complex(B_re, B_im);                                // (N, E)
    k = torch::matmul(torch::complex(e, torch::zeros_like(e)), bc.t());  // (B, T, N)
  }
  auto x = torch::complex(torch::cos(x0_phase), torch::sin(x0_phase)).expand({Bsz, N});
  std::vector<torch::Tensor> states;
  states.reserve(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) {
    if (options_.with_b()) {
      x = options_.scale_eigv() * lambda.select(1, t) * x + k.select(1, t);
    } else {
      x = lambda.select(1, t) * x;
    }
    states.push_back(x);
  }
  if (T == 0) return torch::empty({Bsz, 0, 2 * N}, u.options());
  auto xs = torch::stack(states, 1);  // (B, T, N)
  return torch::cat({torch::real(xs), torch::imag(xs)}, -1);
}

torch::Tensor ComplexDiagonalSSMImpl::coefficients(const torch::Tensor& u) {
  check_input(u);
  const int64_t Bsz = u.size(0), T = u.size(1), N = options_.state_size();
  auto e = embedding->forward(u);
  auto a = complex_eigenvalues(e);  // diagonal of A_t, (B, T, N) complex
  torch::Tensor k;
  if (options_.with_b()) {
    a = a * options_.scale_eigv();
    k = torch::matmul(torch::complex(e, torch::zeros_like(e)), torch::complex(B_re, B_im).t());
  }
  const auto copts = a.options();
  // Column j of `impulses` holds token j's impulse, propagated to the current step: column 0 is
  // the initial state x_0, column j + 1 is b k_j = k_j (injected at step j).
  auto x0 = torch::complex(torch::cos(x0_phase), torch::sin(x0_phase));  // (N)
  auto impulses =
      torch::cat({x0.view({1, N, 1}).expand({Bsz, N, 1}), torch::zeros({Bsz, N, T}, copts)}, -1);
  std::vector<torch::Tensor> rows;
  rows.reserve(static_cast<size_t>(T));
  for (int64_t i = 0; i < T; ++i) {
    impulses = a.select(1, i).unsqueeze(-1) * impulses;  // Φ(i, j) = A_i Φ(i−1, j)
    if (k.defined()) {
      auto onehot = torch::zeros({T + 1}, copts);
      onehot.select(0, i + 1).fill_(1.0);
      impulses = impulses + k.select(1, i).unsqueeze(-1) * onehot;  // Φ(i, i) k_i = k_i
    }
    rows.push_back(impulses);
  }
  if (T == 0) return torch::empty({Bsz, 2 * N, 0, 1}, u.options());
  auto m = torch::stack(rows, 2);  // (B, N, T, T + 1)
  return torch::cat({torch::real(m), torch::imag(m)}, 1);
}

int64_t ComplexDiagonalSSMImpl::state_size(int64_t /*position*/) const {
  return 2 * options_.state_size();
}

}  // namespace seqlab::mixers
