// seqlab sample TASK --length L --count N --seed S [--query-token] [--n K] [--png BASE]
// (listops_subtrees and pathfinder_seg_* have fixed lengths and print their own rows)
#include <torch/torch.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "seqlab/cli/common.h"
#include "seqlab/config/config.h"
#include "seqlab/report/plot.h"
#include "seqlab/tasks/listops.h"
#include "seqlab/tasks/pathfinder.h"
#include "seqlab/tasks/task.h"
#include "seqlab/train/run_dir.h"
#include "seqlab/util/error.h"
#include "seqlab/util/rng.h"

namespace seqlab::cli {
namespace {

// PathfinderSegmentation examples (spec/tasks.md §2.3): image i of seed S is drawn from rng
// stream i, exactly as in the dataset generated with task.data_seed = S. Each prints one JSON row
// (label, markers, class counts; with --full the pixels and classes) and, with --png BASE, writes
// BASE_<i>.{png,svg}: the grey image with class 1 tinted blue and class 2 (the snake joining the
// markers) tinted red.
void sample_pathfinder(const std::string& name, int64_t count, int64_t seed, const std::string& png,
                       bool full) {
  const int64_t size = std::stoll(name.substr(name.rfind('_') + 1));
  const auto params = tasks::pathfinder::params_for(size);
  const Rng base(static_cast<uint64_t>(seed));
  for (int64_t i = 0; i < count; ++i) {
    Rng rng = base.fork(static_cast<uint64_t>(i));
    const auto img = tasks::pathfinder::generate_image(params, rng);
    int64_t counts[3] = {0, 0, 0};
    for (auto c : img.classes) ++counts[c];
    nlohmann::json row = {
        {"task", name},
        {"image", i},
        {"label", img.label},
        {"markers", {{img.markers[0].y, img.markers[0].x}, {img.markers[1].y, img.markers[1].x}}},
        {"class_pixels", {counts[0], counts[1], counts[2]}},
        {"distractors", img.distractors_drawn}};
    if (full) {
      row["pixels"] = img.pixels;
      row["classes"] = img.classes;
    }
    if (!png.empty()) {
      std::vector<uint8_t> rgb(img.pixels.size() * 3);
      for (size_t p = 0; p < img.pixels.size(); ++p) {
        const double g = img.pixels[p];
        const double tint[3][3] = {{g, g, g}, {0.35 * g, 0.55 * g, 255}, {255, 0.3 * g, 0.2 * g}};
        for (int c = 0; c < 3; ++c)
          rgb[p * 3 + c] = static_cast<uint8_t>(img.classes[p] ? tint[img.classes[p]][c] : g);
      }
      const std::string out = png + "_" + std::to_string(i);
      report::plot_rgb_image(rgb, size, size,
                             name + " seed " + std::to_string(seed) + " image " +
                                 std::to_string(i) + ": " +
                                 (img.label ? "positive (red snake joins the markers)"
                                            : "negative (markers on different snakes)"),
                             out);
      row["png"] = out + ".png";
    }
    std::printf("%s\n", row.dump().c_str());
    std::fflush(stdout);
  }
}

// ListOpsSubTrees examples (spec/tasks.md §2.2): `count` trees drawn from the training split of
// the default dataset (read from or written to data/, as training does), one JSON row each with
// the expression and, per operator node in closing order, its value and height.
void sample_listops(const tasks::Task& task, int64_t count, int64_t seed) {
  const auto& data = dynamic_cast<const tasks::ListOpsTask&>(task).dataset();
  Rng rng(static_cast<uint64_t>(seed));
  for (int64_t b = 0; b < count; ++b) {
    const auto& tree = data.train[rng.uniform_int(static_cast<uint64_t>(data.train.size()))];
    std::vector<int> values, heights;
    for (const auto& node : tree.nodes) {
      values.push_back(node.value);
      heights.push_back(node.height);
    }
    nlohmann::json row;
    row["expression"] = tasks::listops_to_string(tree.tokens);
    row["length"] = tree.tokens.size();
    row["values"] = values;
    row["heights"] = heights;
    std::printf("%s\n", row.dump().c_str());
  }
}

}  // namespace

void add_sample(CLI::App& app) {
  struct Opts {
    std::string task;
    int64_t length = 10, count = 5, seed = 0, n = 0;
    bool query = false, full = false;
    std::string png;
    std::vector<std::string> sets;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand("sample", "Print task examples as JSONL");
  sub->add_option("task", o->task, "Task name (see `seqlab list tasks`)")->required();
  sub->add_option("--length", o->length, "Input length L");
  sub->add_option("--count", o->count, "Number of examples");
  sub->add_option("--seed", o->seed, "Seed");
  sub->add_flag("--query-token", o->query, "Append the query token (tasks.md §1.2)");
  sub->add_option("--n", o->n, "Group size for c2xcn / dn");
  sub->add_option("--png", o->png,
                  "pathfinder_seg_*: write BASE_<i>.png (+ .svg) with the labels overlaid");
  sub->add_flag("--full", o->full, "pathfinder_seg_*: include every pixel and class in the JSON");
  sub->add_option("--set", o->sets,
                  "Set a task key, e.g. --set task.tokens=8 --set task.link=hermite2 (repeatable)");
  sub->callback([o] {
    if (o->length < 1) throw UserError("--length = " + std::to_string(o->length) + " must be >= 1");
    if (o->count < 0) throw UserError("--count = " + std::to_string(o->count) + " must be >= 0");
    if (o->seed < 0) throw UserError("--seed = " + std::to_string(o->seed) + " must be >= 0");
    // The task section of a config: defaults, the flags above, then --set task.KEY=VALUE.
    config::RunConfig cfg;
    cfg.task.name = o->task;
    cfg.task.query_token = o->query;
    cfg.task.n = o->n;
    for (const auto& s : o->sets) {
      if (s.rfind("task.", 0) != 0)
        throw UserError("seqlab sample: --set takes task keys (task.KEY=VALUE), got '" + s + "'");
      config::apply_override(cfg, s);
    }
    const auto task = train::make_run_task(cfg);
    if (tasks::is_pathfinder_task(o->task)) {
      sample_pathfinder(o->task, o->count, o->seed, o->png, o->full);
      return;
    }
    if (!o->png.empty()) throw UserError("--png applies to pathfinder_seg_* tasks only");
    if (o->count == 0) return;
    if (o->task == "listops_subtrees") {
      sample_listops(*task, o->count, o->seed);
      return;
    }
    Rng rng(static_cast<uint64_t>(o->seed));
    const auto batch = task->sample(rng, o->count, o->length);
    if (task->info().kind == tasks::TaskKind::kRegression) {
      // Float features (L_in, F) and targets (l_out, O), one JSON row per sample (§2.1).
      for (int64_t b = 0; b < o->count; ++b) {
        auto to_rows = [](const torch::Tensor& t) {
          auto d = t.to(torch::kFloat64).contiguous();
          std::vector<std::vector<double>> rows(static_cast<size_t>(d.size(0)));
          for (int64_t i = 0; i < d.size(0); ++i)
            rows[i].assign(d[i].data_ptr<double>(), d[i].data_ptr<double>() + d.size(1));
          return rows;
        };
        nlohmann::json row;
        row["input"] = to_rows(batch.inputs[b]);
        row["target"] = to_rows(batch.targets[b]);
        std::printf("%s\n", row.dump().c_str());
      }
      return;
    }
    const auto inputs = batch.inputs.contiguous();
    const auto targets = batch.targets.contiguous();
    const int64_t T = inputs.size(1);
    for (int64_t b = 0; b < o->count; ++b) {
      nlohmann::json row;
      std::vector<int64_t> in(inputs[b].data_ptr<int64_t>(), inputs[b].data_ptr<int64_t>() + T);
      std::vector<int64_t> tg(targets[b].data_ptr<int64_t>(), targets[b].data_ptr<int64_t>() + T);
      row["input"] = in;
      if (task->info().readout == tasks::Readout::kFinal) {
        row["target"] = tg.back();
      } else {
        std::vector<int> mask;
        for (auto t : tg) mask.push_back(t != tasks::kIgnoreIndex);
        row["target"] = tg;
        row["mask"] = mask;
      }
      std::printf("%s\n", row.dump().c_str());
    }
  });
}

}  // namespace seqlab::cli
