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

// One batch; every sequence in a batch has the same length T (no padding).
// Classification: inputs (B, T) int64 token ids; targets (B, T) int64 class ids with kIgnoreIndex
// at unscored positions.
// Regression (spec/tasks.md §2.1): inputs (B, T, F) float32 features; targets (B, l_out, O)
// float32, compared with the model's last l_out outputs.
struct Batch {
  torch::Tensor inputs;
  torch::Tensor targets;
};

enum class Readout { kFinal, kPerToken };
enum class TaskKind { kClassification, kRegression };

struct TaskInfo {
  std::string name;
  int64_t vocab_size = 0;   // input ids are in [0, vocab_size), query token included
  int64_t num_classes = 0;  // targets are in [0, num_classes)
  Readout readout = Readout::kFinal;
  bool commutative = false;  // whether the label depends only on the multiset of symbols
  TaskKind kind = TaskKind::kClassification;
  int64_t input_features = 0;  // regression: F (the model encodes with Linear(F, d))
  int64_t output_dim = 0;      // regression: O (= num_classes, the readout width)
  // Per-batch inverse-frequency class weights in the cross-entropy (§0.4; DLR Pathfinder).
  bool class_weighted_loss = false;
  std::string description;
};

// Options a task is built from (the `task:` section of a config).
struct TaskOptions {
  std::string name;
  bool query_token = false;  // append one query symbol (id = alphabet size), read there (§1.2)
  int64_t n = 0;             // group size for c2xcn / dn (0 = the task's default)
  int64_t shifts = 8;        // shift: number of shifts H (§2.1)
  int64_t selected = 32;     // masked_select(_fixed): selected values M
  int64_t mips_dim = 4;      // mips: vector dimension D
  bool positional_features = true;  // DLR atomic tasks: cos/sin(2πl/L_in) as the last 2 features
  // listops_subtrees (§2.2; defaults: protocols `cpu/dlr-listops`)
  int64_t listops_max_depth = 8, listops_max_args = 9;
  int64_t listops_min_length = 256, listops_max_length = 512, listops_l_max = 512;
  int64_t listops_train = 20000, listops_val = 1000, listops_test = 1000;
  uint64_t data_seed = 0;  // seed of a task's fixed dataset
  // pathfinder_seg_* (§2.3): images generated (split 80/10/10) and the folder of the cache file
  int64_t images = 2000;
  std::string data_dir = "data";
  // qstr, qstr_simple, qsa (§4): prompt length N, pointers q, content dimension d, link, pointer
  // encoding (qsa: concat | sum) and the theory's √(d/q) scaling of the position part.
  int64_t tokens = 8, q = 1, dim = 10;
  std::string link = "linear", set_encoding = "concat";
  bool pos_scale = false;
  // smooth_aniso, smooth_mixed, smooth_dynamic (§5): the sequence length is the length asked for;
  // d = `dim`. Coordinates: (feature k, lag l < window) for the fixed variant, (content feature
  // k, rank r < window) for the dynamic one, with smoothness a = a0 · 2^(lag or rank) · (1 + k).
  int64_t window = 3;                 // U (fixed variant) or R (dynamic variant)
  double a0 = 1.0;                    // smoothness of the first coordinate
  std::string smooth_class = "task";  // task (= the task name's) | aniso | mixed
  int64_t max_order = 3;              // K: active coordinates per term
  double t_max = 8.0;                 // T_max: truncation level of γ
  double eta = 0.0;                   // η: extra coefficient decay
  double noise = 0.3;   // σ of the label noise (0 = noise-free targets, the test set)
  double margin = 0.0;  // δ: dynamic variant, gap between sorted importances (final readout)
  int64_t select_window = 16;            // W: dynamic variant in `seq` readout
  std::string smooth_readout = "final";  // final | seq
  bool key_in_g = false;                 // dynamic variant: feature 0 is also an argument of g
  uint64_t target_seed = 0;              // seed_f: draws the target function
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
