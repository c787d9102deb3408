// Channel-wise real-diagonal scans (spec/mixers.md §3.2.1, §3.3.1): forward + backward of the
// fused kernels against the per-step reference, at B = 16, D = 128 channels, N = 16 (selective
// scan) and T ∈ {256, 1024, 4096}, float32. The reference runs one iteration per length (it is
// slow and only sets the scale).
//
// Counters: items = tokens (B·T per iteration, so items_per_second is tokens/s over wall-clock
// time, at::parallel_for threads included); bytes = the minimum traffic of a fused
// forward + backward, each tensor read or written once (float32):
//   selective scan: forward reads x, Δ, B, C and writes y; backward reads x, Δ, B, C, dy and
//                   writes dx, dΔ, dB, dC:  4·(8·BTD + 6·BTN) bytes;
//   linear recurrence: forward reads log a, u and writes h; backward reads log a, h, dh and
//                   writes dlog a, du:  4·8·BTD bytes.
// bytes_per_second / the machine's memory bandwidth bounds how far from memory-bound a kernel is.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <cstdint>

#include "seqlab/core/channel_scan.h"

namespace {

constexpr int64_t kBatch = 16, kChannels = 128, kState = 16;

struct SelectiveInputs {
  torch::Tensor x, delta, A, Bm, Cm, dy;
};

SelectiveInputs selective_inputs(int64_t T) {
  torch::manual_seed(0);
  SelectiveInputs in;
  in.x = torch::randn({kBatch, T, kChannels}).requires_grad_(true);
  in.delta = torch::softplus(torch::randn({kBatch, T, kChannels}) - 2.0).requires_grad_(true);
  in.A =
      (-torch::arange(1, kState + 1, torch::kFloat32).repeat({kChannels, 1})).requires_grad_(true);
  in.Bm = torch::randn({kBatch, T, kState}).requires_grad_(true);
  in.Cm = torch::randn({kBatch, T, kState}).requires_grad_(true);
  in.dy = torch::randn({kBatch, T, kChannels});
  return in;
}

// range(0) = T, range(1) = 0 fused, 1 reference.
void BM_SelectiveScanForwardBackward(benchmark::State& state) {
  const int64_t T = state.range(0);
  const auto path =
      state.range(1) == 0 ? seqlab::core::ScanPath::kFused : seqlab::core::ScanPath::kReference;
  auto in = selective_inputs(T);
  for (auto _ : state) {
    auto y = seqlab::core::selective_scan(path, in.x, in.delta, in.A, in.Bm, in.Cm).first;
    auto grads = torch::autograd::grad({y}, {in.x, in.delta, in.A, in.Bm, in.Cm}, {in.dy});
    benchmark::DoNotOptimize(grads[0].data_ptr<float>());
  }
  state.SetLabel(seqlab::core::scan_path_name(path));
  state.SetItemsProcessed(state.iterations() * kBatch * T);
  state.SetBytesProcessed(state.iterations() * 4 *
                          (8 * kBatch * T * kChannels + 6 * kBatch * T * kState));
}

// Fused forward only, for the forward/backward split.
void BM_SelectiveScanForward(benchmark::State& state) {
  const int64_t T = state.range(0);
  auto in = selective_inputs(T);
  torch::NoGradGuard no_grad;
  for (auto _ : state) {
    auto y = seqlab::core::selective_scan_fused(in.x, in.delta, in.A, in.Bm, in.Cm).first;
    benchmark::DoNotOptimize(y.data_ptr<float>());
  }
  state.SetItemsProcessed(state.iterations() * kBatch * T);
  state.SetBytesProcessed(state.iterations() * 4 *
                          (3 * kBatch * T * kChannels + 2 * kBatch * T * kState));
}

void BM_LinearRecurrenceForwardBackward(benchmark::State& state) {
  const int64_t T = state.range(0);
  const auto path =
      state.range(1) == 0 ? seqlab::core::ScanPath::kFused : seqlab::core::ScanPath::kReference;
  torch::manual_seed(0);
  auto log_a = (-torch::softplus(torch::randn({kBatch, T, kChannels}))).requires_grad_(true);
  auto u = torch::randn({kBatch, T, kChannels}).requires_grad_(true);
  auto dh = torch::randn({kBatch, T, kChannels});
  for (auto _ : state) {
    auto h = seqlab::core::linear_recurrence(path, log_a, u).first;
    auto grads = torch::autograd::grad({h}, {log_a, u}, {dh});
    benchmark::DoNotOptimize(grads[0].data_ptr<float>());
  }
  state.SetLabel(seqlab::core::scan_path_name(path));
  state.SetItemsProcessed(state.iterations() * kBatch * T);
  state.SetBytesProcessed(state.iterations() * 4 * 8 * kBatch * T * kChannels);
}

void fused_lengths(benchmark::internal::Benchmark* b) {
  for (int64_t T : {256, 1024, 4096}) b->Args({T, 0});
}

void reference_lengths(benchmark::internal::Benchmark* b) {
  for (int64_t T : {256, 1024, 4096}) b->Args({T, 1});
}

BENCHMARK(BM_SelectiveScanForward)
    ->Arg(256)
    ->Arg(1024)
    ->Arg(4096)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SelectiveScanForwardBackward)
    ->Apply(fused_lengths)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SelectiveScanForwardBackward)
    ->Apply(reference_lengths)
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LinearRecurrenceForwardBackward)
    ->Apply(fused_lengths)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LinearRecurrenceForwardBackward)
    ->Apply(reference_lengths)
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
