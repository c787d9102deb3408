// seqlab inspect TARGET [--input "ids"] [--length L] [--seed S] [--out DIR] [--max-maps N]
//
// Coefficient maps and stability diagnostics of every layer of a zoo model (spec/mixers.md §1.3,
// §4.2); for attention_mlp, |W_Qᵀ W_K| per head and its block structure on qstr (QSTR Fig. 2).
// TARGET is a run directory (its newest checkpoint is loaded) or a preset / YAML file (a freshly
// initialized model, seeded by train.seed). Mixers with a normalizer η (softmax, linear, normalized
// attention, mLSTM, RetNet) also report its minima and the DSF eigenvalue η_{i−1}/η_i ("normalizer"
// in the JSON; "!" after min eta flags min η < 1e-6). Writes <out>/inspect.json,
// <out>/maps/layer<l>_<system><s>.{svg,png} heatmaps and prints one table row per layer.
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "seqlab/cli/common.h"
#include "seqlab/core/diagnostics.h"
#include "seqlab/mixers/softmax_attention.h"
#include "seqlab/model/baseline_models.h"
#include "seqlab/model/registry.h"
#include "seqlab/model/zoo_model.h"
#include "seqlab/report/plot.h"
#include "seqlab/tasks/qstr.h"
#include "seqlab/train/run_dir.h"
#include "seqlab/util/error.h"
#include "seqlab/util/json_io.h"
#include "seqlab/util/rng.h"

