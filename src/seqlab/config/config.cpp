// YAML -> RunConfig with a declarative schema: each key has a type, range and help text, and
// model keys name the families that use them. Every error names the key, the value and what is
// allowed (DEVELOPERS.md "Bad input").
#include "seqlab/config/config.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <functional>
#include <iomanip>
#include <limits>
#include <set>
#include <sstream>

#include "seqlab/util/error.h"

namespace seqlab::config {
namespace {

enum class Kind { kInt, kFloat, kBool, kString };

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kInt:
      return "integer";
    case Kind::kFloat:
      return "number";
    case Kind::kBool:
      return "boolean";
    case Kind::kString:
      return "string";
  }
  return "?";
}

struct Field {
  std::string section;  // task | model | train | eval | "" (top level)
  std::string key;
  Kind kind;
  std::string help;
  std::vector<std::string> models;  // model families using a model key; empty = all
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  std::vector<std::string> choices;  // for strings; empty = free text
  std::function<void(RunConfig&, const YAML::Node&)> assign;
  std::function<void(const RunConfig&, YAML::Emitter&)> emit;

  std::string path() const { return section.empty() ? key : section + "." + key; }
  bool used_by(const std::string& model) const {
    return models.empty() || std::find(models.begin(), models.end(), model) != models.end();
  }
  std::string allowed() const {
    if (!choices.empty()) return "one of: " + join_names(choices);
    std::ostringstream os;
    if (kind == Kind::kInt) os << std::fixed << std::setprecision(0);
    if (std::isfinite(lo) && std::isfinite(hi) && hi < 1e15)
      os << "in [" << lo << ", " << hi << "]";
    else if (std::isfinite(lo))
      os << ">= " << lo;
    else if (std::isfinite(hi))
      os << "<= " << hi;
    else
      os << "any " << kind_name(kind);
    return os.str();
  }
};

std::string scalar_text(const YAML::Node& n) {
  if (n.IsScalar()) return "'" + n.Scalar() + "'";
  if (n.IsSequence()) return "a list";
  if (n.IsMap()) return "a mapping";
  return "nothing";
}

template <typename T>
T convert(const Field& f, const YAML::Node& n) {
  if (!n.IsScalar())
    throw UserError(f.path() + ": expected a " + kind_name(f.kind) + ", got " + scalar_text(n));
  try {
    return n.as<T>();
  } catch (const YAML::Exception&) {
    throw UserError(f.path() + ": expected a " + kind_name(f.kind) + ", got " + scalar_text(n));
  }
}

void check_range(const Field& f, double v, const std::string& text) {
  if (v < f.lo || v > f.hi || std::isnan(v))
    throw UserError(f.path() + " = " + text + " is out of range (must be " + f.allowed() + ")");
}

#define SEQLAB_FIELD_ACCESS(member) \
  [](RunConfig & c) -> auto& {      \
    return c.member;                \
  }                                 \
  , [](const RunConfig& c) { return c.member; }

template <typename Get, typename CGet>
Field int_field(std::string section, std::string key, Get get, CGet cget, double lo, double hi,
                std::string help, std::vector<std::string> models = {}) {
  Field f{section, key, Kind::kInt, std::move(help), std::move(models), lo, hi, {}, {}, {}};
  f.assign = [f, get](RunConfig& c, const YAML::Node& n) {
    const auto v = convert<int64_t>(f, n);
    check_range(f, static_cast<double>(v), n.Scalar());
    get(c) = v;
  };
  f.emit = [key, cget](const RunConfig& c, YAML::Emitter& e) {
    e << YAML::Key << key << YAML::Value << cget(c);
  };
  return f;
}

template <typename Get, typename CGet>
Field float_field(std::string section, std::string key, Get get, CGet cget, double lo, double hi,
                  std::string help, std::vector<std::string> models = {}) {
  Field f{section, key, Kind::kFloat, std::move(help), std::move(models), lo, hi, {}, {}, {}};
  f.assign = [f, get](RunConfig& c, const YAML::Node& n) {
    const auto v = convert<double>(f, n);
    check_range(f, v, n.Scalar());
    get(c) = v;
  };
  f.emit = [key, cget](const RunConfig& c, YAML::Emitter& e) {
    e << YAML::Key << key << YAML::Value << YAML::Precision(17) << cget(c);
  };
  return f;
}

template <typename Get, typename CGet>
Field bool_field(std::string section, std::string key, Get get, CGet cget, std::string help,
                 std::vector<std::string> models = {}) {
  Field f{section, key, Kind::kBool, std::move(help), std::move(models), 0, 1, {}, {}, {}};
  f.assign = [f, get](RunConfig& c, const YAML::Node& n) { get(c) = convert<bool>(f, n); };
  f.emit = [key, cget](const RunConfig& c, YAML::Emitter& e) {
    e << YAML::Key << key << YAML::Value << cget(c);
  };
  return f;
}

