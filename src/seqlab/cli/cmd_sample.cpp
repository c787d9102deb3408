// seqlab sample TASK --length L --count N --seed S [--query-token] [--n K]
#include <torch/torch.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "seqlab/cli/common.h"
#include "seqlab/tasks/task.h"
#include "seqlab/util/error.h"
#include "seqlab/util/rng.h"

namespace seqlab::cli {

void add_sample(CLI::App& app) {
  struct Opts {
    std::string task;
    int64_t length = 10, count = 5, seed = 0, n = 0;
    bool query = false;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand("sample", "Print task examples as JSONL");
  sub->add_option("task", o->task, "Task name (see `seqlab list tasks`)")->required();
  sub->add_option("--length", o->length, "Input length L");
  sub->add_option("--count", o->count, "Number of examples");
  sub->add_option("--seed", o->seed, "Seed");
  sub->add_flag("--query-token", o->query, "Append the query token (tasks.md §1.2)");
  sub->add_option("--n", o->n, "Group size for c2xcn / dn");
  sub->callback([o] {
    if (o->length < 1) throw UserError("--length = " + std::to_string(o->length) + " must be >= 1");
    if (o->count < 0) throw UserError("--count = " + std::to_string(o->count) + " must be >= 0");
    if (o->seed < 0) throw UserError("--seed = " + std::to_string(o->seed) + " must be >= 0");
    tasks::TaskOptions opts;
    opts.name = o->task;
    opts.query_token = o->query;
    opts.n = o->n;
    const auto task = tasks::make_task(opts);
    if (o->count == 0) return;
    Rng rng(static_cast<uint64_t>(o->seed));
    const auto batch = task->sample(rng, o->count, o->length);
    if (task->info().kind == tasks::TaskKind::kRegression) {
      // Float features (L_in, F) and targets (l_out, O), one JSON row per sample (§2.1).
      for (int64_t b = 0; b < o->count; ++b) {
        auto to_rows = [](const torch::Tensor& t) {
          auto d = t.to(torch::kFloat64).contiguous();
          std::vector<std::vector<double>> rows(static_cast<size_t>(d.size(0)));
          for (int64_t i = 0; i < d.size(0); ++i)
            rows[i].assign(d[i].data_ptr<double>(), d[i].data_ptr<double>() + d.size(1));
          return rows;
        };
        nlohmann::json row;
        row["input"] = to_rows(batch.inputs[b]);
        row["target"] = to_rows(batch.targets[b]);
        std::printf("%s\n", row.dump().c_str());
      }
      return;
    }
    const auto inputs = batch.inputs.contiguous();
    const auto targets = batch.targets.contiguous();
    const int64_t T = inputs.size(1);
    for (int64_t b = 0; b < o->count; ++b) {
      nlohmann::json row;
      std::vector<int64_t> in(inputs[b].data_ptr<int64_t>(), inputs[b].data_ptr<int64_t>() + T);
      std::vector<int64_t> tg(targets[b].data_ptr<int64_t>(), targets[b].data_ptr<int64_t>() + T);
      row["input"] = in;
      if (task->info().readout == tasks::Readout::kFinal) {
        row["target"] = tg.back();
      } else {
        std::vector<int> mask;
        for (auto t : tg) mask.push_back(t != tasks::kIgnoreIndex);
        row["target"] = tg;
        row["mask"] = mask;
      }
      std::printf("%s\n", row.dump().c_str());
    }
  });
}

}  // namespace seqlab::cli
