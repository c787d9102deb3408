// PathfinderSegmentation task, dataset cache and scores (pathfinder.h; spec/tasks.md §2.3.5).
#include "seqlab/tasks/pathfinder.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "seqlab/util/error.h"
#include "seqlab/util/json_io.h"

namespace fs = std::filesystem;

namespace seqlab::tasks {
namespace {

constexpr char kMagic[8] = {'S', 'L', 'P', 'F', 'S', 'E', 'G', '1'};
constexpr uint64_t kSplitSeed = 42;

int64_t size_of(const std::string& name) {
  for (int64_t s : {128, 256, 512})
    if (name == "pathfinder_seg_" + std::to_string(s)) return s;
  return 0;
}

}  // namespace

bool is_pathfinder_task(const std::string& name) {
  return size_of(name) > 0;
}

std::vector<std::string> pathfinder_task_names() {
  return {"pathfinder_seg_128", "pathfinder_seg_256", "pathfinder_seg_512"};
}

PathfinderDataset generate_pathfinder_dataset(int64_t size, int64_t count, uint64_t seed) {
  if (count < 10)
    throw UserError("pathfinder: task.images must be >= 10 for an 80/10/10 split, got " +
                    std::to_string(count));
  const auto params = pathfinder::params_for(size);
  PathfinderDataset d;
  d.size = size;
  d.count = count;
  d.seed = seed;
  const int64_t L = size * size;
  d.pixels.resize(count * L);
  d.classes.resize(count * L);
  d.labels.resize(count);
  const Rng base(seed);
  at::parallel_for(0, count, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      Rng rng = base.fork(static_cast<uint64_t>(i));
      const auto img = pathfinder::generate_image(params, rng);
      std::memcpy(d.pixels.data() + i * L, img.pixels.data(), L);
      std::memcpy(d.classes.data() + i * L, img.classes.data(), L);
      d.labels[i] = static_cast<uint8_t>(img.label);
    }
  });
  // 80/10/10 at random (split seed 42): a Fisher–Yates permutation.
  std::vector<int64_t> perm(count);
  for (int64_t i = 0; i < count; ++i) perm[i] = i;
  Rng split(kSplitSeed);
  for (int64_t i = count - 1; i > 0; --i)
    std::swap(perm[i], perm[split.uniform_int(static_cast<uint64_t>(i + 1))]);
  const int64_t n_train = count * 8 / 10, n_val = count / 10;
  d.train.assign(perm.begin(), perm.begin() + n_train);
  d.val.assign(perm.begin() + n_train, perm.begin() + n_train + n_val);
  d.test.assign(perm.begin() + n_train + n_val, perm.end());
  return d;
}

std::string pathfinder_cache_path(const std::string& data_dir, int64_t size, int64_t count,
                                  uint64_t seed) {
  return (fs::path(data_dir) / ("pathfinder_seg_" + std::to_string(size) + "_n" +
                                std::to_string(count) + "_seed" + std::to_string(seed) + ".bin"))
      .string();
}

void write_pathfinder_dataset(const PathfinderDataset& d, const std::string& path) {
  std::string bytes(kMagic, sizeof(kMagic));
  auto put = [&](int64_t v) { bytes.append(reinterpret_cast<const char*>(&v), sizeof(v)); };
  put(d.size);
  put(d.count);
  put(static_cast<int64_t>(d.seed));
  bytes.append(reinterpret_cast<const char*>(d.labels.data()), d.labels.size());
  bytes.append(reinterpret_cast<const char*>(d.pixels.data()), d.pixels.size());
  bytes.append(reinterpret_cast<const char*>(d.classes.data()), d.classes.size());
  for (const auto* split : {&d.train, &d.val, &d.test}) {
    put(static_cast<int64_t>(split->size()));
    bytes.append(reinterpret_cast<const char*>(split->data()), split->size() * sizeof(int64_t));
  }
  if (fs::path(path).has_parent_path()) fs::create_directories(fs::path(path).parent_path());
  write_file_atomic(path, bytes);
}

PathfinderDataset read_pathfinder_dataset(const std::string& path, int64_t size, int64_t count,
                                          uint64_t seed) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError("cannot read pathfinder dataset " + path);
  auto bad = [&](const std::string& why) {
    return UserError("pathfinder dataset " + path + ": " + why +
                     " (delete the file to regenerate it)");
  };
  char magic[sizeof(kMagic)];
  if (!in.read(magic, sizeof(magic)) || std::memcmp(magic, kMagic, sizeof(kMagic)) != 0)
    throw bad("not a seqlab pathfinder dataset");
  auto get = [&] {
    int64_t v = 0;
    if (!in.read(reinterpret_cast<char*>(&v), sizeof(v))) throw bad("truncated");
    return v;
  };
  PathfinderDataset d;
  d.size = get();
  d.count = get();
  d.seed = static_cast<uint64_t>(get());
  if (d.size != size || d.count != count || d.seed != seed)
    throw bad("holds size " + std::to_string(d.size) + ", " + std::to_string(d.count) +
              " images, seed " + std::to_string(d.seed) + ", not what was asked");
  const int64_t L = size * size;
  d.labels.resize(count);
  d.pixels.resize(count * L);
  d.classes.resize(count * L);
  for (auto* v : {&d.labels, &d.pixels, &d.classes})
    if (!in.read(reinterpret_cast<char*>(v->data()), static_cast<std::streamsize>(v->size())))
      throw bad("truncated");
  for (auto* split : {&d.train, &d.val, &d.test}) {
    const int64_t n = get();
    if (n < 0 || n > count) throw bad("corrupt split");
    split->resize(n);
    if (!in.read(reinterpret_cast<char*>(split->data()), n * static_cast<int64_t>(sizeof(int64_t))))
      throw bad("truncated");
  }
  return d;
}

