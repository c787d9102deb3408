// LTI diagonal core (spec/mixers.md §3.2.7, §3.3.5): forward + backward of kernel + convolution
// with respect to the eigenvalues, the readout and the input, at B = 16, H = 128 channels,
// N ∈ {16, 64} modes, T ∈ {256, 1024, 4096}:
//   LTI/<shared|per_channel>/fft/N/T        fused Vandermonde kernel + FFT convolution
//   LTI/<shared|per_channel>/recurrent/N/T  the per-step complex scan (core::lti_scan_reference;
//                                           T ≤ 1024: its autograd graph holds one (B, H, N)
//                                           complex state per step, ~2 GB at N = 64, T = 1024)
// "shared" has one eigenvalue set for every channel (DLR), "per_channel" one per channel (S4D,
// DSS). FFT-only rows at long T (LTI/shared/fft/64/{16384, 65536}) use B = 16 and B = 4 (memory).
// Component rows: LTI/kernel/<shared|per_channel>/N/T (the Vandermonde kernel alone, forward +
// backward) and LTI/conv/T (the FFT convolution alone).
// LRU core choice (lru.h): LRUCore/{scan, fft_per_mode}/1024 at B = 16, N = 64 modes: the
// complex-diagonal scan with λ broadcast vs an FFT convolution per mode (complex input: two real
// kernels per mode), forward + backward, the C projection left out of both.
// Throughput is tokens/s (items = B·T per iteration) over wall-clock time.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <cmath>
#include <string>

#include "seqlab/core/complex_diag_scan.h"
#include "seqlab/core/lti.h"

