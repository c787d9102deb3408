// Evaluates a run directory and writes eval.json (the format `seqlab report` reads).
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "seqlab/eval/length_generalization.h"

namespace seqlab::eval {

struct RunEvaluation {
  LengthGenResult result;
  nlohmann::json eval_json;  // what was written to <run_dir>/eval.json
};

// Loads the newest checkpoint of run_dir, applies `eval_overrides` ("eval.key=value") to the
// run's eval section, runs the protocol and writes eval.json atomically.
RunEvaluation evaluate_run(const std::string& run_dir,
                           const std::vector<std::string>& eval_overrides, bool show_progress);

}  // namespace seqlab::eval
