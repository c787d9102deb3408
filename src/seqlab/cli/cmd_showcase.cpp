// seqlab showcase: the default demo behind `make run`. SD-SSM, the complex-diagonal SSM and an
// LSTM on parity_check (commutative) and d4 (non-commutative), trained on lengths 1..40 and
// evaluated up to 500; a printed table and report.html.
#include <cstdio>
#include <filesystem>

#include "seqlab/cli/common.h"
#include "seqlab/eval/run_eval.h"
#include "seqlab/report/report.h"
#include "seqlab/train/trainer.h"

namespace fs = std::filesystem;

namespace seqlab::cli {

void add_showcase(CLI::App& app) {
  struct Opts {
    std::string out = "showcase";
    int threads = 0;
    bool quiet = false;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand(
      "showcase", "Train SD-SSM, complex diagonal and LSTM on parity_check and d4 -> report.html");
  sub->add_option("--out", o->out, "Output directory (default: showcase)");
  sub->add_option("--threads", o->threads, "Threads (0 = all cores)");
  sub->add_flag("--quiet", o->quiet, "No progress line");
  sub->callback([o] {
    set_threads(o->threads);
    const std::vector<std::string> presets = {
        "showcase/parity_check_sdssm",  "showcase/parity_check_complex_diagonal",
        "showcase/parity_check_lstm",   "showcase/d4_sdssm",
        "showcase/d4_complex_diagonal", "showcase/d4_lstm"};
    std::vector<std::string> runs;
    for (const auto& p : presets) {
      const auto cfg = load_config(p, {});
      const std::string dir = (fs::path(o->out) / cfg.name).string();
      std::printf("[%zu/%zu] %s ...\n", runs.size() + 1, presets.size(), cfg.name.c_str());
      std::fflush(stdout);
      train::TrainOptions topts;
      topts.progress = !o->quiet;
      const auto s = train::train(cfg, dir, topts);
      const auto ev = eval::evaluate_run(dir, {}, !o->quiet);
      plot_run(dir);
      std::printf("      %lld steps, %.0f s train; ID %.3f, OOD %.3f\n",
                  static_cast<long long>(s.steps), s.train_seconds, ev.result.id_accuracy,
                  ev.result.ood_accuracy);
      runs.push_back(dir);
    }
    std::vector<report::RunSummary> rows;
    for (const auto& r : runs) rows.push_back(report::load_run_summary(r));
    std::printf("\n%s\n", report::markdown_table(rows).c_str());
    report::write_report(runs, o->out);
    std::printf("report: %s\n", (fs::path(o->out) / "report.html").c_str());
  });
}

}  // namespace seqlab::cli
