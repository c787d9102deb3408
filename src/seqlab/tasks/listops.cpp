// ListOpsSubTrees (spec/tasks.md §2.2). See listops.h.
#include "seqlab/tasks/listops.h"

#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <unordered_set>

#include "seqlab/util/error.h"
#include "seqlab/util/json_io.h"

namespace seqlab::tasks {
namespace {

const char* const kOpNames[4] = {"[MIN", "[MAX", "[MED", "[SM"};

// Appends the sub-tree gen(depth) (§2.2) to `tree` and returns (value, height).
std::pair<int, int> gen(Rng& rng, int64_t depth, int64_t max_depth, int64_t max_args,
                        ListOpsTree& tree) {
  // Below max_depth: an operator with probability 0.25, else a leaf; at max_depth a leaf.
  if (depth >= max_depth || rng.uniform01() >= 0.25) {
    const int digit = static_cast<int>(rng.uniform_int(10));
    tree.tokens.push_back(static_cast<uint8_t>(digit + 1));
    return {digit, 0};
  }
  const int64_t start = static_cast<int64_t>(tree.tokens.size());
  const int op = static_cast<int>(rng.uniform_int(4));
  const int64_t k = rng.uniform_range(2, max_args);
  tree.tokens.push_back(static_cast<uint8_t>(kListOpsFirstOp + op));
  std::vector<int> values;
  int height = 0;
  for (int64_t c = 0; c < k; ++c) {
    const auto [v, h] = gen(rng, depth + 1, max_depth, max_args, tree);
    values.push_back(v);
    height = std::max(height, h);
  }
  tree.tokens.push_back(static_cast<uint8_t>(kListOpsClose));
  ListOpsNode node;
  node.value = apply_list_op(op, values);
  node.close_pos = static_cast<int64_t>(tree.tokens.size()) - 1;
  node.length = node.close_pos - start + 1;
  node.height = height + 1;
  node.op = op;
  tree.nodes.push_back(node);
  return {node.value, node.height};
}

}  // namespace

int apply_list_op(int op, std::vector<int> values) {
  switch (op) {
    case kMin:
      return *std::min_element(values.begin(), values.end());
    case kMax:
      return *std::max_element(values.begin(), values.end());
    case kMed: {  // the usual median, then truncated: MED(3,8,1,6) = ⌊4.5⌋ = 4
      std::sort(values.begin(), values.end());
      const size_t n = values.size();
      return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
    }
    default: {
      int s = 0;
      for (int v : values) s += v;
      return s % 10;
    }
  }
}

ListOpsTree generate_listops_tree(Rng& rng, int64_t max_depth, int64_t max_args) {
  ListOpsTree tree;
  gen(rng, 1, max_depth, max_args, tree);
  return tree;
}

std::string listops_to_string(const std::vector<uint8_t>& tokens) {
  std::string s;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i) s += ' ';
    const int t = tokens[i];
    if (t >= 1 && t <= 10)
      s += static_cast<char>('0' + t - 1);
    else if (t >= kListOpsFirstOp && t < kListOpsClose)
      s += kOpNames[t - kListOpsFirstOp];
    else if (t == kListOpsClose)
      s += ']';
    else
      s += "<pad>";
  }
  return s;
}

std::string listops_template(const std::vector<uint8_t>& tokens) {
  std::string s;
  for (uint8_t t : tokens) {
    if (t >= kListOpsFirstOp && t < kListOpsClose) s += kOpNames[t - kListOpsFirstOp];
    if (t == kListOpsClose) s += ']';
  }
  return s;
}

