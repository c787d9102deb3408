// ListOpsSubTrees (spec/tasks.md §2.2; DLR's extension of the LRA ListOps generator): prefix
// expressions over MIN, MAX, MED (truncated median), SM (sum mod 10) and digits, with the value
// of every sub-tree as a target at the position of its closing bracket.
//
// Vocabulary (seqlab canonical): 0 <pad>, 1..10 digits 0..9, 11 [MIN, 12 [MAX, 13 [MED, 14 [SM,
// 15 ]. Inputs are right-padded with <pad> to l_max; targets are the value (0..9) at each `]`
// and kIgnoreIndex elsewhere.
//
// The dataset (train, then val, then test trees, in generation order) is drawn from one seeded
// stream with rejection on the length window (strict) and de-duplication of expressions and of
// templates (the expression without digits and spaces), so a seed fixes it exactly.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "seqlab/tasks/task.h"
#include "seqlab/util/rng.h"

namespace seqlab::tasks {

enum ListOp : int { kMin = 0, kMax = 1, kMed = 2, kSm = 3 };
constexpr int64_t kListOpsPad = 0, kListOpsFirstOp = 11, kListOpsClose = 15, kListOpsVocab = 16;

// One operator node (post-order, root last).
struct ListOpsNode {
  int value = 0;          // 0..9
  int64_t length = 0;     // tokens of the sub-tree
  int height = 0;         // 1 + max child height (leaves 0)
  int op = 0;             // ListOp
  int64_t close_pos = 0;  // position of its `]` in the sequence
};

struct ListOpsTree {
  std::vector<uint8_t> tokens;     // canonical ids, unpadded
  std::vector<ListOpsNode> nodes;  // operator nodes, post-order
};

struct ListOpsParams {
  int64_t max_depth = 8;     // the root has depth 1; depth max_depth is always a leaf
  int64_t max_args = 9;      // children k ~ U{2..max_args}
  int64_t min_length = 256;  // keep 256 < length < 512 (strict), spec protocols `cpu/dlr-listops`
  int64_t max_length = 512;
  int64_t l_max = 512;  // padded input length
  int64_t train = 20000, val = 1000, test = 1000;
  uint64_t seed = 0;
};

// op(values) per §2.2: MIN, MAX, MED = ⌊usual median⌋ (mean of the two middle values for an even
// count, then truncated), SM = sum mod 10.
int apply_list_op(int op, std::vector<int> values);
// One tree from gen(1) (§2.2), without the length window.
ListOpsTree generate_listops_tree(Rng& rng, int64_t max_depth, int64_t max_args);
// "[MAX 2 9 [MIN 4 7 ] 0 ]" <-> canonical ids; the annotations are recomputed by parsing.
ListOpsTree parse_listops(const std::string& expression);
std::string listops_to_string(const std::vector<uint8_t>& tokens);
// The template: the expression with digits and spaces deleted, e.g. "[MAX[MIN]]".
std::string listops_template(const std::vector<uint8_t>& tokens);

struct ListOpsDataset {
  ListOpsParams params;
  std::vector<ListOpsTree> train, val, test;
  int64_t rejected_length = 0, rejected_duplicate = 0;  // generation statistics
};
ListOpsDataset generate_listops_dataset(const ListOpsParams& params);

// The dataset file (issue: "written once to a dataset file (train/val/test) with a seed"):
// <data_dir>/listops_subtrees_depth<d>_args<a>_len<min>-<max>_n<train>-<val>-<test>_seed<s>.tsv.
// Text, one tree per line: "split<TAB>expression<TAB>values", the values being the sub-tree
// results in closing-bracket order, after a "# seqlab listops_subtrees key=value ..." line with
// the parameters and generation statistics and a column header. Written atomically (temporary
// file, rename); read checks the parameters and that every value is what its sub-tree evaluates
// to, and throws seqlab::UserError naming the file and the problem otherwise.
std::string listops_dataset_path(const std::string& data_dir, const ListOpsParams& params);
void write_listops_dataset(const ListOpsDataset& data, const std::string& path);
ListOpsDataset read_listops_dataset(const std::string& path, const ListOpsParams& params);
// Read from the file when it exists, else generated and written (data_dir empty: generate only).
ListOpsDataset load_or_generate_listops_dataset(const ListOpsParams& params,
                                                const std::string& data_dir);

// (inputs (B, l_max) int64, targets (B, l_max) int64) of trees [first, first + count) of a split.
Batch listops_batch(const std::vector<ListOpsTree>& trees, int64_t first, int64_t count,
                    int64_t l_max);

// Node accuracy overall, per operator and per height (the paper's two tables, §2.2) from the
// argmax predictions (B, l_max) of a batch of trees.
struct ListOpsScores {
  int64_t nodes = 0, correct = 0;
  int64_t op_nodes[4] = {0, 0, 0, 0}, op_correct[4] = {0, 0, 0, 0};
  std::vector<int64_t> height_nodes, height_correct;  // index = height
  void add(const std::vector<ListOpsTree>& trees, int64_t first, const torch::Tensor& predictions);
};

// The task: batches of `batch` training trees drawn uniformly with the caller's rng; the
// sequence length is always l_max (`length` must equal it).
class ListOpsTask : public Task {
 public:
  explicit ListOpsTask(const TaskOptions& options);
  const TaskInfo& info() const override { return info_; }
  Batch sample(Rng& rng, int64_t batch, int64_t length) const override;
  // Read from task.data_dir or generated (and written there) on first use, so listing tasks
  // stays instant.
  const ListOpsDataset& dataset() const;

 private:
  TaskInfo info_;
  ListOpsParams params_;
  std::string data_dir_;
  mutable std::shared_ptr<ListOpsDataset> data_;
};

}  // namespace seqlab::tasks
