// PathfinderSegmentation-{128,256,512} (spec/tasks.md §2.3.5; DLR, arXiv:2212.00768): images from
// the snakes generator (pathfinder_draw.h) flattened row-major into L = size² steps of one float
// feature, (pixel/255 − 0.5)/0.5, with a 3-class label per pixel. A dataset of `images` images is
// generated once per (size, images, data_seed) (image i from its own rng stream, in parallel, so
// it does not depend on the thread count), split 80/10/10 at random with split seed 42, and
// cached as a file under data_dir; later runs read the file.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "seqlab/tasks/pathfinder_draw.h"
#include "seqlab/tasks/task.h"

namespace seqlab::tasks {

bool is_pathfinder_task(const std::string& name);
std::vector<std::string> pathfinder_task_names();

struct PathfinderDataset {
  int64_t size = 0, count = 0;
  uint64_t seed = 0;
  std::vector<uint8_t> pixels, classes;   // count × size², row-major per image
  std::vector<uint8_t> labels;            // 1 = markers connected
  std::vector<int64_t> train, val, test;  // image indices
};

PathfinderDataset generate_pathfinder_dataset(int64_t size, int64_t count, uint64_t seed);
// <data_dir>/pathfinder_seg_<size>_n<count>_seed<seed>.bin
std::string pathfinder_cache_path(const std::string& data_dir, int64_t size, int64_t count,
                                  uint64_t seed);
// Written to a temporary file and renamed; read checks the header against the request. Throws
// seqlab::UserError on I/O failure or a file that is not this dataset.
void write_pathfinder_dataset(const PathfinderDataset& data, const std::string& path);
PathfinderDataset read_pathfinder_dataset(const std::string& path, int64_t size, int64_t count,
                                          uint64_t seed);

// inputs (B, size², 1) float32 in [−1, 1], targets (B, size²) int64 classes, for the images.
Batch pathfinder_batch(const PathfinderDataset& data, const std::vector<int64_t>& images);

// Per-pixel scores of §0.4: macro-F1 (classes in y_true ∪ y_pred, F1 = 0 where undefined) and
// balanced accuracy (mean recall over the classes in y_true) from a confusion matrix.
struct SegmentationScores {
  static constexpr int kClasses = 3;
  int64_t confusion[kClasses][kClasses] = {};  // [true][predicted]
  void add(const torch::Tensor& targets, const torch::Tensor& predictions);
  double macro_f1() const;
  double balanced_accuracy() const;
  double accuracy() const;
};

class PathfinderTask : public Task {
 public:
  explicit PathfinderTask(const TaskOptions& options);
  const TaskInfo& info() const override { return info_; }
  // `batch` training images drawn uniformly with `rng`; `length` must be size².
  Batch sample(Rng& rng, int64_t batch, int64_t length) const override;
  // Loaded from the cache or generated (and cached) on first use.
  const PathfinderDataset& dataset() const;
  int64_t size() const { return size_; }

 private:
  TaskInfo info_;
  int64_t size_ = 128, images_ = 0;
  uint64_t seed_ = 0;
  std::string data_dir_;
  mutable std::shared_ptr<PathfinderDataset> data_;
};

}  // namespace seqlab::tasks
