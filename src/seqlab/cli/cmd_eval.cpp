// seqlab eval RUN [--set eval.k=v | --set model.renorm_state=B]...
#include <cstdio>

#include "seqlab/cli/common.h"
#include "seqlab/eval/run_eval.h"

namespace seqlab::cli {

void add_eval(CLI::App& app) {
  struct Opts {
    std::string run;
    std::vector<std::string> sets;
    int threads = 0;
    bool quiet = false;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand(
      "eval", "Length-generalization evaluation of a run's newest checkpoint -> eval.json + plot");
  sub->add_option("run", o->run, "Run directory")->required();
  sub->add_option("--set", o->sets,
                  "Override an eval key, e.g. --set eval.max_length=1000, or the inference "
                  "option model.renorm_state (SD-SSM)");
  sub->add_option("--threads", o->threads, "Threads (0 = all cores)");
  sub->add_flag("--quiet", o->quiet, "No progress line");
  sub->callback([o] {
    set_threads(o->threads);
    const auto ev = eval::evaluate_run(o->run, o->sets, !o->quiet);
    if (!ev.headline.empty()) {
      std::printf("%s: %s -> %s/eval.json\n", o->run.c_str(), ev.headline.c_str(), o->run.c_str());
      return;
    }
    plot_run(o->run);
    std::printf("%s: ID accuracy %.4f, OOD accuracy %.4f (%zu lengths, %.1f s) -> %s/eval.json\n",
                o->run.c_str(), ev.result.id_accuracy, ev.result.ood_accuracy,
                ev.result.lengths.size(), ev.result.seconds, o->run.c_str());
  });
}

}  // namespace seqlab::cli
