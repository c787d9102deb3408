// Gated matrix-state scan (spec/mixers.md §3.1 identity / scalar / diagonal classes): forward +
// backward of the fused CPU kernel, the chunked form and the per-timestep reference at the zoo
// benchmark shape B = 16, D = 128 as H = 2 heads of n = dv = 64, T ∈ {256, 1024, 4096}.
// Counters: tokens/s (B·T per iteration) and the bytes the fused kernel must move at least
// (inputs read and outputs written once per pass), for the memory-bandwidth bound in
// docs/benchmarks.md (the reference runs at T ≤ 1024 only). BM_StreamCopy measures the machine's
// copy bandwidth for that bound.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "seqlab/core/gated_scan.h"

namespace {

constexpr int64_t kB = 16, kH = 2, kN = 64, kDv = 64;

enum GateKind : int64_t { kIdentity = 0, kScalar = 1, kDiagonal = 2 };
enum PathKind : int64_t { kFused = 0, kChunked = 1, kReference = 2 };

struct Inputs {
  torch::Tensor q, k, v, g, dy;
};

Inputs make_inputs(int64_t T, int64_t gate) {
  torch::manual_seed(0);
  Inputs in;
  in.q = (torch::randn({kB, kH, T, kN}) / 8).requires_grad_(true);
  in.k = (torch::randn({kB, kH, T, kN}) / 8).requires_grad_(true);
  in.v = torch::randn({kB, kH, T, kDv}).requires_grad_(true);
  if (gate != kIdentity)
    in.g = (-torch::softplus(torch::randn({kB, kH, T, gate == kScalar ? 1 : kN})) / 8)
               .requires_grad_(true);
  in.dy = torch::randn({kB, kH, T, kDv});
  return in;
}

// Bytes a fused forward + backward must move at minimum: forward reads q, k, v, g and writes y;
// backward reads q, k, v, g, dy twice (recomputation sweep and adjoint sweep) and writes dq, dk,
// dv, dg.
int64_t min_bytes(int64_t T, int64_t gate) {
  const int64_t gw = gate == kIdentity ? 0 : gate == kScalar ? 1 : kN;
  const int64_t in = kB * kH * T * (2 * kN + kDv + gw);
  const int64_t out = kB * kH * T * kDv;
  return 4 * (in + out + 2 * (in + out) + in);
}

void BM_GatedScanForwardBackward(benchmark::State& state) {
  const int64_t T = state.range(0), gate = state.range(1), path = state.range(2);
  auto in = make_inputs(T, gate);
  const int64_t chunk = gate == kDiagonal ? 16 : 64;
  std::vector<torch::Tensor> inputs = {in.q, in.k, in.v};
  if (in.g.defined()) inputs.push_back(in.g);
  for (auto _ : state) {
    seqlab::core::ScanResult r;
    if (path == kFused) r = seqlab::core::gated_scan_fused(in.q, in.k, in.v, in.g);
    if (path == kChunked) r = seqlab::core::gated_scan_chunked(in.q, in.k, in.v, in.g, {}, chunk);
    if (path == kReference) r = seqlab::core::gated_scan_reference(in.q, in.k, in.v, in.g);
    auto grads = torch::autograd::grad({r.y}, inputs, {in.dy});
    benchmark::DoNotOptimize(grads[0].data_ptr<float>());
  }
  state.SetItemsProcessed(state.iterations() * kB * T);
  state.SetBytesProcessed(state.iterations() * min_bytes(T, gate));
  state.SetLabel(std::string(gate == kIdentity ? "identity"
                             : gate == kScalar ? "scalar"
                                               : "diagonal") +
                 (path == kFused     ? " fused"
                  : path == kChunked ? " chunked"
                                     : " reference"));
}

void gated_args(benchmark::internal::Benchmark* b) {
  for (int64_t gate : {kIdentity, kScalar, kDiagonal})
    for (int64_t path : {kFused, kChunked, kReference})
      for (int64_t T : {256, 1024, 4096})
        // The per-step reference keeps T autograd nodes with a (B, H, n, dv) state each
        // (2 GiB at T = 4096): measured at T <= 1024 only.
        if (path != kReference || T <= 1024) b->Args({T, gate, path});
}
BENCHMARK(BM_GatedScanForwardBackward)
    ->Apply(gated_args)
    ->Iterations(3)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// Copy bandwidth of the machine (256 MiB source → destination, counted as read + write).
void BM_StreamCopy(benchmark::State& state) {
  auto src = torch::randn({64 << 20});
  auto dst = torch::empty_like(src);
  for (auto _ : state) {
    dst.copy_(src);
    benchmark::DoNotOptimize(dst.data_ptr<float>());
  }
  state.SetBytesProcessed(state.iterations() * 2 * src.numel() * 4);
}
BENCHMARK(BM_StreamCopy)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
