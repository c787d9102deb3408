// Complex-diagonal scan and model (spec/mixers.md §2.2.21, §3.1): the fused kernel forward and
// forward + backward, the mixer's fused path against its plain reference loop, and a full model
// training step at the SD-SSM paper's training shape (B = 128, T = 41, one-hot D = 3).
// Throughput is reported as tokens/s (items = B·T per iteration) over wall-clock time, so that
// at::parallel_for threads count.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <cmath>

#include "seqlab/config/config.h"
#include "seqlab/core/complex_diag_scan.h"
#include "seqlab/mixers/complex_diagonal.h"
#include "seqlab/model/complex_diagonal_model.h"

namespace {

constexpr int64_t kBatch = 128, kLength = 41, kVocab = 3, kClasses = 2;

struct ScanInputs {
  torch::Tensor lambda, u, h0, grad;
};

ScanInputs scan_inputs(int64_t N) {
  torch::manual_seed(0);
  auto theta = 2 * M_PI * torch::rand({kBatch, kLength, N});
  ScanInputs in;
  in.lambda = torch::stack({torch::cos(theta), torch::sin(theta)}, -1);
  in.u = 0.3 * torch::randn({kBatch, kLength, N, 2});
  in.h0 = torch::randn({N, 2});
  in.grad = torch::randn({kBatch, kLength, N, 2});
  return in;
}

void BM_ComplexDiagScanForward(benchmark::State& state) {
  auto in = scan_inputs(state.range(0));
  torch::NoGradGuard no_grad;
  for (auto _ : state) {
    auto x = seqlab::core::complex_diag_scan(in.lambda, in.u, in.h0);
    benchmark::DoNotOptimize(x.data_ptr<float>());
  }
  state.SetItemsProcessed(state.iterations() * kBatch * kLength);
}
BENCHMARK(BM_ComplexDiagScanForward)
    ->Arg(32)
    ->Arg(64)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

void BM_ComplexDiagScanForwardBackward(benchmark::State& state) {
  auto in = scan_inputs(state.range(0));
  in.lambda.requires_grad_(true);
  in.u.requires_grad_(true);
  in.h0.requires_grad_(true);
  for (auto _ : state) {
    auto x = seqlab::core::complex_diag_scan(in.lambda, in.u, in.h0);
    auto grads = torch::autograd::grad({x}, {in.lambda, in.u, in.h0}, {in.grad});
    benchmark::DoNotOptimize(grads[0].data_ptr<float>());
  }
  state.SetItemsProcessed(state.iterations() * kBatch * kLength);
}
BENCHMARK(BM_ComplexDiagScanForwardBackward)
    ->Arg(32)
    ->Arg(64)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// Mixer forward + backward of every parameter: range(1) = 0 fused path, 1 plain reference loop.
void BM_ComplexDiagonalMixerForwardBackward(benchmark::State& state) {
  const int64_t N = state.range(0);
  const bool reference = state.range(1) != 0;
  torch::manual_seed(0);
  seqlab::mixers::ComplexDiagonalSSM mixer(seqlab::mixers::ComplexDiagonalSSMOptions(kVocab, N));
  auto u = torch::one_hot(torch::randint(0, kVocab, {kBatch, kLength}, torch::kInt64), kVocab)
               .to(torch::kFloat32);
  for (auto _ : state) {
    mixer->zero_grad();
    auto y = reference ? mixer->reference(u) : mixer->forward(u);
    y.sum().backward();
  }
  state.SetLabel(reference ? "reference" : "fused");
  state.SetItemsProcessed(state.iterations() * kBatch * kLength);
}
BENCHMARK(BM_ComplexDiagonalMixerForwardBackward)
    ->Args({32, 0})
    ->Args({32, 1})
    ->Args({64, 0})
    ->Args({64, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// One Adam step of the with-B linear-readout model, cross-entropy at every position.
void BM_ComplexDiagonalModelTrainStep(benchmark::State& state) {
  torch::manual_seed(0);
  seqlab::config::ModelConfig cfg;
  cfg.name = "complex_diagonal";
  cfg.state_size = state.range(0);
  cfg.with_b = true;
  cfg.readout = "linear";
  auto model = seqlab::model::make_complex_diagonal_model(cfg, kVocab, kClasses);
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(1e-3));
  auto tokens = torch::randint(0, kVocab, {kBatch, kLength}, torch::kInt64);
  auto targets = torch::remainder(torch::cumsum(tokens, 1), kClasses);
  for (auto _ : state) {
    opt.zero_grad();
    auto logits = model->forward(tokens);
    auto loss =
        torch::nn::functional::cross_entropy(logits.reshape({-1, kClasses}), targets.reshape({-1}));
    loss.backward();
    opt.step();
  }
  state.SetItemsProcessed(state.iterations() * kBatch * kLength);
}
BENCHMARK(BM_ComplexDiagonalModelTrainStep)
    ->Arg(32)
    ->Arg(64)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
