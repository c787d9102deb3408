// seqlab export RUN --format safetensors [--out FILE]
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>

#include "seqlab/cli/common.h"
#include "seqlab/train/run_dir.h"
#include "seqlab/util/error.h"
#include "seqlab/util/safetensors.h"

namespace fs = std::filesystem;

namespace seqlab::cli {

void add_export(CLI::App& app) {
  struct Opts {
    std::string run, format = "safetensors", out;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand(
      "export", "Write a run's weights with PyTorch-style names (docs/export/<model>.md)");
  sub->add_option("run", o->run, "Run directory")->required();
  sub->add_option("--format", o->format, "Output format (safetensors)");
  sub->add_option("--out", o->out, "Output file (default: RUN/model.safetensors)");
  sub->callback([o] {
    if (o->format != "safetensors")
      throw UserError("--format '" + o->format + "' is not supported (valid: safetensors)");
    auto run = train::load_run(o->run);
    std::vector<std::pair<std::string, torch::Tensor>> tensors;
    for (const auto& p : run.model->named_parameters()) tensors.emplace_back(p.key(), p.value());
    for (const auto& b : run.model->named_buffers()) tensors.emplace_back(b.key(), b.value());
    std::map<std::string, std::string> meta = {{"format", "pt"},
                                               {"seqlab.task", run.config.task.name},
                                               {"seqlab.model", run.config.model.name},
                                               {"seqlab.step", std::to_string(run.step)},
                                               {"seqlab.config", config::to_yaml(run.config)}};
    const std::string out =
        o->out.empty() ? (fs::path(o->run) / "model.safetensors").string() : o->out;
    save_safetensors(out, tensors, meta);
    std::printf("exported %zu tensors (step %lld) -> %s\n", tensors.size(),
                static_cast<long long>(run.step), out.c_str());
  });
}

}  // namespace seqlab::cli