template <typename Get, typename CGet>
Field string_field(std::string section, std::string key, Get get, CGet cget,
                   std::vector<std::string> choices, std::string help,
                   std::vector<std::string> models = {}) {
  Field f{section, key, Kind::kString, std::move(help), std::move(models), 0, 0, std::move(choices),
          {},      {}};
  f.assign = [f, get](RunConfig& c, const YAML::Node& n) {
    const auto v = convert<std::string>(f, n);
    if (!f.choices.empty() && std::find(f.choices.begin(), f.choices.end(), v) == f.choices.end())
      throw UserError(f.path() + " = '" + v + "' is not valid (" + f.allowed() + ")");
    get(c) = v;
  };
  f.emit = [key, cget](const RunConfig& c, YAML::Emitter& e) {
    e << YAML::Key << key << YAML::Value << cget(c);
  };
  return f;
}

constexpr double kInf = std::numeric_limits<double>::infinity();
// The zoo mixers of src/seqlab/mixers/zoo.cpp, each a model of the same name (a backbone of
// pre-norm residual blocks); tests/model/zoo_model_test.cpp checks the two lists agree.
// clang-format off
const std::vector<std::string> kZoo = {
    "softmax_attention", "linear_attention", "retnet", "mamba2", "gla",  "hgrn2", "mlstm",
    "deltanet",          "gated_deltanet",   "mamba1", "rglru",  "qlstm",
    "dlr",               "s4d",              "dss",    "lru",
    "softmax_nope",      "softmax_alibi",    "normalized_attention",
    "gru", "elman", "elman_relu", "lstm_block", "mlp", "sdssm_block", "complex_diagonal_block",
    "local_attention"};
// clang-format on
std::vector<std::string> with_zoo(std::vector<std::string> names) {
  names.insert(names.end(), kZoo.begin(), kZoo.end());
  return names;
}
const std::vector<std::string> kModels = with_zoo(
    {"sdssm", "complex_diagonal", "lstm", "transformer", "attention_mlp", "bigru", "flat_mlp"});

