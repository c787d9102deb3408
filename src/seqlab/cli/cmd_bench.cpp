// seqlab bench: end-to-end training throughput (tokens/s) of the regular-language recipe, with
// the FLOP/s it implies next to the machine's measured SGEMM rate.
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "seqlab/cli/common.h"
#include "seqlab/model/registry.h"
#include "seqlab/tasks/task.h"
#include "seqlab/train/trainer.h"
#include "seqlab/util/error.h"
#include "seqlab/util/json_io.h"
#include "seqlab/util/rng.h"

namespace seqlab::cli {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Best-of-3 SGEMM rate at n = 1024: the practical dense-FLOP peak of this machine and thread count.
double measure_sgemm_gflops() {
  torch::NoGradGuard no_grad;
  const int64_t n = 1024;
  auto a = torch::randn({n, n});
  auto b = torch::randn({n, n});
  auto c = torch::mm(a, b);
  double best = 1e30;
  for (int r = 0; r < 3; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 5; ++i) c = torch::mm(a, b);
    best = std::min(best, seconds_since(t0) / 5);
  }
  return 2.0 * n * n * n / best / 1e9;
}

// Multiply-adds per token of the recurrence, forward + backward (spec/mixers.md §3.2.6, §3.3.6):
// forward x = A x (N^2), backward adjoint A^T dx (N^2) and dA += dx x^T (N^2).
double recurrence_flops_per_token(const config::ModelConfig& m) {
  if (m.name == "sdssm") return 2.0 * 3.0 * static_cast<double>(m.state_size * m.state_size);
  return 0.0;
}

}  // namespace

void add_bench(CLI::App& app) {
  struct Opts {
    std::string model = "sdssm", task = "parity_check", json;
    int64_t batch = 128, steps = 200, warmup = 20, min_length = 1, max_length = 40;
    int64_t state_size = 64, dict_size = 8;
    bool query = true;
    int threads = 0;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand(
      "bench", "Training throughput (tokens/s) of a model on a regular-language task");
  sub->add_option("--model", o->model, "Model family (sdssm, complex_diagonal, lstm, transformer)");
  sub->add_option("--task", o->task, "Task");
  sub->add_option("--batch", o->batch, "Batch size");
  sub->add_option("--steps", o->steps, "Timed steps");
  sub->add_option("--warmup", o->warmup, "Untimed warm-up steps");
  sub->add_option("--min-length", o->min_length, "Shortest length");
  sub->add_option("--max-length", o->max_length, "Longest length (uniform curriculum)");
  sub->add_option("--state-size", o->state_size, "N (sdssm, complex_diagonal)");
  sub->add_option("--dict-size", o->dict_size, "K (sdssm)");
  sub->add_option("--query-token", o->query, "Append the query token (default true)");
  sub->add_option("--json", o->json, "Also write the result as JSON to this file");
  sub->add_option("--threads", o->threads, "Threads (0 = all cores)");
  sub->callback([o] {
    set_threads(o->threads);
    if (o->steps < 1 || o->batch < 1 || o->min_length < 1 || o->max_length < o->min_length)
      throw UserError("bench: need --steps >= 1, --batch >= 1, 1 <= --min-length <= --max-length");
    config::RunConfig cfg;
    cfg.task.name = o->task;
    cfg.task.query_token = o->query;
    cfg.model.name = o->model;
    cfg.model.state_size = o->state_size;
    cfg.model.dict_size = o->dict_size;
    if (o->model == "lstm") cfg.model.hidden_size = 256;
    config::validate(cfg);
    tasks::TaskOptions topts;
    topts.name = cfg.task.name;
    topts.query_token = cfg.task.query_token;
    const auto task = tasks::make_task(topts);
    torch::manual_seed(0);
    auto model = model::make_model(cfg.model, task->info().vocab_size, task->info().num_classes);
    model->train();
    auto optimizer = train::make_optimizer(cfg.train, *model);
    Rng rng(0);
    int64_t tokens = 0;
    std::chrono::steady_clock::time_point t0;
    for (int64_t s = 0; s < o->warmup + o->steps; ++s) {
      if (s == o->warmup) {
        tokens = 0;
        t0 = std::chrono::steady_clock::now();
      }
      const auto batch =
          task->sample(rng, o->batch, rng.uniform_range(o->min_length, o->max_length));
      train::train_step(*model, *optimizer, batch, 1.0);
      tokens += batch.inputs.numel();
    }
    const double secs = seconds_since(t0);
    const double tps = static_cast<double>(tokens) / secs;
    const double rec_gflops = recurrence_flops_per_token(cfg.model) * tps / 1e9;
    const double peak = measure_sgemm_gflops();
    std::printf("bench %s on %s: batch %lld, lengths U{%lld..%lld}%s, %lld threads\n",
                o->model.c_str(), o->task.c_str(), static_cast<long long>(o->batch),
                static_cast<long long>(o->min_length), static_cast<long long>(o->max_length),
                o->query ? " + query token" : "", static_cast<long long>(at::get_num_threads()));
    std::printf("  training throughput: %.0f tokens/s (%.2f ms/step over %lld steps)\n", tps,
                1e3 * secs / static_cast<double>(o->steps), static_cast<long long>(o->steps));
    if (rec_gflops > 0)
      std::printf("  recurrence FLOP/s: %.2f GFLOP/s (%.0f FLOP/token fwd+bwd)\n", rec_gflops,
                  recurrence_flops_per_token(cfg.model));
    std::printf("  machine SGEMM (1024^3, same threads): %.1f GFLOP/s\n", peak);
    if (!o->json.empty()) {
      nlohmann::json js = {{"model", o->model},
                           {"task", o->task},
                           {"batch", o->batch},
                           {"min_length", o->min_length},
                           {"max_length", o->max_length},
                           {"query_token", o->query},
                           {"threads", at::get_num_threads()},
                           {"steps", o->steps},
                           {"tokens_per_s", tps},
                           {"recurrence_gflops", rec_gflops},
                           {"sgemm_gflops", peak},
                           {"state_size", o->state_size},
                           {"dict_size", o->dict_size}};
      write_file_atomic(o->json, js.dump(2) + "\n");
    }
  });
}

}  // namespace seqlab::cli