namespace {

constexpr int64_t kH = 128;

struct Inputs {
  torch::Tensor s, W, u;
};

Inputs inputs(int64_t B, int64_t N, int64_t T, bool shared) {
  torch::manual_seed(0);
  Inputs in;
  const int64_t rows = shared ? 1 : kH;
  auto a = -1e-3 - 0.05 * torch::rand({rows, N});
  auto b = 2 * M_PI * torch::rand({rows, N});
  in.s = torch::stack({a, b}, -1);
  if (shared) in.s = in.s.squeeze(0);
  in.s.requires_grad_(true);
  in.W = (torch::randn({1, kH, N, 2}) / static_cast<double>(N)).requires_grad_(true);
  in.u = torch::randn({B, kH, T}).requires_grad_(true);
  return in;
}

void run_lti(benchmark::State& state, bool shared, bool recurrent, int64_t B, int64_t N,
             int64_t T) {
  auto in = inputs(B, N, T, shared);
  for (auto _ : state) {
    torch::Tensor y =
        recurrent ? seqlab::core::lti_scan_reference(in.u, in.s, in.W)
                  : seqlab::core::lti_conv(in.u, seqlab::core::vandermonde_kernel(in.s, in.W, T));
    auto grads = torch::autograd::grad({y.square().mean()}, {in.s, in.W, in.u});
    benchmark::DoNotOptimize(grads[2].data_ptr<float>());
  }
  state.SetItemsProcessed(state.iterations() * B * T);
}

void run_kernel(benchmark::State& state, bool shared, int64_t N, int64_t T) {
  auto in = inputs(1, N, 1, shared);
  for (auto _ : state) {
    auto K = seqlab::core::vandermonde_kernel(in.s, in.W, T);
    auto grads = torch::autograd::grad({K.square().mean()}, {in.s, in.W});
    benchmark::DoNotOptimize(grads[1].data_ptr<float>());
  }
  state.SetItemsProcessed(state.iterations() * kH * N * T);  // items = H·N·T kernel terms
}

void run_conv(benchmark::State& state, int64_t B, int64_t T) {
  torch::manual_seed(0);
  auto u = torch::randn({B, kH, T}).requires_grad_(true);
  auto k = torch::randn({1, kH, T}).requires_grad_(true);
  auto D = torch::randn({1, kH}).requires_grad_(true);
  for (auto _ : state) {
    auto y = seqlab::core::lti_conv(u, k, {}, D);
    auto grads = torch::autograd::grad({y.square().mean()}, {u, k, D});
    benchmark::DoNotOptimize(grads[0].data_ptr<float>());
  }
  state.SetItemsProcessed(state.iterations() * B * T);
}

// LRU core, N modes: v (B, T, N) complex input -> h_t = λ h_{t−1} + v_t.
void run_lru_core(benchmark::State& state, bool fft, int64_t T) {
  const int64_t B = 16, N = 64;
  torch::manual_seed(0);
  auto mag = 0.5 + 0.49 * torch::rand({N});
  auto ph = 6.28 * torch::rand({N});
  auto lam = torch::stack({mag * torch::cos(ph), mag * torch::sin(ph)}, -1).requires_grad_(true);
  auto v = torch::randn({B, T, N, 2}).requires_grad_(true);
  for (auto _ : state) {
    torch::Tensor h;
    if (!fft) {
      h = seqlab::core::complex_diag_scan(lam.expand({B, T, N, 2}), v, torch::Tensor());
    } else {
      // λ^l per mode from log λ (one mode per channel), then Re/Im kernels: h = K ∗ v with
      // h_re = K_re ∗ v_re − K_im ∗ v_im and h_im = K_im ∗ v_re + K_re ∗ v_im.
      auto lc = torch::view_as_complex(lam);
      auto s = torch::view_as_real(torch::log(lc)).unsqueeze(1);  // (N, 1, 2) per channel
      auto one = torch::stack({torch::ones({N}), torch::zeros({N})}, -1).view({1, N, 1, 2});
      auto kre = seqlab::core::vandermonde_kernel(s, one, T, seqlab::core::KernelToReal::kReal);
      auto kim = seqlab::core::vandermonde_kernel(s, one, T, seqlab::core::KernelToReal::kImag);
      auto x = torch::cat({v.select(-1, 0), v.select(-1, 1)}, 2).transpose(1, 2);  // (B, 2N, T)
      auto k = torch::cat({torch::cat({kre, -kim}, 1), torch::cat({kim, kre}, 1)}, 0);
      auto y = seqlab::core::lti_conv(x.contiguous(), k);  // (B, 2, 2N, T)
      h = y.narrow(2, 0, N) + y.narrow(2, N, N);           // (B, 2, N, T): re, im
    }
    auto grads = torch::autograd::grad({h.square().mean()}, {lam, v});
    benchmark::DoNotOptimize(grads[1].data_ptr<float>());
  }
  state.SetItemsProcessed(state.iterations() * B * T);
}

[[maybe_unused]] const bool registered = [] {
  for (bool shared : {true, false}) {
    const std::string kind = shared ? "shared" : "per_channel";
    for (int64_t N : {16, 64})
      for (int64_t T : {256, 1024, 4096})
        for (bool recurrent : {false, true}) {
          if (recurrent && T > 1024) continue;
          const std::string name = "LTI/" + kind + (recurrent ? "/recurrent/" : "/fft/") +
                                   std::to_string(N) + "/" + std::to_string(T);
          benchmark::RegisterBenchmark(
              name.c_str(), [=](benchmark::State& s) { run_lti(s, shared, recurrent, 16, N, T); })
              ->Iterations(recurrent ? 1 : 3)
              ->UseRealTime()
              ->Unit(benchmark::kMillisecond);
        }
    for (int64_t T : {1024, 4096, 65536})
      benchmark::RegisterBenchmark(("LTI/kernel/" + kind + "/64/" + std::to_string(T)).c_str(),
                                   [=](benchmark::State& s) { run_kernel(s, shared, 64, T); })
          ->Iterations(3)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
  }
  for (int64_t T : {16384, 65536})
    benchmark::RegisterBenchmark(
        ("LTI/shared/fft/64/" + std::to_string(T)).c_str(),
        [=](benchmark::State& s) { run_lti(s, true, false, T > 16384 ? 4 : 16, 64, T); })
        ->Iterations(2)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  for (int64_t T : {1024, 4096, 65536})
    benchmark::RegisterBenchmark(("LTI/conv/" + std::to_string(T)).c_str(),
                                 [=](benchmark::State& s) { run_conv(s, T > 16384 ? 4 : 16, T); })
        ->Iterations(3)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  for (bool fft : {false, true})
    benchmark::RegisterBenchmark(
        (std::string("LRUCore/") + (fft ? "fft_per_mode" : "scan") + "/1024").c_str(),
        [=](benchmark::State& s) { run_lru_core(s, fft, 1024); })
        ->Iterations(3)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  return true;
}();

}  // namespace
