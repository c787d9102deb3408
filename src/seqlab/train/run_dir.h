// What a run directory holds and how to reopen it: config.yaml, log.jsonl, checkpoints/,
// train_summary.json, eval.json (design/architecture.md "Run directory").
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "seqlab/config/config.h"
#include "seqlab/model/model.h"
#include "seqlab/tasks/task.h"

namespace seqlab::train {

config::RunConfig load_run_config(const std::string& run_dir);
std::unique_ptr<tasks::Task> make_run_task(const config::RunConfig& cfg);
// The task the test set is drawn from: the run's task without label noise (task.noise = 0: the
// smoothness tasks' excess risk, tasks.md §5.2 item 8), and for qstr with task.test_pattern =
// simple the shared-pointer distribution (the reference code's test set, protocols.md §3.2).
std::unique_ptr<tasks::Task> make_test_task(const config::RunConfig& cfg);

struct LoadedRun {
  config::RunConfig config;
  std::unique_ptr<tasks::Task> task;
  std::shared_ptr<model::SequenceModel> model;
  std::string checkpoint;  // directory the weights came from
  int64_t step = 0;
};

// Rebuilds the model of a finished (or interrupted) run from its newest checkpoint. `overrides`
// ("key=value", as --set) are applied to the saved config before the task and model are built;
// the caller keeps them to keys that leave the weights' shapes alone (eval.*, inference options).
// The resulting config is validated (config::validate) before anything is built.
LoadedRun load_run(const std::string& run_dir, const std::vector<std::string>& overrides = {});

}  // namespace seqlab::train
