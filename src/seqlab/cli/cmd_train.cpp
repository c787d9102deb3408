// seqlab train CONFIG [--set k=v]... [--out DIR] [--resume] [--force] [--no-eval]
#include <cstdio>
#include <filesystem>

#include "seqlab/cli/common.h"
#include "seqlab/eval/run_eval.h"
#include "seqlab/train/run_dir.h"
#include "seqlab/train/trainer.h"
#include "seqlab/util/error.h"
#include "seqlab/util/rng.h"

namespace fs = std::filesystem;

namespace seqlab::cli {

void add_train(CLI::App& app) {
  struct Opts {
    std::string config, out;
    std::vector<std::string> sets;
    bool resume = false, force = false, no_eval = false, quiet = false;
    int threads = 0;
  };
  auto o = std::make_shared<Opts>();
  auto* sub =
      app.add_subcommand("train", "Train a model from a YAML config or preset, then evaluate it");
  sub->add_option("config", o->config, "Config file or preset name (see `seqlab list presets`)")
      ->required();
  sub->add_option("--set", o->sets, "Override a config key, e.g. --set train.lr=1e-3 (repeatable)");
  sub->add_option("--out", o->out, "Run directory (default: runs/<config name>)");
  sub->add_flag("--resume", o->resume, "Continue from the newest checkpoint in the run directory");
  sub->add_flag("--force", o->force, "Overwrite an existing run directory");
  sub->add_flag("--no-eval", o->no_eval,
                "Skip the length-generalization evaluation after training");
  sub->add_flag("--quiet", o->quiet, "No progress line");
  sub->add_option("--threads", o->threads, "Threads for LibTorch and BLAS (0 = all cores)");
  sub->callback([o] {
    set_threads(o->threads);
    const auto cfg = load_config(o->config, o->sets);
    const std::string out = o->out.empty() ? "runs/" + cfg.name : o->out;
    const auto stored = fs::path(out) / "config.yaml";
    if (!o->resume && !o->force && fs::exists(stored))
      throw UserError("run directory '" + out +
                      "' already holds a run (use --resume to continue it, --force to overwrite, "
                      "or --out for another directory)");
    if (o->resume && fs::exists(stored) &&
        config::to_yaml(config::load_file(stored.string())) != config::to_yaml(cfg))
      throw UserError("--resume: the config differs from " + stored.string() +
                      "; resuming needs the same config to continue the same trajectory");
    {  // Lengths the task cannot make fail here, before anything is printed or written.
      const auto task = train::make_run_task(cfg);
      Rng probe(0);
      for (int64_t length : {cfg.train.min_length, cfg.train.max_length})
        task->sample(probe, 1, length);
    }
    std::printf("seqlab train: %s -> %s\n%s", cfg.name.c_str(), out.c_str(),
                config::to_yaml(cfg).c_str());
    std::fflush(stdout);
    train::TrainOptions topts;
    topts.resume = o->resume;
    topts.progress = !o->quiet;
    const auto s = train::train(cfg, out, topts);
    std::printf(
        "trained %lld steps%s in %.1f s (%.0f tokens/s, %lld parameters); last loss %.4g, "
        "train %s %.4f\n",
        static_cast<long long>(s.steps), s.early_stopped ? " (early stop)" : "", s.train_seconds,
        s.tokens_per_second, static_cast<long long>(s.parameters), s.final_loss,
        s.regression ? "R²" : "accuracy", s.final_accuracy);
    if (o->no_eval) return;
    const auto ev = eval::evaluate_run(out, {}, !o->quiet);
    if (!ev.headline.empty()) {  // regression and ListOps: their own protocol
      std::printf("eval: %s -> %s/eval.json\n", ev.headline.c_str(), out.c_str());
      return;
    }
    plot_run(out);
    std::printf(
        "eval: ID accuracy %.4f (lengths 1..%lld), OOD accuracy %.4f (lengths %lld..%lld) "
        "in %.1f s -> %s/eval.json\n",
        ev.result.id_accuracy, static_cast<long long>(cfg.eval.id_max_length),
        ev.result.ood_accuracy, static_cast<long long>(cfg.eval.ood_from),
        static_cast<long long>(cfg.eval.max_length), ev.result.seconds, out.c_str());
    const int64_t overflow = ev.eval_json.value("first_overflow_length", int64_t{0});
    if (overflow > 0)
      std::printf(
          "warning: non-finite logits (state overflow) from length %lld on; for sdssm and "
          "sdssm_block, `seqlab eval %s --set model.renorm_state=true` avoids this\n",
          static_cast<long long>(overflow), out.c_str());
  });
}

}  // namespace seqlab::cli