const std::vector<Field>& schema() {
  static const std::vector<Field> fields = [] {
    std::vector<Field> v;
    v.push_back(
        string_field("", "name", SEQLAB_FIELD_ACCESS(name), {}, "run label used in reports"));
    // task (spec/tasks.md §1)
    v.push_back(string_field("task", "name", SEQLAB_FIELD_ACCESS(task.name), {},
                             "task id (see `seqlab list tasks`)"));
    v.push_back(bool_field("task", "query_token", SEQLAB_FIELD_ACCESS(task.query_token),
                           "append a query step and read the label there (tasks.md §1.2)"));
    v.push_back(int_field("task", "n", SEQLAB_FIELD_ACCESS(task.n), 0, 1000,
                          "group size for c2xcn / dn (0 = task default)"));
    v.push_back(int_field("task", "shifts", SEQLAB_FIELD_ACCESS(task.shifts), 1, 1024,
                          "shift: number of simultaneous shifts H (tasks.md §2.1)"));
    v.push_back(bool_field("task", "positional_features",
                           SEQLAB_FIELD_ACCESS(task.positional_features),
                           "DLR atomic tasks: append cos/sin(2πl/L_in) to every position (tasks.md "
                           "§2.1; false drops both channels)"));
    v.push_back(int_field("task", "selected", SEQLAB_FIELD_ACCESS(task.selected), 1, 65536,
                          "masked_select(_fixed): number of selected values M"));
    v.push_back(int_field("task", "mips_dim", SEQLAB_FIELD_ACCESS(task.mips_dim), 1, 64,
                          "mips: dimension D of q, k, v"));
    v.push_back(int_field("task", "max_depth", SEQLAB_FIELD_ACCESS(task.max_depth), 1, 64,
                          "listops_subtrees: maximum tree depth (root = 1)"));
    v.push_back(int_field("task", "max_args", SEQLAB_FIELD_ACCESS(task.max_args), 2, 64,
                          "listops_subtrees: children per operator U{2..max_args}"));
    v.push_back(int_field("task", "min_tree_length", SEQLAB_FIELD_ACCESS(task.min_tree_length), 0,
                          1 << 24, "listops_subtrees: keep trees longer than this (strict)"));
    v.push_back(int_field("task", "max_tree_length", SEQLAB_FIELD_ACCESS(task.max_tree_length), 2,
                          1 << 24, "listops_subtrees: keep trees shorter than this (strict)"));
    v.push_back(int_field("task", "l_max", SEQLAB_FIELD_ACCESS(task.l_max), 1, 1 << 24,
                          "listops_subtrees: padded input length"));
    v.push_back(int_field("task", "train_trees", SEQLAB_FIELD_ACCESS(task.train_trees), 1, 1 << 24,
                          "listops_subtrees: training trees"));
    v.push_back(int_field("task", "val_trees", SEQLAB_FIELD_ACCESS(task.val_trees), 0, 1 << 24,
                          "listops_subtrees: validation trees"));
    v.push_back(int_field("task", "test_trees", SEQLAB_FIELD_ACCESS(task.test_trees), 1, 1 << 24,
                          "listops_subtrees: test trees (evaluation)"));
    v.push_back(int_field("task", "data_seed", SEQLAB_FIELD_ACCESS(task.data_seed), 0, 1e15,
                          "seed of a task's fixed dataset (listops_subtrees, pathfinder_seg_*)"));
    v.push_back(int_field("task", "images", SEQLAB_FIELD_ACCESS(task.images), 10, 1 << 24,
                          "pathfinder_seg_*: images generated (split 80/10/10)"));
    v.push_back(string_field("task", "data_dir", SEQLAB_FIELD_ACCESS(task.data_dir), {},
                             "folder of the dataset files of listops_subtrees and pathfinder_seg_* "
                             "(written on first use, read afterwards)"));
    v.push_back(int_field("task", "tokens", SEQLAB_FIELD_ACCESS(task.tokens), 0, 1 << 20,
                          "qstr, qstr_simple, qsa: prompt length N (tasks.md §4.1)"));
    v.push_back(int_field("task", "q", SEQLAB_FIELD_ACCESS(task.q), 1, 1024,
                          "qstr, qstr_simple, qsa: pointers per token q"));
    v.push_back(int_field("task", "dim", SEQLAB_FIELD_ACCESS(task.dim), 1, 4096,
                          "qstr, qstr_simple: content dimension d; qsa: d'"));
    v.push_back(string_field("task", "link", SEQLAB_FIELD_ACCESS(task.link),
                             {"linear", "linear_sum", "hermite2", "quadnorm", "mean"},
                             "qstr, qstr_simple: link g (tasks.md §4.1; qsa is always mean)"));
    v.push_back(string_field("task", "set_encoding", SEQLAB_FIELD_ACCESS(task.set_encoding),
                             {"concat", "sum"},
                             "qsa: pointer codes concatenated, or summed (permutation-invariant)"));
    v.push_back(bool_field("task", "pos_scale", SEQLAB_FIELD_ACCESS(task.pos_scale),
                           "qstr family: scale the position codes by sqrt(d/q) (the theory's "
                           "encoding; off in the reference code)"));
    v.push_back(string_field("task", "test_pattern", SEQLAB_FIELD_ACCESS(task.test_pattern),
                             {"train", "simple"},
                             "qstr: test prompts as in training, or with one shared pointer "
                             "(the reference code's quirk, protocols.md §3.2)"));
    // smoothness regression (tasks.md §5.2)
    v.push_back(int_field("task", "window", SEQLAB_FIELD_ACCESS(task.window), 1, 64,
                          "smooth_*: lags U (fixed variant) or ranks R (dynamic variant)"));
    v.push_back(float_field("task", "a0", SEQLAB_FIELD_ACCESS(task.a0), 1e-3, 1e3,
                            "smooth_*: smoothness a = a0 * 2^(lag or rank) * (1 + feature)"));
    v.push_back(string_field("task", "smooth_class", SEQLAB_FIELD_ACCESS(task.smooth_class),
                             {"task", "aniso", "mixed"},
                             "smooth_*: gamma = max (aniso) or sum (mixed) of a_c s_c; task = "
                             "the task's own (smooth_mixed: mixed, else aniso)"));
    v.push_back(int_field("task", "max_order", SEQLAB_FIELD_ACCESS(task.max_order), 1, 16,
                          "smooth_*: K, the most active coordinates in one term"));
    v.push_back(float_field("task", "t_max", SEQLAB_FIELD_ACCESS(task.t_max), 0.0, 64.0,
                            "smooth_*: truncation level T_max of gamma"));
    v.push_back(float_field("task", "eta", SEQLAB_FIELD_ACCESS(task.eta), 0.0, 16.0,
                            "smooth_*: extra coefficient decay eta"));
    v.push_back(float_field("task", "noise", SEQLAB_FIELD_ACCESS(task.noise), 0.0, 1e3,
                            "smooth_*: label-noise sd sigma (test sets are noise-free)"));
    v.push_back(
        float_field("task", "margin", SEQLAB_FIELD_ACCESS(task.margin), 0.0, 1.0,
                    "smooth_dynamic: least gap between sorted importances (final readout)"));
    v.push_back(int_field("task", "select_window", SEQLAB_FIELD_ACCESS(task.select_window), 1,
                          1 << 20,
                          "smooth_dynamic, seq readout: tokens W the top ranks come from"));
    v.push_back(string_field("task", "smooth_readout", SEQLAB_FIELD_ACCESS(task.smooth_readout),
                             {"final", "seq"},
                             "smooth_*: one target at the last position, or one per position"));
    v.push_back(bool_field("task", "key_in_g", SEQLAB_FIELD_ACCESS(task.key_in_g),
                           "smooth_dynamic: the importance feature 0 is an argument of g too"));
    v.push_back(int_field("task", "target_seed", SEQLAB_FIELD_ACCESS(task.target_seed), 0, 1e15,
                          "smooth_*: seed of the target function (seed_f)"));
    // model
    v.push_back(
        string_field("model", "name", SEQLAB_FIELD_ACCESS(model.name), kModels, "model family"));
    v.push_back(int_field("model", "state_size", SEQLAB_FIELD_ACCESS(model.state_size), 1, 4096,
                          "SSM state size N", with_zoo({"sdssm", "complex_diagonal"})));
    v.push_back(int_field("model", "dict_size", SEQLAB_FIELD_ACCESS(model.dict_size), 1, 256,
                          "SD-SSM dictionary size K", {"sdssm", "sdssm_block"}));
    v.push_back(float_field("model", "lp", SEQLAB_FIELD_ACCESS(model.lp), 1.0, 16.0,
                            "SD-SSM column-normalization exponent p", {"sdssm", "sdssm_block"}));
    v.push_back(string_field("model", "readout", SEQLAB_FIELD_ACCESS(model.readout),
                             {"linear", "mlp", "nonlinear"},
                             "readout head (sdssm: linear|mlp; complex_diagonal: linear|nonlinear)",
                             {"sdssm", "complex_diagonal"}));
    v.push_back(int_field("model", "mlp_size", SEQLAB_FIELD_ACCESS(model.mlp_size), 1, 65536,
                          "width of the MLP: sdssm mlp readout; attention_mlp per-token ReLU MLP",
                          {"sdssm", "attention_mlp"}));
    v.push_back(
        bool_field("model", "renorm_state", SEQLAB_FIELD_ACCESS(model.renorm_state),
                   "SD-SSM: rescale the state by powers of 2 during evaluation so long "
                   "inputs cannot overflow float32 (mixers.md §3.4; exact up to LayerNorm eps)",
                   {"sdssm", "sdssm_block"}));
    v.push_back(bool_field("model", "encoder_bias", SEQLAB_FIELD_ACCESS(model.encoder_bias),
                           "float-feature tasks (DLR atomic, pathfinder): bias of the input "
                           "Linear encoder"));
    v.push_back(bool_field("model", "with_b", SEQLAB_FIELD_ACCESS(model.with_b),
                           "complex diagonal: input matrix B (false = initial state only)",
                           {"complex_diagonal"}));
    v.push_back(float_field("model", "scale_eigv", SEQLAB_FIELD_ACCESS(model.scale_eigv), 0.0, 10.0,
                            "complex diagonal: eigenvalue scale s",
                            {"complex_diagonal", "complex_diagonal_block"}));
    v.push_back(int_field("model", "hidden_size", SEQLAB_FIELD_ACCESS(model.hidden_size), 1, 65536,
                          "hidden size: lstm; bigru per direction; flat_mlp second width",
                          {"lstm", "bigru", "flat_mlp"}));
    v.push_back(int_field("model", "d_model", SEQLAB_FIELD_ACCESS(model.d_model), 1, 65536,
                          "model width", with_zoo({"transformer"})));
    v.push_back(int_field("model", "heads", SEQLAB_FIELD_ACCESS(model.heads), 1, 1024, "heads",
                          with_zoo({"transformer", "attention_mlp"})));
    v.push_back(int_field("model", "layers", SEQLAB_FIELD_ACCESS(model.layers), 1, 256,
                          "residual blocks", with_zoo({"transformer"})));
    v.push_back(string_field("model", "positions", SEQLAB_FIELD_ACCESS(model.positions),
                             {"nope", "learned", "rope"}, "position encoding", {"transformer"}));
    v.push_back(int_field("model", "mlp_ratio", SEQLAB_FIELD_ACCESS(model.mlp_ratio), 1, 64,
                          "MLP width / d_model (flat_mlp: first width / T)",
                          with_zoo({"transformer", "flat_mlp"})));
    v.push_back(int_field("model", "head_dim", SEQLAB_FIELD_ACCESS(model.head_dim), 0, 4096,
                          "key dimension per head (0 = mixer default; attention_mlp: 0 = the "
                          "feature width, full-width heads)",
                          with_zoo({"attention_mlp"})));
    v.push_back(int_field("model", "expand", SEQLAB_FIELD_ACCESS(model.expand), 1, 16,
                          "inner width / d_model (Mamba, qLSTM, mlp)", kZoo));
    v.push_back(int_field("model", "conv_size", SEQLAB_FIELD_ACCESS(model.conv_size), 0, 64,
                          "short causal convolution kernel (0 = none)", kZoo));
    v.push_back(int_field("model", "chunk_size", SEQLAB_FIELD_ACCESS(model.chunk_size), 1, 65536,
                          "chunk length of the chunked scan path; local_attention: window", kZoo));
    v.push_back(string_field("model", "scan_path", SEQLAB_FIELD_ACCESS(model.scan_path),
                             {"fused", "chunked", "reference"},
                             "algorithm of the recurrence (mixers.md §6.1)", kZoo));
    v.push_back(string_field("model", "channel_mixer", SEQLAB_FIELD_ACCESS(model.channel_mixer),
                             {"mlp", "glu", "none"}, "channel mixer after each mixer (§5.2)",
                             kZoo));
    v.push_back(string_field("model", "activation", SEQLAB_FIELD_ACCESS(model.activation),
                             {"gelu", "relu"}, "activation of the mlp channel mixer", kZoo));
    v.push_back(bool_field("model", "pre_channel_mixer",
                           SEQLAB_FIELD_ACCESS(model.pre_channel_mixer),
                           "a channel-mixer sublayer before the mixer too (the smoothness "
                           "paper's FNN -> SSM -> FNN block, protocols.md §1.3)",
                           kZoo));
    v.push_back(string_field("model", "norm", SEQLAB_FIELD_ACCESS(model.norm),
                             {"rmsnorm", "layernorm", "transposed_ln"},
                             "norm of the residual blocks; transposed_ln = DLR's scalar-affine "
                             "LayerNorm without ε (§5.1)",
                             kZoo));
    v.push_back(string_field("model", "block", SEQLAB_FIELD_ACCESS(model.block),
                             {"pre_norm", "post_norm", "none"},
                             "residual block (§5.1): pre_norm x + f(Norm x), final norm; "
                             "post_norm Norm(x + f(x)), no final norm (DLR); none f(x)",
                             kZoo));
    v.push_back(bool_field("model", "allow_neg_eigval", SEQLAB_FIELD_ACCESS(model.allow_neg_eigval),
                           "DeltaNet family: beta in (0, 2), eigenvalues down to -1 (§2.2.17)",
                           {"deltanet", "gated_deltanet"}));
    v.push_back(string_field("model", "init", SEQLAB_FIELD_ACCESS(model.init),
                             {"default", "normal"},
                             "global initializer: default = each module's own; normal = Linear "
                             "and Embedding weights ~ N(0, init_std²), biases 0, dynamics and "
                             "norm parameters untouched (mixers.md §5.5-5.6)"));
    v.push_back(float_field("model", "init_std", SEQLAB_FIELD_ACCESS(model.init_std), 1e-8, 10.0,
                            "standard deviation of model.init = normal"));
    v.push_back(int_field("model", "max_len", SEQLAB_FIELD_ACCESS(model.max_len), 1, 1 << 24,
                          "learned position table size (longest sequence with learned positions)",
                          with_zoo({"transformer"})));
    v.push_back(string_field("model", "pos_encoding", SEQLAB_FIELD_ACCESS(model.pos_encoding),
                             {"none", "learned", "sinusoidal"},
                             "absolute position encoding added to the token embedding (§2.2.1)",
                             kZoo));
    v.push_back(
        string_field("model", "variant", SEQLAB_FIELD_ACCESS(model.variant), {"dsf", "companion"},
                     "normalized attention variant (mixers.md §2.2.5)", {"normalized_attention"}));
    // LTI mixers (mixers.md §2.2.7-2.2.9, §5.5 DLR rows).
    const std::vector<std::string> conv_lti = {"dlr", "s4d", "dss"};
    v.push_back(bool_field("model", "bidirectional", SEQLAB_FIELD_ACCESS(model.bidirectional),
                           "non-causal mixer: LTI, a second kernel over the reversed sequence "
                           "(§2.2.8 step 4); attention, no causal mask (local: chunks c-1, c, "
                           "c+1) (§1.2)",
                           {"dlr", "s4d", "dss", "softmax_attention", "softmax_nope",
                            "softmax_alibi", "local_attention"}));
    v.push_back(
        int_field("model", "max_kernel_length", SEQLAB_FIELD_ACCESS(model.max_kernel_length), 0,
                  kInf, "kernel truncated to this many lags (0 = the sequence length)", conv_lti));
    v.push_back(int_field("model", "lti_channels", SEQLAB_FIELD_ACCESS(model.lti_channels), 1, 1024,
                          "DLR kernels per channel C (flattened into the output Linear)", {"dlr"}));
    v.push_back(float_field("model", "dt_min", SEQLAB_FIELD_ACCESS(model.dt_min), 0.0, 10.0,
                            "log-uniform Δ init range, lower end (0 = the family default)",
                            conv_lti));
    v.push_back(float_field("model", "dt_max", SEQLAB_FIELD_ACCESS(model.dt_max), 0.0, 10.0,
                            "log-uniform Δ init range, upper end (0 = the family default)",
                            conv_lti));
    v.push_back(string_field("model", "lti_output", SEQLAB_FIELD_ACCESS(model.lti_output),
                             {"default", "linear", "glu"},
                             "after GELU: Linear(d, d), or Linear(d, 2d) then GLU a·σ(b)",
                             {"dlr", "s4d", "dss", "lru"}));
    v.push_back(string_field("model", "kernel_to_real", SEQLAB_FIELD_ACCESS(model.kernel_to_real),
                             {"real", "imag", "sum", "prod", "real-prod"},
                             "DLR kernel's complex-to-real map (prod = DLR-prod)", {"dlr"}));
    v.push_back(string_field("model", "dlr_version", SEQLAB_FIELD_ACCESS(model.dlr_version),
                             {"", "Lambda_imag", "Lambda_imag_W_real", "Lambda_real_W_real"},
                             "DLR ablations: restricted Λ and / or real W (§2.2.8)", {"dlr"}));
    v.push_back(string_field("model", "lambda_init", SEQLAB_FIELD_ACCESS(model.lambda_init),
                             {"omega", "randn", "product_grid"},
                             "DLR Λ init: roots of unity, Gaussian phases, or the two grids "
                             "whose sums are the DFT grid of length ~N²/4 (for kernel_to_real "
                             "prod)",
                             {"dlr"}));
    v.push_back(string_field("model", "s4d_init", SEQLAB_FIELD_ACCESS(model.s4d_init),
                             {"lin", "inv", "real"}, "S4D eigenvalue init (§2.2.7)", {"s4d"}));
    v.push_back(string_field("model", "discretization", SEQLAB_FIELD_ACCESS(model.discretization),
                             {"zoh", "bilinear"}, "S4D discretization", {"s4d"}));
    v.push_back(float_field("model", "r_min", SEQLAB_FIELD_ACCESS(model.r_min), 0.0, 1.0,
                            "LRU eigenvalue modulus ring, inner radius", {"lru"}));
    v.push_back(float_field("model", "r_max", SEQLAB_FIELD_ACCESS(model.r_max), 0.0, 1.0,
                            "LRU eigenvalue modulus ring, outer radius", {"lru"}));
    v.push_back(float_field("model", "max_phase", SEQLAB_FIELD_ACCESS(model.max_phase), 0.0, 100.0,
                            "LRU eigenvalue phases drawn in [0, max_phase]", {"lru"}));
    // train (protocols.md §2.2)
    v.push_back(
        int_field("train", "steps", SEQLAB_FIELD_ACCESS(train.steps), 1, kInf, "optimizer steps"));
    v.push_back(int_field("train", "batch_size", SEQLAB_FIELD_ACCESS(train.batch_size), 1, 1 << 20,
                          "sequences per step"));
    v.push_back(int_field("train", "min_length", SEQLAB_FIELD_ACCESS(train.min_length), 1, 1 << 24,
                          "shortest training length"));
    v.push_back(int_field("train", "max_length", SEQLAB_FIELD_ACCESS(train.max_length), 1, 1 << 24,
                          "longest training length (uniform curriculum)"));
    v.push_back(string_field("train", "optimizer", SEQLAB_FIELD_ACCESS(train.optimizer),
                             {"adam", "adamw"}, "optimizer"));
    v.push_back(
        float_field("train", "lr", SEQLAB_FIELD_ACCESS(train.lr), 0.0, 10.0, "learning rate"));
    v.push_back(float_field("train", "weight_decay", SEQLAB_FIELD_ACCESS(train.weight_decay), 0.0,
                            10.0, "weight decay (decoupled for adamw)"));
    v.push_back(float_field("train", "dynamics_lr", SEQLAB_FIELD_ACCESS(train.dynamics_lr), 0.0,
                            10.0,
                            "learning rate of the dynamics parameters (A_log, Δ bias, Λ, W, D; "
                            "mixers.md §5.6; no weight decay); 0 = train.lr"));
    v.push_back(bool_field("train", "freeze_lambda", SEQLAB_FIELD_ACCESS(train.freeze_lambda),
                           "keep the eigenvalue parameters named Lambda* (DLR, DSS, S4D) at their "
                           "initialization: no gradient, not in the optimizer"));
    v.push_back(float_field("train", "lambda_lr", SEQLAB_FIELD_ACCESS(train.lambda_lr), 0.0, 10.0,
                            "learning rate of the eigenvalue parameters named Lambda* (DLR, DSS, "
                            "S4D: the reference's lr.Lambda; no weight decay); 0 = "
                            "train.dynamics_lr"));
    v.push_back(float_field("train", "beta1", SEQLAB_FIELD_ACCESS(train.beta1), 0.0, 0.999999,
                            "Adam beta1"));
    v.push_back(float_field("train", "beta2", SEQLAB_FIELD_ACCESS(train.beta2), 0.0, 0.999999999,
                            "Adam beta2"));
    v.push_back(
        float_field("train", "eps", SEQLAB_FIELD_ACCESS(train.eps), 0.0, 1.0, "Adam epsilon"));
    v.push_back(float_field("train", "grad_clip", SEQLAB_FIELD_ACCESS(train.grad_clip), 0.0, kInf,
                            "global gradient-norm clip (0 = off)"));
    v.push_back(string_field("train", "schedule", SEQLAB_FIELD_ACCESS(train.schedule),
                             {"constant", "warmup_cosine"}, "learning-rate schedule"));
    v.push_back(int_field("train", "warmup_steps", SEQLAB_FIELD_ACCESS(train.warmup_steps), 0, kInf,
                          "linear warmup steps (warmup_cosine)"));
    v.push_back(float_field("train", "min_lr_ratio", SEQLAB_FIELD_ACCESS(train.min_lr_ratio), 0.0,
                            1.0, "cosine floor as a fraction of lr"));
    v.push_back(int_field("train", "seed", SEQLAB_FIELD_ACCESS(train.seed), 0, 9.0e18,
                          "seed for initialization and data"));
    v.push_back(int_field("train", "log_every", SEQLAB_FIELD_ACCESS(train.log_every), 1, kInf,
                          "steps between log.jsonl rows"));
    v.push_back(int_field("train", "checkpoint_every", SEQLAB_FIELD_ACCESS(train.checkpoint_every),
                          0, kInf, "steps between checkpoints (0 = only at the end)"));
    v.push_back(int_field("train", "keep_checkpoints", SEQLAB_FIELD_ACCESS(train.keep_checkpoints),
                          1, 1e6, "newest checkpoints kept"));
    v.push_back(float_field("train", "early_stop_accuracy",
                            SEQLAB_FIELD_ACCESS(train.early_stop_accuracy), 0.0, 1.0,
                            "stop once running train accuracy reaches this (0 = off)"));
    v.push_back(int_field("train", "early_stop_window",
                          SEQLAB_FIELD_ACCESS(train.early_stop_window), 1, 1e9,
                          "steps in the running train accuracy"));
    v.push_back(int_field("train", "train_samples", SEQLAB_FIELD_ACCESS(train.train_samples), 0,
                          1e9, "fixed training set of n sequences, epochs over it (0 = online)"));
    v.push_back(int_field("train", "val_samples", SEQLAB_FIELD_ACCESS(train.val_samples), 0, 1e9,
                          "validation sequences for early stopping (0 = none)"));
    v.push_back(int_field("train", "eval_every", SEQLAB_FIELD_ACCESS(train.eval_every), 0, 1e9,
                          "steps between held-out checks (validation MSE, test threshold)"));
    v.push_back(int_field("train", "patience", SEQLAB_FIELD_ACCESS(train.patience), 0, 1e9,
                          "checks without a better validation MSE before stopping; the best "
                          "weights are kept (0 = off)"));
    v.push_back(float_field("train", "stop_below", SEQLAB_FIELD_ACCESS(train.stop_below), 0.0, 1e9,
                            "stop at the first check whose test MSE (eval.samples_per_length "
                            "noise-free samples, eval.seed) is below this; records n* (0 = off)"));
    // eval (tasks.md §1.1)
    v.push_back(int_field("eval", "max_length", SEQLAB_FIELD_ACCESS(eval.max_length), 1, 1 << 24,
                          "longest evaluated length"));
    v.push_back(
        int_field("eval", "length_stride", SEQLAB_FIELD_ACCESS(eval.length_stride), 1, 1 << 24,
                  "stride of evaluated lengths beyond the ID range (max_length always included)"));
    v.push_back(int_field("eval", "samples_per_length",
                          SEQLAB_FIELD_ACCESS(eval.samples_per_length), 1, 1 << 24,
                          "sequences per evaluated length"));
    v.push_back(int_field("eval", "batch_size", SEQLAB_FIELD_ACCESS(eval.batch_size), 1, 1 << 20,
                          "evaluation sub-batch size"));
    v.push_back(
        int_field("eval", "seed", SEQLAB_FIELD_ACCESS(eval.seed), 0, 9.0e18, "evaluation seed"));
    v.push_back(int_field("eval", "id_max_length", SEQLAB_FIELD_ACCESS(eval.id_max_length), 1,
                          1 << 24, "ID score averages lengths 1..id_max_length"));
    v.push_back(int_field("eval", "ood_from", SEQLAB_FIELD_ACCESS(eval.ood_from), 1, 1 << 24,
                          "OOD score averages lengths ood_from..max_length"));
    return v;
  }();
  return fields;
}

