// ListOpsSubTrees (tasks/listops.h; spec/tasks.md §2.2): the two golden trees, the operators, and
// invariants of generated data: every target is the value of the sub-tree closing there, as an
// independent evaluator computes it from the tokens; lengths in the strict window; no duplicate
// expressions or templates; one seed, one dataset.
#include "seqlab/tasks/listops.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "seqlab/util/error.h"

namespace seqlab::tasks {
namespace listops_test {

TEST(ListOpsGolden, TreeOne) {  // §6 row 45
  const auto t = parse_listops("[MAX 2 9 [MIN 4 7 ] 0 ]");
  EXPECT_EQ(std::vector<int>(t.tokens.begin(), t.tokens.end()),
            (std::vector<int>{12, 3, 10, 11, 5, 8, 15, 1, 15}));
  ASSERT_EQ(t.nodes.size(), 2u);
  EXPECT_EQ(t.nodes[0].close_pos, 6);
  EXPECT_EQ(t.nodes[0].value, 4);
  EXPECT_EQ(t.nodes[0].height, 1);
  EXPECT_EQ(t.nodes[0].length, 4);
  EXPECT_EQ(t.nodes[1].close_pos, 8);
  EXPECT_EQ(t.nodes[1].value, 9);
  EXPECT_EQ(t.nodes[1].height, 2);
  EXPECT_EQ(t.nodes[1].length, 9);
  EXPECT_EQ(listops_template(t.tokens), "[MAX[MIN]]");
  EXPECT_EQ(listops_to_string(t.tokens), "[MAX 2 9 [MIN 4 7 ] 0 ]");
  const auto b = listops_batch({t}, 0, 1, 12);
  for (int64_t i = 0; i < 12; ++i) {
    const int64_t want = i == 6 ? 4 : i == 8 ? 9 : kIgnoreIndex;
    EXPECT_EQ(b.targets[0][i].item<int64_t>(), want) << i;
  }
  EXPECT_EQ(b.inputs[0][11].item<int64_t>(), kListOpsPad);
}

TEST(ListOpsGolden, TreeTwoAndOperators) {  // §6 row 46
  const auto t = parse_listops("[SM 5 [MED 3 8 1 6 ] [MAX 2 2 ] 9 ]");
  ASSERT_EQ(t.nodes.size(), 3u);
  const std::vector<int64_t> pos = {7, 11, 13}, len = {6, 4, 14};
  const std::vector<int> val = {4, 2, 0}, height = {1, 1, 2};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(t.nodes[i].close_pos, pos[i]);
    EXPECT_EQ(t.nodes[i].value, val[i]);
    EXPECT_EQ(t.nodes[i].height, height[i]);
    EXPECT_EQ(t.nodes[i].length, len[i]);
  }
  EXPECT_EQ(apply_list_op(kMed, {3, 8, 1, 6}), 4);  // ⌊4.5⌋
  EXPECT_EQ(apply_list_op(kMed, {9, 0, 4}), 4);
  EXPECT_EQ(apply_list_op(kSm, {5, 4, 2, 9}), 0);
  EXPECT_EQ(apply_list_op(kMin, {5, 4, 2, 9}), 2);
  EXPECT_EQ(apply_list_op(kMax, {5, 4, 2, 9}), 9);
  EXPECT_THROW(parse_listops("[MAX 2 ]]"), UserError);
  EXPECT_THROW(parse_listops("[AVG 2 3 ]"), UserError);
}

// An evaluator written independently of the generator: recursive descent over the tokens.
int evaluate_at(const std::vector<uint8_t>& tok, size_t& i,
                std::vector<std::pair<int64_t, int>>& out) {
  const int t = tok[i++];
  if (t >= 1 && t <= 10) return t - 1;
  std::vector<int> vals;
  while (tok[i] != kListOpsClose) vals.push_back(evaluate_at(tok, i, out));
  std::sort(vals.begin(), vals.end());
  int v = 0;
  if (t == 11) v = vals.front();
  if (t == 12) v = vals.back();
  if (t == 13) {
    const size_t n = vals.size();
    v = n % 2 ? vals[n / 2] : (vals[n / 2 - 1] + vals[n / 2]) / 2;
  }
  if (t == 14) {
    for (int x : vals) v += x;
    v %= 10;
  }
  out.push_back({static_cast<int64_t>(i), v});
  ++i;  // the ']'
  return v;
}

TEST(ListOpsDataset, TargetsEqualEvaluatedSubTreesAndTheWindowAndUniquenessHold) {
  ListOpsParams p;
  p.min_length = 40;
  p.max_length = 120;
  p.l_max = 128;
  p.max_depth = 6;
  p.train = 60;
  p.val = 5;
  p.test = 5;
  p.seed = 3;
  const auto d = generate_listops_dataset(p);
  ASSERT_EQ(d.train.size(), 60u);
  ASSERT_EQ(d.test.size(), 5u);
  std::set<std::string> expr, tmpl;
  int64_t nodes = 0;
  for (const auto* split : {&d.train, &d.val, &d.test})
    for (const auto& t : *split) {
      const auto n = static_cast<int64_t>(t.tokens.size());
      EXPECT_GT(n, p.min_length);
      EXPECT_LT(n, p.max_length);
      EXPECT_TRUE(expr.insert(listops_to_string(t.tokens)).second);
      EXPECT_TRUE(tmpl.insert(listops_template(t.tokens)).second);
      std::vector<std::pair<int64_t, int>> closes;
      size_t i = 0;
      evaluate_at(t.tokens, i, closes);
      EXPECT_EQ(i, t.tokens.size());
      ASSERT_EQ(closes.size(), t.nodes.size());
      for (size_t k = 0; k < closes.size(); ++k) {
        EXPECT_EQ(t.nodes[k].close_pos, closes[k].first);
        EXPECT_EQ(t.nodes[k].value, closes[k].second);
      }
      // Parsing the string back gives the same annotations (heights, lengths).
      const auto back = parse_listops(listops_to_string(t.tokens));
      ASSERT_EQ(back.nodes.size(), t.nodes.size());
      for (size_t k = 0; k < t.nodes.size(); ++k) {
        EXPECT_EQ(back.nodes[k].height, t.nodes[k].height);
        EXPECT_EQ(back.nodes[k].length, t.nodes[k].length);
      }
      nodes += static_cast<int64_t>(t.nodes.size());
    }
  EXPECT_GT(nodes, 100);
  // Same seed, same dataset; another seed, another one.
  const auto again = generate_listops_dataset(p);
  EXPECT_EQ(again.test.back().tokens, d.test.back().tokens);
  p.seed = 4;
  EXPECT_NE(generate_listops_dataset(p).train.front().tokens, d.train.front().tokens);
}

TEST(ListOpsTask, BatchesAndScores) {
  TaskOptions o;
  o.name = "listops_subtrees";
  o.listops_min_length = 20;
  o.listops_max_length = 60;
  o.listops_l_max = 64;
  o.listops_max_depth = 5;
  o.listops_train = 30;
  o.listops_val = 2;
  o.listops_test = 4;
  o.data_dir = "";  // generate only; the file is tested below
  ListOpsTask task(o);
  Rng rng(1);
  const auto b = task.sample(rng, 3, 64);
  EXPECT_EQ(b.inputs.sizes(), (std::vector<int64_t>{3, 64}));
  EXPECT_THROW(task.sample(rng, 3, 50), UserError);  // sequences are l_max long
  // Scoring the targets themselves is perfect; shifting every value by one is all wrong.
  const auto& test = task.dataset().test;
  const auto tb = listops_batch(test, 0, 4, 64);
  ListOpsScores perfect, wrong;
  perfect.add(test, 0, tb.targets.clamp_min(0));
  wrong.add(test, 0, (tb.targets.clamp_min(0) + 1) % 10);
  EXPECT_EQ(perfect.correct, perfect.nodes);
  EXPECT_EQ(wrong.correct, 0);
  int64_t by_op = 0, by_height = 0;
  for (int k = 0; k < 4; ++k) by_op += perfect.op_nodes[k];
  for (auto n : perfect.height_nodes) by_height += n;
  EXPECT_EQ(by_op, perfect.nodes);
  EXPECT_EQ(by_height, perfect.nodes);
}

// The dataset file: written once, read back tree for tree; the task reads it instead of
// generating; a file for other parameters or with a wrong value is refused by name.
TEST(ListOpsDataset, FileRoundTripsAndIsChecked) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("seqlab_listops_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  ListOpsParams p;
  p.min_length = 20;
  p.max_length = 60;
  p.l_max = 64;
  p.max_depth = 5;
  p.train = 20;
  p.val = 3;
  p.test = 4;
  p.seed = 9;
  const auto d = load_or_generate_listops_dataset(p, dir.string());
  const auto path = listops_dataset_path(dir.string(), p);
  ASSERT_TRUE(fs::exists(path));
  EXPECT_EQ(fs::path(path).filename().string(),
            "listops_subtrees_depth5_args9_len20-60_n20-3-4_seed9.tsv");
  const auto back = read_listops_dataset(path, p);
  ASSERT_EQ(back.train.size(), d.train.size());
  ASSERT_EQ(back.test.size(), d.test.size());
  for (size_t i = 0; i < d.train.size(); ++i) {
    EXPECT_EQ(back.train[i].tokens, d.train[i].tokens);
    ASSERT_EQ(back.train[i].nodes.size(), d.train[i].nodes.size());
    for (size_t k = 0; k < d.train[i].nodes.size(); ++k) {
      EXPECT_EQ(back.train[i].nodes[k].value, d.train[i].nodes[k].value);
      EXPECT_EQ(back.train[i].nodes[k].close_pos, d.train[i].nodes[k].close_pos);
    }
  }
  EXPECT_EQ(back.rejected_length, d.rejected_length);
  // The task reads the file: replace the first training tree by another valid one.
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  in.close();
  std::string body = text.str();
  const auto first_row = body.find("\ntrain\t") + 1;
  const auto row_end = body.find('\n', first_row);
  const std::string edited =
      body.substr(0, first_row) + "train\t[MAX 2 9 [MIN 4 7 ] 0 ]\t4 9" + body.substr(row_end);
  std::ofstream(path) << edited;
  TaskOptions o;
  o.name = "listops_subtrees";
  o.listops_min_length = p.min_length;
  o.listops_max_length = p.max_length;
  o.listops_l_max = p.l_max;
  o.listops_max_depth = p.max_depth;
  o.listops_train = p.train;
  o.listops_val = p.val;
  o.listops_test = p.test;
  o.data_seed = p.seed;
  o.data_dir = dir.string();
  ListOpsTask task(o);
  EXPECT_EQ(listops_to_string(task.dataset().train.front().tokens), "[MAX 2 9 [MIN 4 7 ] 0 ]");
  // A wrong value, a wrong split name, other parameters: refused.
  std::ofstream(path) << body.substr(0, first_row) + "train\t[MAX 2 9 [MIN 4 7 ] 0 ]\t4 8" +
                             body.substr(row_end);
  EXPECT_THROW(read_listops_dataset(path, p), UserError);
  std::ofstream(path) << body.substr(0, first_row) + "dev\t[MAX 2 9 [MIN 4 7 ] 0 ]\t4 9" +
                             body.substr(row_end);
  EXPECT_THROW(read_listops_dataset(path, p), UserError);
  std::ofstream(path) << body;
  auto other = p;
  other.seed = 10;
  EXPECT_THROW(read_listops_dataset(path, other), UserError);
  fs::remove_all(dir);
}

}  // namespace listops_test
}  // namespace seqlab::tasks
