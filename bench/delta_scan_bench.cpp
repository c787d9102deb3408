// Delta-rule scan throughput, forward + backward (spec/mixers.md §3.2.1 fused, §3.2.4 WY/UT
// chunked, per-step reference). Items are tokens (batch × length), so items_per_second reads as
// tokens/s (also reported as the counter tokens/s). Shape B = 16, H = 2, n = dv = 64, with the
// Gated DeltaNet gate; chunk C = 64 for the chunked path. Arguments: {T, threads}.
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <cstdint>

#include "seqlab/core/delta_scan.h"

namespace {

constexpr int64_t kBatch = 16, kHeads = 2, kKey = 64, kValue = 64, kChunk = 64;

struct Inputs {
  torch::Tensor q, k, v, beta, log_a, dy;
};

// Unit keys and queries (as the mixers feed them), β ∈ (0, 1), log a ∈ (−0.1, 0).
Inputs make_inputs(int64_t T) {
  torch::manual_seed(0);
  auto unit = [](const torch::Tensor& x) { return x / x.norm(2, -1, true); };
  Inputs in;
  in.q = unit(torch::randn({kBatch, kHeads, T, kKey})).requires_grad_(true);
  in.k = unit(torch::randn({kBatch, kHeads, T, kKey})).requires_grad_(true);
  in.v = torch::randn({kBatch, kHeads, T, kValue}).requires_grad_(true);
  in.beta = torch::rand({kBatch, kHeads, T}).requires_grad_(true);
  in.log_a = (-0.1 * torch::rand({kBatch, kHeads, T})).requires_grad_(true);
  in.dy = torch::randn({kBatch, kHeads, T, kValue});
  return in;
}

void run_path(benchmark::State& state, seqlab::core::ScanPath path) {
  at::set_num_threads(static_cast<int>(state.range(1)));
  const int64_t T = state.range(0);
  auto in = make_inputs(T);
  for (auto _ : state) {
    for (auto* t : {&in.q, &in.k, &in.v, &in.beta, &in.log_a}) t->mutable_grad() = torch::Tensor();
    auto r = seqlab::core::delta_scan(path, in.q, in.k, in.v, in.beta, in.log_a, {}, kChunk);
    r.y.backward(in.dy);
    benchmark::DoNotOptimize(in.k.grad().data_ptr());
  }
  state.SetItemsProcessed(state.iterations() * kBatch * T);
  state.counters["tokens/s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * kBatch * T), benchmark::Counter::kIsRate);
}

void BM_DeltaScanFusedFwdBwd(benchmark::State& state) {
  run_path(state, seqlab::core::ScanPath::kFused);
}
void BM_DeltaScanChunkedFwdBwd(benchmark::State& state) {
  run_path(state, seqlab::core::ScanPath::kChunked);
}
void BM_DeltaScanReferenceFwdBwd(benchmark::State& state) {
  run_path(state, seqlab::core::ScanPath::kReference);
}

// {T, threads}: every length at 1 and 2 threads for the fused and chunked paths. The reference
// runs one intra-op thread: its per-step ops are small, and at 2 threads on a busy 2-core machine
// its time went to OpenMP synchronization (4096 steps took minutes).
void fast_path_args(benchmark::internal::Benchmark* b) {
  for (int64_t threads : {1, 2})
    for (int64_t T : {256, 1024, 4096}) b->Args({T, threads});
}

BENCHMARK(BM_DeltaScanFusedFwdBwd)->Apply(fast_path_args)->MinTime(0.5)->UseRealTime();
BENCHMARK(BM_DeltaScanChunkedFwdBwd)->Apply(fast_path_args)->MinTime(0.5)->UseRealTime();
BENCHMARK(BM_DeltaScanReferenceFwdBwd)
    ->Args({256, 1})
    ->Args({1024, 1})
    ->Args({4096, 1})
    ->Iterations(1)
    ->UseRealTime();

}  // namespace