const Field* find_field(const std::string& section, const std::string& key) {
  for (const auto& f : schema())
    if (f.section == section && f.key == key) return &f;
  return nullptr;
}

std::vector<std::string> keys_of(const std::string& section) {
  std::vector<std::string> out;
  for (const auto& f : schema())
    if (f.section == section) out.push_back(f.key);
  return out;
}

const std::vector<std::string> kSections = {"task", "model", "train", "eval"};

void assign_key(RunConfig& cfg, const std::string& section, const std::string& key,
                const YAML::Node& value, const std::string& origin,
                std::set<std::string>& model_keys) {
  const Field* f = find_field(section, key);
  if (!f) {
    const std::string where = section.empty() ? "top level" : "section '" + section + "'";
    const auto valid = section.empty()
                           ? std::vector<std::string>{"name", "task", "model", "train", "eval"}
                           : keys_of(section);
    throw UserError(origin + ": unknown key '" + (section.empty() ? key : section + "." + key) +
                    "' in " + where + " (valid keys: " + join_names(valid) + ")");
  }
  f->assign(cfg, value);
  if (section == "model" && key != "name") model_keys.insert(key);
}

void check_model_keys(const RunConfig& cfg, const std::set<std::string>& model_keys,
                      const std::string& origin) {
  for (const auto& key : model_keys) {
    const Field* f = find_field("model", key);
    if (f && !f->used_by(cfg.model.name)) {
      std::vector<std::string> its;
      for (const auto& g : schema())
        if (g.section == "model" && g.key != "name" && g.used_by(cfg.model.name))
          its.push_back(g.key);
      throw UserError(origin + ": model." + key + " is not used by model '" + cfg.model.name +
                      "' (its keys: " + join_names(its) + ")");
    }
  }
}

}  // namespace