ListOpsTree parse_listops(const std::string& expression) {
  ListOpsTree tree;
  std::istringstream in(expression);
  std::string word;
  struct Open {
    int op;
    int64_t start;
    std::vector<int> values;
    int height = 0;
  };
  std::vector<Open> stack;
  while (in >> word) {
    const int64_t pos = static_cast<int64_t>(tree.tokens.size());
    if (word.size() == 1 && word[0] >= '0' && word[0] <= '9') {
      tree.tokens.push_back(static_cast<uint8_t>(word[0] - '0' + 1));
      if (!stack.empty()) stack.back().values.push_back(word[0] - '0');
    } else if (word == "]") {
      if (stack.empty()) throw UserError("listops: unbalanced ']' in '" + expression + "'");
      tree.tokens.push_back(static_cast<uint8_t>(kListOpsClose));
      Open o = stack.back();
      stack.pop_back();
      if (o.values.empty()) throw UserError("listops: empty operator in '" + expression + "'");
      ListOpsNode node{apply_list_op(o.op, o.values), pos - o.start + 1, o.height + 1, o.op, pos};
      tree.nodes.push_back(node);
      if (!stack.empty()) {
        stack.back().values.push_back(node.value);
        stack.back().height = std::max(stack.back().height, node.height);
      }
    } else {
      const auto* it = std::find(kOpNames, kOpNames + 4, word);
      if (it == kOpNames + 4)
        throw UserError("listops: unknown token '" + word +
                        "' (valid: digits, [MIN, [MAX, [MED, "
                        "[SM, ])");
      tree.tokens.push_back(static_cast<uint8_t>(kListOpsFirstOp + (it - kOpNames)));
      stack.push_back({static_cast<int>(it - kOpNames), pos, {}, 0});
    }
  }
  if (!stack.empty()) throw UserError("listops: unclosed operator in '" + expression + "'");
  return tree;
}

ListOpsDataset generate_listops_dataset(const ListOpsParams& p) {
  if (p.max_depth < 1 || p.max_args < 2 || p.min_length < 0 || p.max_length <= p.min_length + 1 ||
      p.l_max < p.max_length - 1)
    throw UserError(
        "listops: need max_depth >= 1, max_args >= 2, min_length + 1 < max_length and "
        "l_max >= max_length - 1");
  ListOpsDataset d;
  d.params = p;
  Rng rng(p.seed);
  std::unordered_set<std::string> expressions, templates;
  const int64_t total = p.train + p.val + p.test;
  int64_t made = 0, attempts = 0;
  const int64_t max_attempts = 1000 * (total + 100);
  while (made < total) {
    if (++attempts > max_attempts)
      throw UserError("listops: only " + std::to_string(made) + " of " + std::to_string(total) +
                      " distinct trees in the length window after " + std::to_string(attempts) +
                      " draws; widen the window or lower the counts");
    auto tree = generate_listops_tree(rng, p.max_depth, p.max_args);
    const auto n = static_cast<int64_t>(tree.tokens.size());
    if (!(n > p.min_length && n < p.max_length)) {
      ++d.rejected_length;
      continue;
    }
    std::string expr(tree.tokens.begin(), tree.tokens.end());
    auto tmpl = listops_template(tree.tokens);
    if (expressions.count(expr) || templates.count(tmpl)) {
      ++d.rejected_duplicate;
      continue;
    }
    expressions.insert(std::move(expr));
    templates.insert(std::move(tmpl));
    auto& split = made < p.train ? d.train : made < p.train + p.val ? d.val : d.test;
    split.push_back(std::move(tree));
    ++made;
  }
  return d;
}

Batch listops_batch(const std::vector<ListOpsTree>& trees, int64_t first, int64_t count,
                    int64_t l_max) {
  auto inputs = torch::full({count, l_max}, kListOpsPad, torch::kInt64);
  auto targets = torch::full({count, l_max}, kIgnoreIndex, torch::kInt64);
  auto in = inputs.accessor<int64_t, 2>();
  auto tg = targets.accessor<int64_t, 2>();
  for (int64_t b = 0; b < count; ++b) {
    const auto& tree = trees[first + b];
    for (size_t i = 0; i < tree.tokens.size(); ++i) in[b][i] = tree.tokens[i];
    for (const auto& node : tree.nodes) tg[b][node.close_pos] = node.value;
  }
  return {inputs, targets};
}

