// Evaluates a run directory and writes eval.json (the format `seqlab report` reads).
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "seqlab/eval/length_generalization.h"

namespace seqlab::eval {

struct RunEvaluation {
  LengthGenResult result;  // classification tasks
  // Regression tasks (spec/tasks.md §2.1: no length extrapolation): MSE and batch R² averaged over
  // fresh validation batches at the training length.
  bool regression = false;
  double r2 = 0, mse = 0;
  // Tasks evaluated on their own protocol (regression; listops_subtrees: node accuracy on the test
  // split, by operator and height, §2.2): a one-line summary; empty for length generalization.
  std::string headline;
  nlohmann::json eval_json;  // what was written to <run_dir>/eval.json
};

// Loads the newest checkpoint of run_dir, applies `eval_overrides` ("eval.key=value") to the
// run's eval section, runs the protocol and writes eval.json atomically. Regression runs are
// evaluated on eval.samples_per_length fresh samples (seed eval.seed) at train.max_length, in
// batches of train.batch_size.
RunEvaluation evaluate_run(const std::string& run_dir,
                           const std::vector<std::string>& eval_overrides, bool show_progress);

}  // namespace seqlab::eval
