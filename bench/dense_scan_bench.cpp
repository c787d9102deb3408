// Dense scan and SD-SSM training-step throughput (spec/mixers.md §3.2.6; protocols.md §6.1). Items
// are tokens (batch × length), so items_per_second reads as tokens/s. Arguments: {T, threads}.
//   BM_DenseScanForward / ForwardBackward: the fused kernel alone, one-hot form (M = D = 3
//   symbols). BM_DenseScanReferenceLoop: the same forward + backward as a per-timestep LibTorch
//   loop, the
//     cost the fused kernel removes (smaller batch).
//   BM_SDSSMTrainStep: the published model, forward_tokens → LayerNorm → Linear → cross-entropy on
//     the last position → backward → Adam step, at fixed T; BM_SDSSMTrainStepMixedLength draws
//     T ~ U{1..41} per step as the LG protocol does.
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "seqlab/config/config.h"
#include "seqlab/core/dense_scan.h"
#include "seqlab/model/sdssm_model.h"

namespace {

constexpr int64_t kBatch = 128, kN = 64, kK = 8, kD = 3;

struct ScanInputs {
  torch::Tensor a, idx, u, g;
};

// A symbol table at the SD-SSM init scale, token ids, inputs and an upstream gradient.
ScanInputs scan_inputs(int64_t B, int64_t T) {
  torch::manual_seed(0);
  const double bound = std::sqrt(3.0 / kN);
  return {(torch::rand({kD, kN, kN}) * 2 - 1) * bound, torch::randint(0, kD, {B, T}, torch::kInt64),
          torch::randn({B, T, kN}), torch::randn({B, T, kN})};
}

void set_threads(const benchmark::State& state) {
  at::set_num_threads(static_cast<int>(state.range(1)));
}

void BM_DenseScanForward(benchmark::State& state) {
  set_threads(state);
  const int64_t T = state.range(0);
  auto in = scan_inputs(kBatch, T);
  torch::NoGradGuard no_grad;
  for (auto _ : state) {
    auto x = seqlab::core::dense_scan(in.a, in.idx, in.u);
    benchmark::DoNotOptimize(x.data_ptr());
  }
  state.SetItemsProcessed(state.iterations() * kBatch * T);
}

void BM_DenseScanForwardBackward(benchmark::State& state) {
  set_threads(state);
  const int64_t T = state.range(0);
  auto in = scan_inputs(kBatch, T);
  in.a.requires_grad_(true);
  in.u.requires_grad_(true);
  for (auto _ : state) {
    in.a.mutable_grad() = torch::Tensor();
    in.u.mutable_grad() = torch::Tensor();
    seqlab::core::dense_scan(in.a, in.idx, in.u).backward(in.g);
    benchmark::DoNotOptimize(in.a.grad().data_ptr());
  }
  state.SetItemsProcessed(state.iterations() * kBatch * T);
}

// x_t = A_{idx_t} x_{t−1} + u_t with one gather and one batched mat-vec per step under autograd.
void BM_DenseScanReferenceLoop(benchmark::State& state) {
  set_threads(state);
  const int64_t T = state.range(0), B = 32;
  auto in = scan_inputs(B, T);
  in.a.requires_grad_(true);
  in.u.requires_grad_(true);
  auto g = in.g.narrow(0, 0, B);
  for (auto _ : state) {
    in.a.mutable_grad() = torch::Tensor();
    in.u.mutable_grad() = torch::Tensor();
    auto x = torch::zeros({B, kN});
    std::vector<torch::Tensor> xs;
    for (int64_t t = 0; t < T; ++t) {
      auto a_t = in.a.index_select(0, in.idx.select(1, t));
      x = torch::matmul(a_t, x.unsqueeze(-1)).squeeze(-1) + in.u.select(1, t);
      xs.push_back(x);
    }
    torch::stack(xs, 1).backward(g);
    benchmark::DoNotOptimize(in.a.grad().data_ptr());
  }
  state.SetItemsProcessed(state.iterations() * B * T);
}

// One optimizer step of the published model on (B, T) tokens; returns the loss.
struct TrainStep {
  std::shared_ptr<seqlab::model::SequenceModel> model;
  torch::optim::Adam opt;
  TrainStep() : model(make_model()), opt(model->parameters(), torch::optim::AdamOptions(1e-4)) {}
  static std::shared_ptr<seqlab::model::SequenceModel> make_model() {
    seqlab::config::ModelConfig cfg;
    cfg.state_size = kN;
    cfg.dict_size = kK;
    cfg.lp = 1.2;
    cfg.readout = "linear";
    torch::manual_seed(0);
    return seqlab::model::make_sdssm_model(cfg, kD, 2);
  }
  float run(const torch::Tensor& tokens, const torch::Tensor& targets) {
    opt.zero_grad();
    auto logits = model->forward(tokens).select(1, -1);
    auto loss = torch::nn::functional::cross_entropy(logits, targets);
    loss.backward();
    opt.step();
    return loss.item<float>();
  }
};

void BM_SDSSMTrainStep(benchmark::State& state) {
  set_threads(state);
  const int64_t T = state.range(0);
  TrainStep step;
  auto tokens = torch::randint(0, kD, {kBatch, T}, torch::kInt64);
  auto targets = torch::randint(0, 2, {kBatch}, torch::kInt64);
  for (auto _ : state) benchmark::DoNotOptimize(step.run(tokens, targets));
  state.SetItemsProcessed(state.iterations() * kBatch * T);
}

void BM_SDSSMTrainStepMixedLength(benchmark::State& state) {
  set_threads(state);
  TrainStep step;
  std::vector<torch::Tensor> tokens;  // T = 1..41, visited in a fixed shuffled order
  for (int64_t T = 1; T <= 41; ++T) {
    tokens.push_back(torch::randint(0, kD, {kBatch, T}, torch::kInt64));
  }
  const auto order = torch::randperm(41, torch::kInt64);
  auto targets = torch::randint(0, 2, {kBatch}, torch::kInt64);
  int64_t items = 0, i = 0;
  for (auto _ : state) {
    const auto& x = tokens[order[i++ % 41].item<int64_t>()];
    benchmark::DoNotOptimize(step.run(x, targets));
    items += x.numel();
  }
  state.SetItemsProcessed(items);
}

BENCHMARK(BM_DenseScanForward)->Args({21, 2})->Args({41, 1})->Args({41, 2})->UseRealTime();
BENCHMARK(BM_DenseScanForwardBackward)->Args({21, 2})->Args({41, 1})->Args({41, 2})->UseRealTime();
BENCHMARK(BM_DenseScanReferenceLoop)->Args({21, 2})->UseRealTime();
BENCHMARK(BM_SDSSMTrainStep)->Args({21, 2})->Args({41, 2})->UseRealTime();
BENCHMARK(BM_SDSSMTrainStepMixedLength)->Args({0, 1})->Args({0, 2})->UseRealTime();

}  // namespace