void ListOpsScores::add(const std::vector<ListOpsTree>& trees, int64_t first,
                        const torch::Tensor& predictions) {
  auto pred = predictions.to(torch::kInt64).contiguous();
  auto acc = pred.accessor<int64_t, 2>();
  for (int64_t b = 0; b < pred.size(0); ++b)
    for (const auto& node : trees[first + b].nodes) {
      const bool ok = acc[b][node.close_pos] == node.value;
      ++nodes;
      correct += ok;
      ++op_nodes[node.op];
      op_correct[node.op] += ok;
      if (static_cast<int64_t>(height_nodes.size()) <= node.height) {
        height_nodes.resize(node.height + 1, 0);
        height_correct.resize(node.height + 1, 0);
      }
      ++height_nodes[node.height];
      height_correct[node.height] += ok;
    }
}

namespace {

const char* const kSplitNames[3] = {"train", "val", "test"};

// "max_depth=8 max_args=9 ..." : the parameters that fix the dataset (l_max only pads).
std::vector<std::pair<std::string, int64_t>> dataset_keys(const ListOpsParams& p) {
  return {{"max_depth", p.max_depth},
          {"max_args", p.max_args},
          {"min_length", p.min_length},
          {"max_length", p.max_length},
          {"train", p.train},
          {"val", p.val},
          {"test", p.test},
          {"seed", static_cast<int64_t>(p.seed)}};
}

}  // namespace

std::string listops_dataset_path(const std::string& data_dir, const ListOpsParams& p) {
  const auto name = "listops_subtrees_depth" + std::to_string(p.max_depth) + "_args" +
                    std::to_string(p.max_args) + "_len" + std::to_string(p.min_length) + "-" +
                    std::to_string(p.max_length) + "_n" + std::to_string(p.train) + "-" +
                    std::to_string(p.val) + "-" + std::to_string(p.test) + "_seed" +
                    std::to_string(p.seed) + ".tsv";
  return (std::filesystem::path(data_dir) / name).string();
}

void write_listops_dataset(const ListOpsDataset& d, const std::string& path) {
  std::ostringstream out;
  out << "# seqlab listops_subtrees";
  for (const auto& [key, value] : dataset_keys(d.params)) out << ' ' << key << '=' << value;
  out << " rejected_length=" << d.rejected_length << " rejected_duplicate=" << d.rejected_duplicate
      << "\n";
  out << "split\texpression\tvalues\n";
  const std::vector<ListOpsTree>* splits[3] = {&d.train, &d.val, &d.test};
  for (int s = 0; s < 3; ++s)
    for (const auto& tree : *splits[s]) {
      out << kSplitNames[s] << '\t' << listops_to_string(tree.tokens) << '\t';
      for (size_t i = 0; i < tree.nodes.size(); ++i) out << (i ? " " : "") << tree.nodes[i].value;
      out << '\n';
    }
  const std::filesystem::path file(path);
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path());
  write_file_atomic(path, out.str());
}