Batch pathfinder_batch(const PathfinderDataset& d, const std::vector<int64_t>& images) {
  const int64_t B = static_cast<int64_t>(images.size()), L = d.size * d.size;
  auto pixels = torch::empty({B, L}, torch::kUInt8), classes = torch::empty({B, L}, torch::kUInt8);
  for (int64_t b = 0; b < B; ++b) {
    std::memcpy(pixels.data_ptr<uint8_t>() + b * L, d.pixels.data() + images[b] * L, L);
    std::memcpy(classes.data_ptr<uint8_t>() + b * L, d.classes.data() + images[b] * L, L);
  }
  // x = (PNG/255 − 0.5)/0.5 (§2.3.5)
  auto x = (pixels.to(torch::kFloat32) / 255.0 - 0.5) / 0.5;
  return {x.unsqueeze(-1), classes.to(torch::kInt64)};
}

void SegmentationScores::add(const torch::Tensor& targets, const torch::Tensor& predictions) {
  const auto t = targets.reshape({-1}).to(torch::kInt64).contiguous();
  const auto p = predictions.reshape({-1}).to(torch::kInt64).contiguous();
  TORCH_CHECK(t.numel() == p.numel(), "SegmentationScores: shapes differ");
  const auto* tp = t.data_ptr<int64_t>();
  const auto* pp = p.data_ptr<int64_t>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    TORCH_CHECK(tp[i] >= 0 && tp[i] < kClasses && pp[i] >= 0 && pp[i] < kClasses,
                "SegmentationScores: class out of range");
    ++confusion[tp[i]][pp[i]];
  }
}

double SegmentationScores::macro_f1() const {
  double sum = 0;
  int present = 0;
  for (int c = 0; c < kClasses; ++c) {
    int64_t tp = confusion[c][c], true_c = 0, pred_c = 0;
    for (int k = 0; k < kClasses; ++k) {
      true_c += confusion[c][k];
      pred_c += confusion[k][c];
    }
    if (true_c == 0 && pred_c == 0) continue;  // class absent from y_true ∪ y_pred
    ++present;
    if (tp > 0) sum += 2.0 * tp / static_cast<double>(true_c + pred_c);  // = 2PR/(P+R)
  }
  return present ? sum / present : 0.0;
}

double SegmentationScores::balanced_accuracy() const {
  double sum = 0;
  int present = 0;
  for (int c = 0; c < kClasses; ++c) {
    int64_t true_c = 0;
    for (int k = 0; k < kClasses; ++k) true_c += confusion[c][k];
    if (true_c == 0) continue;
    ++present;
    sum += static_cast<double>(confusion[c][c]) / static_cast<double>(true_c);
  }
  return present ? sum / present : 0.0;
}

double SegmentationScores::accuracy() const {
  int64_t right = 0, all = 0;
  for (int c = 0; c < kClasses; ++c)
    for (int k = 0; k < kClasses; ++k) {
      all += confusion[c][k];
      right += c == k ? confusion[c][k] : 0;
    }
  return all ? static_cast<double>(right) / static_cast<double>(all) : 0.0;
}

PathfinderTask::PathfinderTask(const TaskOptions& options)
    : size_(size_of(options.name)),
      images_(options.images),
      seed_(options.data_seed),
      data_dir_(options.data_dir) {
  if (size_ == 0)
    throw UserError("unknown pathfinder task '" + options.name +
                    "' (valid: " + join_names(pathfinder_task_names()) + ")");
  if (options.query_token) throw UserError(options.name + ": task.query_token does not apply");
  if (images_ < 10)
    throw UserError(options.name + ": task.images must be >= 10 (80/10/10 split), got " +
                    std::to_string(images_));
  info_.name = options.name;
  info_.num_classes = 3;
  info_.readout = Readout::kPerToken;
  info_.input_features = 1;
  info_.class_weighted_loss = true;
  info_.description = "label every pixel of a " + std::to_string(size_) + "x" +
                      std::to_string(size_) +
                      " snakes image: background, long snake, snake joining the markers";
}

const PathfinderDataset& PathfinderTask::dataset() const {
  if (data_) return *data_;
  const std::string path = pathfinder_cache_path(data_dir_, size_, images_, seed_);
  if (fs::exists(path)) {
    data_ =
        std::make_shared<PathfinderDataset>(read_pathfinder_dataset(path, size_, images_, seed_));
  } else {
    data_ = std::make_shared<PathfinderDataset>(generate_pathfinder_dataset(size_, images_, seed_));
    write_pathfinder_dataset(*data_, path);
  }
  return *data_;
}

Batch PathfinderTask::sample(Rng& rng, int64_t batch, int64_t length) const {
  if (length != size_ * size_)
    throw UserError(info_.name + ": every sequence is one flattened image of L = " +
                    std::to_string(size_ * size_) + " pixels; set train.min_length = " +
                    "train.max_length = " + std::to_string(size_ * size_) + " (got " +
                    std::to_string(length) + ")");
  const auto& d = dataset();
  std::vector<int64_t> picked;
  for (int64_t b = 0; b < batch; ++b)
    picked.push_back(d.train[rng.uniform_int(static_cast<uint64_t>(d.train.size()))]);
  return pathfinder_batch(d, picked);
}

}  // namespace seqlab::tasks
