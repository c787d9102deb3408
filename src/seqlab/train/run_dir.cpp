#include "seqlab/train/run_dir.h"

#include <filesystem>

#include "seqlab/model/registry.h"
#include "seqlab/train/checkpoint.h"
#include "seqlab/util/error.h"

namespace fs = std::filesystem;

namespace seqlab::train {

config::RunConfig load_run_config(const std::string& run_dir) {
  if (!fs::is_directory(run_dir)) throw UserError("run directory '" + run_dir + "' does not exist");
  const auto path = (fs::path(run_dir) / "config.yaml").string();
  if (!fs::exists(path))
    throw UserError("'" + run_dir + "' is not a seqlab run directory (no config.yaml)");
  auto cfg = config::load_file(path);
  config::validate(cfg);
  return cfg;
}

namespace {

tasks::TaskOptions task_options(const config::RunConfig& cfg) {
  tasks::TaskOptions opts;
  opts.name = cfg.task.name;
  opts.query_token = cfg.task.query_token;
  opts.n = cfg.task.n;
  opts.shifts = cfg.task.shifts;
  opts.positional_features = cfg.task.positional_features;
  opts.selected = cfg.task.selected;
  opts.mips_dim = cfg.task.mips_dim;
  opts.listops_max_depth = cfg.task.max_depth;
  opts.listops_max_args = cfg.task.max_args;
  opts.listops_min_length = cfg.task.min_tree_length;
  opts.listops_max_length = cfg.task.max_tree_length;
  opts.listops_l_max = cfg.task.l_max;
  opts.listops_train = cfg.task.train_trees;
  opts.listops_val = cfg.task.val_trees;
  opts.listops_test = cfg.task.test_trees;
  opts.data_seed = static_cast<uint64_t>(cfg.task.data_seed);
  opts.images = cfg.task.images;
  opts.data_dir = cfg.task.data_dir;
  opts.tokens = cfg.task.tokens;
  opts.q = cfg.task.q;
  opts.dim = cfg.task.dim;
  opts.link = cfg.task.link;
  opts.set_encoding = cfg.task.set_encoding;
  opts.pos_scale = cfg.task.pos_scale;
  opts.window = cfg.task.window;
  opts.a0 = cfg.task.a0;
  opts.smooth_class = cfg.task.smooth_class;
  opts.max_order = cfg.task.max_order;
  opts.t_max = cfg.task.t_max;
  opts.eta = cfg.task.eta;
  opts.noise = cfg.task.noise;
  opts.margin = cfg.task.margin;
  opts.select_window = cfg.task.select_window;
  opts.smooth_readout = cfg.task.smooth_readout;
  opts.key_in_g = cfg.task.key_in_g;
  opts.target_seed = static_cast<uint64_t>(cfg.task.target_seed);
  return opts;
}

}  // namespace

std::unique_ptr<tasks::Task> make_run_task(const config::RunConfig& cfg) {
  return tasks::make_task(task_options(cfg));
}

std::unique_ptr<tasks::Task> make_test_task(const config::RunConfig& cfg) {
  auto opts = task_options(cfg);
  opts.noise = 0.0;
  if (cfg.task.test_pattern == "simple") {
    if (opts.name != "qstr")
      throw UserError("task.test_pattern = simple applies to qstr only (task.name is '" +
                      opts.name + "')");
    opts.name = "qstr_simple";  // same codebook and link directions, one shared pointer tuple
  }
  return tasks::make_task(opts);
}

LoadedRun load_run(const std::string& run_dir, const std::vector<std::string>& overrides) {
  LoadedRun run;
  run.config = load_run_config(run_dir);
  for (const auto& o : overrides) config::apply_override(run.config, o);
  config::validate(run.config);  // the saved config as overridden: callers rely on it
  run.task = make_run_task(run.config);
  const auto& info = run.task->info();
  run.model = model::make_model(run.config.model, info.vocab_size, info.num_classes,
                                info.input_features, run.config.train.max_length);
  const auto ckpt = latest_checkpoint(run_dir);
  if (!ckpt) throw UserError("run '" + run_dir + "' has no checkpoint: train it first");
  const auto state = load_checkpoint(*ckpt, *run.model, nullptr);
  run.checkpoint = *ckpt;
  run.step = state.value("step", int64_t{0});
  return run;
}

}  // namespace seqlab::train