ListOpsDataset read_listops_dataset(const std::string& path, const ListOpsParams& params) {
  std::ifstream in(path);
  if (!in) throw UserError("cannot read listops dataset " + path);
  auto bad = [&](const std::string& why) {
    return UserError("listops dataset " + path + ": " + why +
                     " (delete the file to regenerate it)");
  };
  std::string line;
  const std::string magic = "# seqlab listops_subtrees";
  if (!std::getline(in, line) || line.rfind(magic, 0) != 0)
    throw bad("not a seqlab listops_subtrees dataset");
  std::map<std::string, int64_t> header;
  std::istringstream words(line.substr(magic.size()));
  std::string word;
  while (words >> word) {
    const auto eq = word.find('=');
    if (eq == std::string::npos) throw bad("bad header entry '" + word + "'");
    try {
      header[word.substr(0, eq)] = std::stoll(word.substr(eq + 1));
    } catch (const std::exception&) {
      throw bad("bad header entry '" + word + "'");
    }
  }
  for (const auto& [key, value] : dataset_keys(params))
    if (!header.count(key) || header[key] != value)
      throw bad("holds " + key + " = " +
                (header.count(key) ? std::to_string(header[key]) : std::string("(missing)")) +
                ", not " + std::to_string(value));
  ListOpsDataset d;
  d.params = params;
  d.rejected_length = header.count("rejected_length") ? header["rejected_length"] : 0;
  d.rejected_duplicate = header.count("rejected_duplicate") ? header["rejected_duplicate"] : 0;
  std::getline(in, line);  // column header
  std::vector<ListOpsTree>* splits[3] = {&d.train, &d.val, &d.test};
  int64_t row = 2;
  while (std::getline(in, line)) {
    ++row;
    if (line.empty()) continue;
    const auto t1 = line.find('\t'), t2 = line.find('\t', t1 == std::string::npos ? 0 : t1 + 1);
    if (t1 == std::string::npos || t2 == std::string::npos)
      throw bad("line " + std::to_string(row) + " does not have 3 tab-separated columns");
    const auto split = line.substr(0, t1);
    const auto* name = std::find(std::begin(kSplitNames), std::end(kSplitNames), split);
    if (name == std::end(kSplitNames))
      throw bad("line " + std::to_string(row) + ": unknown split '" + split +
                "' (valid: train, val, test)");
    ListOpsTree tree;
    try {
      tree = parse_listops(line.substr(t1 + 1, t2 - t1 - 1));
    } catch (const UserError& e) {
      throw bad("line " + std::to_string(row) + ": " + e.what());
    }
    std::istringstream values(line.substr(t2 + 1));
    int value = 0;
    size_t i = 0;
    for (; values >> value; ++i)
      if (i >= tree.nodes.size() || tree.nodes[i].value != value) break;
    if (i != tree.nodes.size() || !values.eof())
      throw bad("line " + std::to_string(row) +
                ": the values column does not match the expression's sub-trees");
    splits[name - std::begin(kSplitNames)]->push_back(std::move(tree));
  }
  const int64_t want[3] = {params.train, params.val, params.test};
  for (int s = 0; s < 3; ++s)
    if (static_cast<int64_t>(splits[s]->size()) != want[s])
      throw bad(std::string(kSplitNames[s]) + " has " + std::to_string(splits[s]->size()) +
                " trees, not " + std::to_string(want[s]));
  return d;
}

ListOpsDataset load_or_generate_listops_dataset(const ListOpsParams& params,
                                                const std::string& data_dir) {
  if (data_dir.empty()) return generate_listops_dataset(params);
  const auto path = listops_dataset_path(data_dir, params);
  if (std::filesystem::exists(path)) return read_listops_dataset(path, params);
  auto d = generate_listops_dataset(params);
  write_listops_dataset(d, path);
  return d;
}

ListOpsTask::ListOpsTask(const TaskOptions& options) : data_dir_(options.data_dir) {
  if (options.query_token) throw UserError("listops_subtrees: task.query_token does not apply");
  auto& p = params_;
  p.max_depth = options.listops_max_depth;
  p.max_args = options.listops_max_args;
  p.min_length = options.listops_min_length;
  p.max_length = options.listops_max_length;
  p.l_max = options.listops_l_max;
  p.train = options.listops_train;
  p.val = options.listops_val;
  p.test = options.listops_test;
  p.seed = options.data_seed;
  info_.name = "listops_subtrees";
  info_.vocab_size = kListOpsVocab;
  info_.num_classes = 10;
  info_.readout = Readout::kPerToken;
  info_.description =
      "value of every sub-tree at its ']' (MIN, MAX, MED, SM; dataset from task.data_seed)";
}

const ListOpsDataset& ListOpsTask::dataset() const {
  if (!data_)
    data_ = std::make_shared<ListOpsDataset>(load_or_generate_listops_dataset(params_, data_dir_));
  return *data_;
}

Batch ListOpsTask::sample(Rng& rng, int64_t batch, int64_t length) const {
  const auto& data = dataset();
  const int64_t l_max = params_.l_max;
  if (length != l_max)
    throw UserError(
        "listops_subtrees: sequences are padded to task.l_max = " + std::to_string(l_max) +
        "; set train.min_length = train.max_length = " + std::to_string(l_max) + " (got " +
        std::to_string(length) + ")");
  std::vector<ListOpsTree> picked;
  for (int64_t b = 0; b < batch; ++b)
    picked.push_back(data.train[rng.uniform_int(static_cast<uint64_t>(data.train.size()))]);
  return listops_batch(picked, 0, batch, l_max);
}

}  // namespace seqlab::tasks
