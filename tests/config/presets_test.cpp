// Every shipped preset under configs/ parses and validates, and every protocol grid under
// configs/protocols/ parses and yields cells whose configs validate: a typo in a preset fails
// here, not an hour into an experiment.
#include <gtest/gtest.h>

#include <filesystem>

#include "seqlab/config/config.h"
#include "seqlab/eval/protocol_grid.h"
#include "seqlab/eval/sweep.h"
#include "seqlab/util/json_io.h"

namespace fs = std::filesystem;

namespace presets_test {

const fs::path kConfigs = fs::path(SEQLAB_SOURCE_DIR) / "configs";

TEST(Presets, EveryRunPresetLoadsAndValidates) {
  int count = 0;
  for (const auto& e : fs::recursive_directory_iterator(kConfigs)) {
    if (!e.is_regular_file() || e.path().extension() != ".yaml") continue;
    const auto top = *fs::relative(e.path(), kConfigs).begin();
    if (top == "protocols" || top == "sweeps") continue;
    EXPECT_NO_THROW(seqlab::config::validate(seqlab::config::load_file(e.path().string())))
        << e.path();
    ++count;
  }
  EXPECT_GT(count, 40);
}

// The config of one protocol or sweep cell: its preset with the cell's overrides, validated.
seqlab::config::RunConfig cell_config(const std::string& preset_name,
                                      const std::vector<std::string>& sets,
                                      const std::string& cell) {
  const auto preset = kConfigs / (preset_name + ".yaml");
  EXPECT_TRUE(fs::exists(preset)) << cell << ": " << preset;
  seqlab::config::RunConfig cfg;
  EXPECT_NO_THROW({
    cfg = seqlab::config::load_file(preset.string());
    for (const auto& s : sets) seqlab::config::apply_override(cfg, s);
    seqlab::config::validate(cfg);
  }) << cell;
  return cfg;
}

TEST(Presets, EveryProtocolCellLoadsAndValidates) {
  int cells = 0;
  for (const auto& e : fs::directory_iterator(kConfigs / "protocols")) {
    const auto grid = seqlab::eval::parse_protocol_grid(seqlab::read_text_file(e.path().string()),
                                                        e.path().string());
    for (const auto& cell : seqlab::eval::grid_cells(grid)) {
      EXPECT_EQ(cell_config(cell.preset, cell.sets, cell.name).task.name, cell.task);
      ++cells;
    }
  }
  EXPECT_GE(cells, 55);
}

TEST(Presets, EverySweepCellLoadsAndValidates) {
  int cells = 0;
  for (const auto& e : fs::directory_iterator(kConfigs / "sweeps")) {
    const auto sweep =
        seqlab::eval::parse_sweep(seqlab::read_text_file(e.path().string()), e.path().string());
    for (const auto& cell : seqlab::eval::sweep_cells(sweep)) {
      cell_config(cell.preset, cell.sets, cell.name);
      ++cells;
    }
  }
  EXPECT_GE(cells, 1);
}

}  // namespace presets_test
