// seqlab list [tasks|models|mixers|presets|protocols|sweeps|keys]
#include <algorithm>
#include <cstdio>

#include "seqlab/cli/common.h"
#include "seqlab/config/config.h"
#include "seqlab/mixers/zoo.h"
#include "seqlab/model/registry.h"
#include "seqlab/tasks/task.h"
#include "seqlab/util/error.h"

namespace seqlab::cli {

void add_list(CLI::App& app) {
  auto what = std::make_shared<std::string>("all");
  auto* sub = app.add_subcommand("list", "List tasks, models, mixers, presets and config keys");
  sub->add_option("what", *what,
                  "tasks | models | mixers | presets | protocols | sweeps | keys | all");
  sub->callback([what] {
    const std::vector<std::string> kinds = {"tasks",     "models", "mixers", "presets",
                                            "protocols", "sweeps", "keys",   "all"};
    if (std::find(kinds.begin(), kinds.end(), *what) == kinds.end())
      throw UserError("cannot list '" + *what + "' (valid: " + join_names(kinds) + ")");
    const bool all = *what == "all";
    if (all || *what == "tasks") {
      std::printf("tasks:\n");
      for (const auto& name : tasks::task_names()) {
        tasks::TaskOptions opts;
        opts.name = name;
        opts.n = (name == "c2xcn" || name == "dn") ? 4 : 0;
        const auto task = tasks::make_task(opts);
        std::printf("  %-20s %s\n", name.c_str(), task->info().description.c_str());
      }
    }
    if (all || *what == "models") {
      std::printf("models:\n");
      const auto infos = model::model_infos();
      int width = 0;
      for (const auto& m : infos) width = std::max(width, static_cast<int>(m.name.size()));
      for (const auto& m : infos)
        std::printf("  %-*s [%s] %s\n", width, m.name.c_str(), m.structure.c_str(),
                    m.description.c_str());
    }
    if (all || *what == "mixers") {
      // Each zoo mixer with its A_t structure class (spec/mixers.md §3.1), the floats of its
      // recurrent state and the paths it has (§6.1).
      std::printf("mixers:\n");
      const auto infos = mixers::mixer_infos();
      int width = 0;  // the longest name sets the column
      for (const auto& m : infos) width = std::max(width, static_cast<int>(m.name.size()));
      for (const auto& m : infos) {
        std::printf("  %-*s %s\n", width, m.name.c_str(), m.description.c_str());
        std::printf("  %-*s   structure: %s\n", width, "", mixers::structure_name(m.structure));
        std::printf("  %-*s   state:     %s\n", width, "", m.state_formula.c_str());
        std::printf("  %-*s   paths:     %s\n", width, "", join_names(m.paths).c_str());
      }
    }
    if (all || *what == "presets") {
      std::printf("presets (%s):\n", configs_dir().c_str());
      for (const auto& p : preset_names()) std::printf("  %s\n", p.c_str());
    }
    if (all || *what == "protocols") {
      std::printf("protocols (seqlab protocol NAME; %s/protocols):\n", configs_dir().c_str());
      for (const auto& p : protocol_names()) std::printf("  %s\n", p.c_str());
    }
    if (all || *what == "sweeps") {
      std::printf("sweeps (seqlab sweep NAME; %s/sweeps):\n", configs_dir().c_str());
      for (const auto& p : sweep_names()) std::printf("  %s\n", p.c_str());
    }
    if (all || *what == "keys") {
      std::printf("config keys:\n");
      for (const auto& k : config::describe_keys()) std::printf("  %s\n", k.c_str());
    }
  });
}

}  // namespace seqlab::cli
