// Task registry: make_task / task_names (task.h) over every task family (spec/tasks.md §0.5).
#include <memory>
#include <string>
#include <vector>

#include "seqlab/tasks/dlr_atomic.h"
#include "seqlab/tasks/listops.h"
#include "seqlab/tasks/pathfinder.h"
#include "seqlab/tasks/qstr.h"
#include "seqlab/tasks/regular.h"
#include "seqlab/tasks/smooth.h"
#include "seqlab/tasks/task.h"
#include "seqlab/util/error.h"

namespace seqlab::tasks {

std::vector<std::string> task_names() {
  auto names = regular_task_names();
  for (const auto& n : dlr_atomic_task_names()) names.push_back(n);
  names.push_back("listops_subtrees");
  for (const auto& n : pathfinder_task_names()) names.push_back(n);
  for (const auto& n : qstr_task_names()) names.push_back(n);
  for (const auto& n : smooth_task_names()) names.push_back(n);
  return names;
}

std::unique_ptr<Task> make_task(const TaskOptions& options) {
  if (is_regular_task(options.name)) return std::make_unique<RegularTask>(options);
  if (is_dlr_atomic_task(options.name)) return std::make_unique<DlrAtomicTask>(options);
  if (options.name == "listops_subtrees") return std::make_unique<ListOpsTask>(options);
  if (is_pathfinder_task(options.name)) return std::make_unique<PathfinderTask>(options);
  if (is_qstr_task(options.name)) return std::make_unique<QstrTask>(options);
  if (is_smooth_task(options.name)) return std::make_unique<SmoothTask>(options);
  throw UserError("unknown task '" + options.name + "' (valid: " + join_names(task_names()) + ")");
}

}  // namespace seqlab::tasks
