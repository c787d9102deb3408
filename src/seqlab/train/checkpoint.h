// Atomic, versioned, resumable checkpoints: checkpoints/step_<n>/{model.pt, optimizer.pt,
// state.json}. A checkpoint is written under a temporary name and renamed when complete, so a
// crash never leaves a half-written step_<n> behind (style.md "Resumable runs").
#pragma once
#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace torch::nn {
class Module;
}
namespace torch::optim {
class Optimizer;
}

namespace seqlab::train {

constexpr int kCheckpointVersion = 1;

// Writes step_<step>; `state` is the trainer's JSON state (RNG, accumulators, elapsed time).
// Keeps the newest `keep` checkpoints.
void save_checkpoint(const std::string& run_dir, int64_t step, const torch::nn::Module& model,
                     const torch::optim::Optimizer* optimizer, const nlohmann::json& state,
                     int64_t keep);

// Newest complete checkpoint directory, if any.
std::optional<std::string> latest_checkpoint(const std::string& run_dir);

// Loads model weights (and optimizer state if given) from a checkpoint directory and returns its
// state.json. Throws seqlab::UserError naming the file on a missing or corrupted checkpoint.
nlohmann::json load_checkpoint(const std::string& checkpoint_dir, torch::nn::Module& model,
                               torch::optim::Optimizer* optimizer);

}  // namespace seqlab::train
