// Every zoo mixer (mixers/zoo.h), forward + backward of the whole layer with respect to every
// parameter and the input, at B = 16, D = 128 (2 heads of head dim 64; state 16 for the
// channel-wise SSMs), T ∈ {256, 1024, 4096}, on each path: fused (the default forward), chunked
// (chunk 64; 16 for diagonal gates) and the per-timestep reference (T ≤ 1024 only: its autograd
// graph holds one state per step). Registered at start-up from
// the registry, so a new mixer is benchmarked without editing this file. Filter by name, e.g.
// `seqlab_microbench --benchmark_filter='Zoo/gla'`.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <algorithm>
#include <string>

#include "seqlab/mixers/zoo.h"

namespace {

constexpr int64_t kB = 16, kD = 128;

void run_mixer(benchmark::State& state, const std::string& name, seqlab::core::ScanPath path,
               bool reference, int64_t T) {
  torch::manual_seed(0);
  seqlab::mixers::ZooOptions o;
  o.d_model = kD;
  o.heads = 2;
  o.state_size = 16;
  o.path = path;
  auto probe = seqlab::mixers::make_mixer(name, o);
  if (probe->structure() == seqlab::mixers::Structure::kDiagonal) o.chunk_size = 16;
  auto mixer = seqlab::mixers::make_mixer(name, o);
  auto x = torch::randn({kB, T, kD}).requires_grad_(true);
  for (auto _ : state) {
    mixer->zero_grad();
    auto y = reference ? mixer->reference(x) : mixer->forward(x);
    y.square().mean().backward();
    benchmark::DoNotOptimize(x.grad().data_ptr<float>());
  }
  state.SetItemsProcessed(state.iterations() * kB * T);
}

// Registers Zoo/<mixer>/<path>/<T> for every mixer at program start.
[[maybe_unused]] const bool registered = [] {
  for (const auto& info : seqlab::mixers::mixer_infos()) {
    const bool chunked =
        std::find(info.paths.begin(), info.paths.end(), "chunked") != info.paths.end();
    for (int path = 0; path < 3; ++path) {
      if (path == 1 && !chunked) continue;
      const char* label = path == 0 ? "fused" : path == 1 ? "chunked" : "reference";
      for (int64_t T : {256, 1024, 4096}) {
        if (path == 2 && T > 1024) continue;  // per-step reference: T <= 1024 (memory, time)
        const std::string bench_name = "Zoo/" + info.name + "/" + label + "/" + std::to_string(T);
        const auto scan =
            path == 1 ? seqlab::core::ScanPath::kChunked : seqlab::core::ScanPath::kFused;
        benchmark::RegisterBenchmark(bench_name.c_str(),
                                     [name = info.name, scan, path, T](benchmark::State& s) {
                                       run_mixer(s, name, scan, path == 2, T);
                                     })
            ->Iterations(path == 2 ? 1 : 3)
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
      }
    }
  }
  return true;
}();

}  // namespace
