// Shared pieces of the subcommands: thread setup, preset lookup, one-line summaries.
#pragma once
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "seqlab/config/config.h"

namespace seqlab::cli {

// Sets LibTorch intra-op threads and OpenBLAS threads to `threads` (0 = number of cores).
void set_threads(int threads);
int default_threads();

// The configs/ folder: $SEQLAB_CONFIGS, else the source tree's configs/.
std::string configs_dir();
// A path to a YAML file, or a preset name like "regular/parity_check_sdssm".
std::string resolve_config(const std::string& name_or_path);
std::vector<std::string> preset_names();
// Protocol grids in configs/protocols/ (`seqlab protocol NAME`).
std::vector<std::string> protocol_names();
// Sweeps in configs/sweeps/ (`seqlab sweep NAME`).
std::vector<std::string> sweep_names();
// Loads a preset/file, applies --set overrides and validates.
config::RunConfig load_config(const std::string& name_or_path,
                              const std::vector<std::string>& sets);

// Plots accuracy vs length for the run (writes <run_dir>/accuracy_vs_length.{svg,png}).
void plot_run(const std::string& run_dir);

// Subcommand registration; each adds itself to `app`.
void add_train(CLI::App& app);
void add_eval(CLI::App& app);
void add_report(CLI::App& app);
void add_sample(CLI::App& app);
void add_export(CLI::App& app);
void add_list(CLI::App& app);
void add_bench(CLI::App& app);
void add_showcase(CLI::App& app);
void add_inspect(CLI::App& app);
void add_scaling(CLI::App& app);
void add_protocol(CLI::App& app);
void add_sweep(CLI::App& app);

}  // namespace seqlab::cli