RunConfig parse_yaml(const std::string& text, const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw UserError(origin + ": malformed YAML at line " + std::to_string(e.mark.line + 1) +
                    ", column " + std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  RunConfig cfg;
  if (root.IsNull()) return cfg;
  if (!root.IsMap())
    throw UserError(origin + ": expected a mapping with sections task, model, train, eval");
  std::set<std::string> model_keys;
  for (const auto& item : root) {
    const std::string top = item.first.as<std::string>();
    if (std::find(kSections.begin(), kSections.end(), top) != kSections.end()) {
      if (item.second.IsNull()) continue;
      if (!item.second.IsMap())
        throw UserError(origin + ": section '" + top + "' must be a mapping of key: value");
      for (const auto& kv : item.second)
        assign_key(cfg, top, kv.first.as<std::string>(), kv.second, origin, model_keys);
    } else {
      assign_key(cfg, "", top, item.second, origin, model_keys);
    }
  }
  check_model_keys(cfg, model_keys, origin);
  cfg.explicit_model_keys.assign(model_keys.begin(), model_keys.end());
  return cfg;
}

RunConfig load_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UserError("cannot read config file '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_yaml(ss.str(), path);
}

void apply_override(RunConfig& cfg, const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw UserError("--set '" + assignment + "': expected key=value, e.g. train.lr=1e-3");
  const std::string path = assignment.substr(0, eq);
  const std::string value = assignment.substr(eq + 1);
  const auto dot = path.find('.');
  const std::string section = dot == std::string::npos ? "" : path.substr(0, dot);
  const std::string key = dot == std::string::npos ? path : path.substr(dot + 1);
  if (!section.empty() && std::find(kSections.begin(), kSections.end(), section) == kSections.end())
    throw UserError("--set '" + assignment + "': unknown section '" + section +
                    "' (valid: " + join_names(kSections) + ")");
  YAML::Node node;
  try {
    node = YAML::Load(value);
  } catch (const YAML::Exception& e) {
    throw UserError("--set '" + assignment + "': cannot parse value: " + e.msg);
  }
  if (value.empty()) node = YAML::Node(std::string());
  std::set<std::string> model_keys(cfg.explicit_model_keys.begin(), cfg.explicit_model_keys.end());
  assign_key(cfg, section, key, node, "--set " + assignment, model_keys);
  check_model_keys(cfg, model_keys, "--set " + assignment);
  cfg.explicit_model_keys.assign(model_keys.begin(), model_keys.end());
}

void validate(const RunConfig& cfg) {
  const auto& t = cfg.train;
  if (t.min_length > t.max_length)
    throw UserError("train.min_length = " + std::to_string(t.min_length) +
                    " exceeds train.max_length = " + std::to_string(t.max_length));
  if (t.schedule == "warmup_cosine" && t.warmup_steps > t.steps)
    throw UserError("train.warmup_steps = " + std::to_string(t.warmup_steps) +
                    " exceeds train.steps = " + std::to_string(t.steps));
  if (t.train_samples > 0 && t.min_length != t.max_length)
    throw UserError("train.train_samples needs one sequence length: train.min_length = " +
                    std::to_string(t.min_length) +
                    " differs from train.max_length = " + std::to_string(t.max_length));
  if ((t.val_samples > 0 || t.patience > 0 || t.stop_below > 0) && t.eval_every == 0)
    throw UserError(
        "train.val_samples, train.patience and train.stop_below need held-out checks: set "
        "train.eval_every > 0");
  if (t.patience > 0 && t.val_samples == 0)
    throw UserError("train.patience needs a validation set: set train.val_samples > 0");
  const auto& e = cfg.eval;
  if (e.id_max_length > e.max_length)
    throw UserError("eval.id_max_length = " + std::to_string(e.id_max_length) +
                    " exceeds eval.max_length = " + std::to_string(e.max_length));
  if (e.ood_from > e.max_length)
    throw UserError("eval.ood_from = " + std::to_string(e.ood_from) +
                    " exceeds eval.max_length = " + std::to_string(e.max_length));
  const auto& m = cfg.model;
  if (m.name == "sdssm" && m.readout != "linear" && m.readout != "mlp")
    throw UserError("model.readout = '" + m.readout +
                    "' is not valid for sdssm (one of: linear, mlp)");
  if (m.name == "complex_diagonal" && m.readout != "linear" && m.readout != "nonlinear")
    throw UserError("model.readout = '" + m.readout +
                    "' is not valid for complex_diagonal (one of: linear, nonlinear)");
  if (m.name == "transformer") {
    if (m.d_model % m.heads != 0)
      throw UserError("model.heads = " + std::to_string(m.heads) +
                      " must divide model.d_model = " + std::to_string(m.d_model));
    if (m.positions == "rope" && (m.d_model / m.heads) % 2 != 0)
      throw UserError("model.positions = rope needs an even head dimension (d_model / heads = " +
                      std::to_string(m.d_model / m.heads) + ")");
  }
}

std::string to_yaml(const RunConfig& cfg) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  if (!cfg.name.empty()) find_field("", "name")->emit(cfg, out);
  for (const auto& section : kSections) {
    out << YAML::Key << section << YAML::Value << YAML::BeginMap;
    for (const auto& f : schema()) {
      if (f.section != section) continue;
      if (section == "model" && !f.used_by(cfg.model.name)) continue;
      f.emit(cfg, out);
    }
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

std::vector<std::string> describe_keys() {
  std::vector<std::string> out;
  for (const auto& f : schema()) {
    std::string line = f.path() + " (" + kind_name(f.kind) + ", " + f.allowed() + "): " + f.help;
    if (!f.models.empty()) line += " [" + join_names(f.models) + "]";
    out.push_back(line);
  }
  return out;
}

}  // namespace seqlab::config
