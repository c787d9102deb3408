// Task interface (spec/tasks.md §0.2): exact, seedable generators of (inputs, targets) batches.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "seqlab/util/rng.h"

namespace seqlab::tasks {

constexpr int64_t kIgnoreIndex = -100;

// One batch. inputs: (B, T) int64 token ids. targets: (B, T) int64 class ids with kIgnoreIndex at
// unscored positions. Every sequence in a batch has the same length T (no padding).
struct Batch {
  torch::Tensor inputs;
  torch::Tensor targets;
};

enum class Readout { kFinal, kPerToken };

struct TaskInfo {
  std::string name;
  int64_t vocab_size = 0;   // input ids are in [0, vocab_size), query token included
  int64_t num_classes = 0;  // targets are in [0, num_classes)
  Readout readout = Readout::kFinal;
  bool commutative = false;  // whether the label depends only on the multiset of symbols
  std::string description;
};

// Options a task is built from (the `task:` section of a config).
struct TaskOptions {
  std::string name;
  bool query_token = false;  // append one query symbol (id = alphabet size), read there (§1.2)
  int64_t n = 0;             // group size for c2xcn / dn (0 = the task's default)
};

class Task {
 public:
  virtual ~Task() = default;
  virtual const TaskInfo& info() const = 0;
  // A batch of `batch` sequences of `length` input symbols (+1 query step when enabled). Uses only
  // `rng`, so the same rng state gives the same batch at any thread count.
  virtual Batch sample(Rng& rng, int64_t batch, int64_t length) const = 0;
};

// Builds a task by name; throws seqlab::UserError naming the valid tasks on an unknown name.
std::unique_ptr<Task> make_task(const TaskOptions& options);

// Names accepted by make_task, for `seqlab list` and error messages.
std::vector<std::string> task_names();

}  // namespace seqlab::tasks