namespace seqlab::cli {

namespace {

namespace fs = std::filesystem;

// attention_mlp (QSTR Fig. 2, protocols.md §3.6): |W_Qᵀ W_K| per head as a heatmap, and on the
// qstr tasks the share of its mass in the block (query's ω_t slot) x (key's ω_j slot) and the
// share of that block's mass on its diagonal (1/d_e for a structureless block).
void inspect_qk_products(model::SequenceModel& net, const config::RunConfig& cfg,
                         const std::string& source, const std::string& out) {
  fs::create_directories(fs::path(out) / "maps");
  const auto products = model::attention_qk_products(net);
  nlohmann::json doc;
  doc["model"] = cfg.model.name;
  doc["source"] = source;
  const bool qstr = tasks::is_qstr_task(cfg.task.name);
  const int64_t d = cfg.task.dim, d_e = qstr ? tasks::qstr_embedding_dim(cfg.task.tokens) : 0;
  std::printf("attention_mlp, %s: |W_Q^T W_K| per head\n", source.c_str());
  for (size_t h = 0; h < products.size(); ++h) {
    const auto m = products[h].abs().to(torch::kFloat64).contiguous();
    const int64_t F = m.size(0);
    std::vector<std::vector<double>> rows(static_cast<size_t>(F));
    for (int64_t i = 0; i < F; ++i) {
      const auto r = m[i];
      rows[i].assign(r.data_ptr<double>(), r.data_ptr<double>() + F);
    }
    const std::string base = (fs::path(out) / "maps" / ("wqk_head" + std::to_string(h))).string();
    report::plot_heatmap(rows, "|W_Q^T W_K|, head " + std::to_string(h), base, "key feature",
                         "query feature");
    nlohmann::json hj = {{"head", h}, {"map", base + ".svg"}};
    if (qstr && d + 2 * d_e <= F) {
      const auto block = m.narrow(0, d + d_e, d_e).narrow(1, d, d_e);
      const double total = m.sum().item<double>(), in_block = block.sum().item<double>();
      const double diagonal = block.diagonal().sum().item<double>();
      hj["block_share"] = in_block / total;
      hj["block_size_share"] = double(d_e * d_e) / double(F * F);
      hj["diagonal_share_of_block"] = diagonal / in_block;
      hj["diagonal_share_chance"] = 1.0 / double(d_e);
      std::printf(
          "  head %zu: block (query ω_t x key ω_j) holds %.1f%% of the mass (%.1f%% of the "
          "entries); its diagonal %.1f%% of the block (chance %.1f%%)\n",
          h, 100 * in_block / total, 100.0 * double(d_e * d_e) / double(F * F),
          100 * diagonal / in_block, 100.0 / double(d_e));
    }
    doc["heads"].push_back(hj);
  }
  write_file_atomic((fs::path(out) / "inspect.json").string(), doc.dump(2) + "\n");
  std::printf("-> %s/inspect.json, %s/maps/wqk_head*.{svg,png}\n", out.c_str(), out.c_str());
}

nlohmann::json summary_json(const core::Summary& s) {
  return {{"min", s.min}, {"median", s.median}, {"max", s.max}};
}

nlohmann::json diagnostics_json(const core::Diagnostics& d) {
  return {{"kind", d.kind},
          {"steps", d.steps},
          {"spectral_radius", summary_json(d.spectral_radius)},
          {"norm2", summary_json(d.norm2)},
          {"memory_horizon", summary_json(d.memory_horizon)},
          {"infinite_horizon_fraction", d.infinite_horizon_fraction},
          {"expansive_steps", d.expansive_steps},
          {"nonnormal_transient_steps", d.nonnormal_transient_steps},
          {"saturated_high_fraction", d.saturated_high_fraction},
          {"saturated_low_fraction", d.saturated_low_fraction}};
}

nlohmann::json coefficient_json(const core::CoefficientStats& s) {
  return {{"rows", s.rows},
          {"mass", summary_json(s.mass)},
          {"variance_gain", summary_json(s.variance_gain)},
          {"effective_sources", summary_json(s.effective_sources)},
          {"variance_gain_flags", s.variance_gain_flags}};
}

// §4.2 "normalizer minima" and "DSF eigenvalue" (bins keyed by their interval of Λ).
nlohmann::json normalizer_json(const core::NormalizerStats& s) {
  // Bins in order, as {"range", "count"}: (−∞, 0.5], (0.5, 0.9], ..., (1.01, ∞).
  nlohmann::json bins = nlohmann::json::array();
  const auto t = core::NormalizerStats::thresholds();
  for (size_t k = 0; k < s.eigen_bins.size(); ++k) {
    const std::string lo = k == 0 ? "-inf" : nlohmann::json(t[k - 1]).dump();
    const std::string hi = k < t.size() ? nlohmann::json(t[k]).dump() + "]" : "inf)";
    bins.push_back({{"range", "(" + lo + ", " + hi}, {"count", s.eigen_bins[k]}});
  }
  nlohmann::json j = {{"rows", s.rows},
                      {"eta", summary_json(s.eta)},
                      {"small_fraction", s.small_fraction},
                      {"tiny_flag", s.tiny},
                      {"dsf_eigenvalue", summary_json(s.dsf_eigenvalue)},
                      {"dsf_eigenvalue_steps", s.eigen_steps},
                      {"dsf_eigenvalue_bins", bins},
                      {"dsf_eigenvalue_above_one", s.eigen_above_one}};
  if (s.has_clamp) j["clamp_active_fraction"] = s.clamp_active_fraction;
  return j;
}

// "0 1 1,0" -> {0, 1, 1, 0}; throws UserError on anything that is not an id in [0, vocab).
std::vector<int64_t> parse_tokens(const std::string& text, int64_t vocab) {
  std::string s = text;
  for (char& c : s)
    if (c == ',') c = ' ';
  std::istringstream in(s);
  std::vector<int64_t> ids;
  std::string word;
  while (in >> word) {
    size_t used = 0;
    int64_t id = -1;
    try {
      id = std::stoll(word, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != word.size() || id < 0 || id >= vocab)
      throw UserError("--input: '" + word + "' is not a token id in [0, " + std::to_string(vocab) +
                      ")");
    ids.push_back(id);
  }
  if (ids.empty()) throw UserError("--input: no token ids given");
  return ids;
}

std::string system_label(mixers::Structure s) {
  const bool channels = s == mixers::Structure::kDiagonal;  // may be heads (GLA) or channels
  return channels ? "system" : "head";
}

}  // namespace

void add_inspect(CLI::App& app) {
  struct Opts {
    std::string target, input, out;
    int64_t length = 16, seed = 0, max_maps = 4;
    std::vector<std::string> sets;
    int threads = 0;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand(
      "inspect", "Coefficient maps and stability diagnostics of a zoo model, per layer");
  sub->add_option("target", o->target, "Run directory, or a preset / YAML (fresh model)")
      ->required();
  sub->add_option("--input", o->input, "Token ids, e.g. \"0 1 1 0\" (default: a task sample)");
  sub->add_option("--length", o->length, "Length of the task sample when --input is not given");
  sub->add_option("--seed", o->seed, "Seed of the task sample");
  sub->add_option("--out", o->out, "Output folder (default: RUN/inspect or inspect-<model>)");
  sub->add_option("--max-maps", o->max_maps, "Heatmaps per layer (first heads / channels)");
  sub->add_option("--set", o->sets, "Config override for a preset target");
  sub->add_option("--threads", o->threads, "Threads (0 = all cores)");
  sub->callback([o] {
    set_threads(o->threads);
    if (o->length < 1) throw UserError("--length must be >= 1");
    if (o->max_maps < 0) throw UserError("--max-maps must be >= 0");
    const bool is_run =
        fs::is_directory(o->target) && fs::exists(fs::path(o->target) / "config.yaml");
    std::shared_ptr<model::SequenceModel> net;
    config::RunConfig cfg;
    std::unique_ptr<tasks::Task> task;
    std::string source;
    if (is_run) {
      auto run = train::load_run(o->target);
      cfg = run.config;
      task = std::move(run.task);
      net = run.model;
      source = "checkpoint " + run.checkpoint + " (step " + std::to_string(run.step) + ")";
    } else {
      cfg = load_config(o->target, o->sets);
      task = train::make_run_task(cfg);
      torch::manual_seed(static_cast<uint64_t>(cfg.train.seed));
      net = model::make_model(cfg.model, task->info().vocab_size, task->info().num_classes,
                              task->info().input_features, cfg.train.max_length);
      source = "fresh initialization (seed " + std::to_string(cfg.train.seed) + ")";
    }
    net->eval();
    if (cfg.model.name == "attention_mlp") {
      const std::string out = !o->out.empty() ? o->out
                                              : (is_run ? (fs::path(o->target) / "inspect").string()
                                                        : "inspect-" + cfg.model.name);
      inspect_qk_products(*net, cfg, source, out);
      return;
    }
    torch::Tensor tokens;  // token ids (B, T), or float features (B, T, F) on regression tasks
    const int64_t features = task->info().input_features;
    if (!o->input.empty() && features > 0)
      throw UserError("inspect: --input takes token ids, but task '" + cfg.task.name + "' has " +
                      std::to_string(features) +
                      " float features per position; leave --input out to inspect a sample "
                      "drawn with --length and --seed");
    if (!o->input.empty()) {
      auto ids = parse_tokens(o->input, task->info().vocab_size);
      tokens = torch::tensor(ids, torch::kInt64).unsqueeze(0);
    } else {
      Rng rng(static_cast<uint64_t>(o->seed));
      tokens = task->sample(rng, 1, o->length).inputs;
    }
    torch::NoGradGuard no_grad;
    const auto traces = model::trace_mixers(*net, tokens);
    if (traces.empty())
      throw UserError("inspect: model '" + cfg.model.name +
                      "' is not a zoo model; inspect supports the mixers of `seqlab list mixers`");
    const std::string out = !o->out.empty() ? o->out
                                            : (is_run ? (fs::path(o->target) / "inspect").string()
                                                      : "inspect-" + cfg.model.name);
    fs::create_directories(fs::path(out) / "maps");

    nlohmann::json doc;
    doc["model"] = cfg.model.name;
    doc["source"] = source;
    if (tokens.is_floating_point()) {  // one row of F features per position
      const auto rows = tokens[0].to(torch::kFloat64).contiguous();
      nlohmann::json inputs = nlohmann::json::array();
      for (int64_t t = 0; t < rows.size(0); ++t)
        inputs.push_back(std::vector<double>(rows[t].data_ptr<double>(),
                                             rows[t].data_ptr<double>() + rows.size(1)));
      doc["input_features"] = inputs;
    } else {
      doc["tokens"] = std::vector<int64_t>(tokens.data_ptr<int64_t>(),
                                           tokens.data_ptr<int64_t>() + tokens.numel());
    }
    doc["layers"] = nlohmann::json::array();
    std::printf("%s on %lld positions, %s\n", cfg.model.name.c_str(),
                static_cast<long long>(tokens.size(1)), source.c_str());
    std::printf("%-5s %-22s %-20s %-20s %-22s %-8s %-8s %-10s %-10s %-10s\n", "layer", "structure",
                "rho min/med/max", "|A|2 max", "horizon min/med/max", "expand.", "transnt",
                "coef mass", "min eta", "dsf eig>1");
    for (size_t l = 0; l < traces.size(); ++l) {
      auto& mixer = *traces[l].mixer;
      const auto& x = traces[l].input;
      nlohmann::json layer;
      layer["layer"] = l;
      layer["structure"] = mixers::structure_name(mixer.structure());
      layer["state_size"] = mixer.state_size(tokens.size(1));
      core::Diagnostics d;
      bool has_diag = true;
      try {
        d = core::diagnose(mixer.transitions(x));
        layer["diagnostics"] = diagnostics_json(d);
      } catch (const std::logic_error&) {
        has_diag = false;  // e.g. softmax attention: A = I / RoPE, no per-step transitions
      }
      char eta_min[32] = "-", above[32] = "-";
      try {
        const auto ns = core::normalizer_stats(mixer.normalizers(x));
        layer["normalizer"] = normalizer_json(ns);
        std::snprintf(eta_min, sizeof eta_min, "%.3g%s", ns.eta.min, ns.tiny ? "!" : "");
        std::snprintf(above, sizeof above, "%lld/%lld", static_cast<long long>(ns.eigen_above_one),
                      static_cast<long long>(ns.eigen_steps));
      } catch (const std::logic_error&) {
        // η ≡ 1: no normalizer diagnostics
      }
      if (auto* softmax = dynamic_cast<mixers::SoftmaxAttentionImpl*>(&mixer)) {
        const auto ls = softmax->logit_scale(x);  // §4.2 "logit scale"
        layer["logit_scale"] = {
            {"entries", ls.entries}, {"std", ls.std}, {"predicted_std", ls.predicted_std}};
      }
      torch::Tensor M;  // (1, S, T, T)
      try {
        M = mixer.coefficients(x);
      } catch (const std::logic_error&) {
        // Baselines outside the framework (§2.3, §6.1): no coefficients, no maps.
        M = torch::zeros({1, 0, x.size(1), x.size(1)}, x.options());
      }
      const bool has_coef = M.size(1) > 0;
      const auto stats = core::coefficient_stats(M);
      layer["coefficients"] = has_coef ? coefficient_json(stats) : nlohmann::json();
      layer["maps"] = nlohmann::json::array();
      const int64_t S = M.size(1);
      for (int64_t s = 0; s < std::min<int64_t>(S, o->max_maps); ++s) {
        auto m = M[0][s].to(torch::kFloat64).contiguous();
        std::vector<std::vector<double>> rows(m.size(0));
        for (int64_t i = 0; i < m.size(0); ++i)
          rows[i] =
              std::vector<double>(m[i].data_ptr<double>(), m[i].data_ptr<double>() + m.size(1));
        const std::string base =
            "layer" + std::to_string(l) + "_" + system_label(mixer.structure()) + std::to_string(s);
        report::plot_heatmap(rows,
                             cfg.model.name + " layer " + std::to_string(l) + " " +
                                 system_label(mixer.structure()) + " " + std::to_string(s),
                             (fs::path(out) / "maps" / base).string());
        layer["maps"].push_back("maps/" + base + ".png");
      }
      doc["layers"].push_back(layer);
      char rho[64] = "-", norm[32] = "-", hor[64] = "-", ex[16] = "-", tr[16] = "-";
      if (has_diag) {
        std::snprintf(rho, sizeof rho, "%.3f/%.3f/%.3f", d.spectral_radius.min,
                      d.spectral_radius.median, d.spectral_radius.max);
        std::snprintf(norm, sizeof norm, "%.3f", d.norm2.max);
        // Finite horizons summarized; eigenvalues on the unit circle are counted as "inf".
        if (d.infinite_horizon_fraction >= 1.0)
          std::snprintf(hor, sizeof hor, "inf");
        else if (d.infinite_horizon_fraction > 0.0)
          std::snprintf(hor, sizeof hor, "%.1f/%.1f/%.1f +%.0f%% inf", d.memory_horizon.min,
                        d.memory_horizon.median, d.memory_horizon.max,
                        100.0 * d.infinite_horizon_fraction);
        else
          std::snprintf(hor, sizeof hor, "%.1f/%.1f/%.1f", d.memory_horizon.min,
                        d.memory_horizon.median, d.memory_horizon.max);
        std::snprintf(ex, sizeof ex, "%lld", static_cast<long long>(d.expansive_steps));
        std::snprintf(tr, sizeof tr, "%lld", static_cast<long long>(d.nonnormal_transient_steps));
      }
      char mass[32] = "-";
      if (has_coef) std::snprintf(mass, sizeof mass, "%.3f", stats.mass.median);
      std::printf("%-5zu %-22s %-20s %-20s %-22s %-8s %-8s %-10s %-10s %-10s\n", l,
                  mixers::structure_name(mixer.structure()), rho, norm, hor, ex, tr, mass, eta_min,
                  above);
    }
    write_file_atomic((fs::path(out) / "inspect.json").string(), doc.dump(2) + "\n");
    std::printf("-> %s/inspect.json, %s/maps/\n", out.c_str(), out.c_str());
  });
}

}  // namespace seqlab::cli
