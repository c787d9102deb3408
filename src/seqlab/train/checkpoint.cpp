#include "seqlab/train/checkpoint.h"

#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>

#include "seqlab/util/error.h"
#include "seqlab/util/json_io.h"

namespace fs = std::filesystem;

namespace seqlab::train {
namespace {

std::vector<std::pair<int64_t, fs::path>> list_checkpoints(const std::string& run_dir) {
  std::vector<std::pair<int64_t, fs::path>> out;
  const fs::path dir = fs::path(run_dir) / "checkpoints";
  if (!fs::is_directory(dir)) return out;
  static const std::regex pattern("step_([0-9]+)");
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::smatch m;
    const std::string name = entry.path().filename().string();
    if (entry.is_directory() && std::regex_match(name, m, pattern))
      out.emplace_back(std::stoll(m[1].str()), entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

void save_checkpoint(const std::string& run_dir, int64_t step, const torch::nn::Module& model,
                     const torch::optim::Optimizer* optimizer, const nlohmann::json& state,
                     int64_t keep) {
  const fs::path dir = fs::path(run_dir) / "checkpoints";
  fs::create_directories(dir);
  const fs::path final_dir = dir / ("step_" + std::to_string(step));
  const fs::path tmp = dir / (".tmp_step_" + std::to_string(step) + "_" + std::to_string(getpid()));
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  {
    torch::serialize::OutputArchive archive;
    model.save(archive);
    archive.save_to((tmp / "model.pt").string());
  }
  if (optimizer) {
    torch::serialize::OutputArchive archive;
    optimizer->save(archive);
    archive.save_to((tmp / "optimizer.pt").string());
  }
  nlohmann::json meta = state;
  meta["format"] = "seqlab-checkpoint";
  meta["version"] = kCheckpointVersion;
  meta["step"] = step;
  write_file_atomic((tmp / "state.json").string(), meta.dump(2) + "\n");
  fs::remove_all(final_dir);
  fs::rename(tmp, final_dir);
  auto all = list_checkpoints(run_dir);
  for (size_t i = 0; i + static_cast<size_t>(std::max<int64_t>(1, keep)) < all.size(); ++i)
    fs::remove_all(all[i].second);
}

std::optional<std::string> latest_checkpoint(const std::string& run_dir) {
  auto all = list_checkpoints(run_dir);
  for (auto it = all.rbegin(); it != all.rend(); ++it)
    if (fs::exists(it->second / "state.json") && fs::exists(it->second / "model.pt"))
      return it->second.string();
  return std::nullopt;
}

nlohmann::json load_checkpoint(const std::string& checkpoint_dir, torch::nn::Module& model,
                               torch::optim::Optimizer* optimizer) {
  const fs::path dir(checkpoint_dir);
  if (!fs::is_directory(dir)) throw UserError("checkpoint '" + checkpoint_dir + "' does not exist");
  nlohmann::json state = read_json_file((dir / "state.json").string());
  if (state.value("format", "") != "seqlab-checkpoint")
    throw UserError("checkpoint '" + checkpoint_dir + "': state.json is not a seqlab checkpoint");
  if (state.value("version", -1) != kCheckpointVersion)
    throw UserError("checkpoint '" + checkpoint_dir + "' has version " +
                    std::to_string(state.value("version", -1)) + "; this seqlab reads version " +
                    std::to_string(kCheckpointVersion));
  // Loads one archive into `load`; a LibTorch error becomes a one-line UserError naming the file.
  auto load_archive = [](const std::string& file, const std::string& problem, auto&& load) {
    try {
      torch::serialize::InputArchive archive;
      archive.load_from(file);
      load(archive);
    } catch (const c10::Error& e) {
      std::string msg = e.what_without_backtrace();
      throw UserError("checkpoint file '" + file + "' " + problem + ": " +
                      msg.substr(0, msg.find('\n')));
    }
  };
  load_archive((dir / "model.pt").string(), "is corrupted or does not match the model",
               [&](torch::serialize::InputArchive& a) { model.load(a); });
  if (optimizer)
    load_archive((dir / "optimizer.pt").string(), "is corrupted",
                 [&](torch::serialize::InputArchive& a) { optimizer->load(a); });
  return state;
}

}  // namespace seqlab::train
