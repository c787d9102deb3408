// Typed run configuration, parsed from YAML presets with `--set key=value` overrides.
//
// Every key has a type, a default, a range and (for model keys) the model families that use it;
// see config.cpp for the schema. Anything else is an error that names the key and what is allowed.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace seqlab::config {

struct TaskConfig {
  std::string name = "parity_check";
  bool query_token = false;
  int64_t n = 0;                    // c2xcn / dn group size; 0 = task default
  int64_t shifts = 8;               // shift: H
  int64_t selected = 32;            // masked_select(_fixed): M
  int64_t mips_dim = 4;             // mips: D
  bool positional_features = true;  // DLR atomic tasks: the cos/sin position channels (§2.1)
  // listops_subtrees generator (tasks.md §2.2)
  int64_t max_depth = 8, max_args = 9, min_tree_length = 256, max_tree_length = 512, l_max = 512;
  int64_t train_trees = 20000, val_trees = 1000, test_trees = 1000;
  int64_t data_seed = 0;
  // pathfinder_seg_* (tasks.md §2.3)
  int64_t images = 2000;
  std::string data_dir = "data";
  // qstr, qstr_simple, qsa (tasks.md §4)
  int64_t tokens = 8;  // prompt length N
  int64_t q = 1;       // pointers per token
  int64_t dim = 10;    // d (d' for qsa)
  std::string link = "linear";
  std::string set_encoding = "concat";
  bool pos_scale = false;
  std::string test_pattern = "train";  // qstr: test prompts drawn as in training, or `simple`
  // smooth_aniso, smooth_mixed, smooth_dynamic (tasks.md §5; see tasks/task.h TaskOptions)
  int64_t window = 3;
  double a0 = 1.0;
  std::string smooth_class = "task";
  int64_t max_order = 3;
  double t_max = 8.0;
  double eta = 0.0;
  double noise = 0.3;
  double margin = 0.0;
  int64_t select_window = 16;
  std::string smooth_readout = "final";
  bool key_in_g = false;
  int64_t target_seed = 0;
};

struct ModelConfig {
  std::string name = "sdssm";  // sdssm | complex_diagonal | lstm | transformer
  // sdssm (spec/mixers.md §2.2.20)
  int64_t state_size = 64;         // N (sdssm, complex_diagonal)
  int64_t dict_size = 8;           // K
  double lp = 1.2;                 // column-normalization exponent p
  std::string readout = "linear";  // sdssm: linear | mlp; complex_diagonal: linear | nonlinear
  int64_t mlp_size = 64;           // sdssm mlp readout width
  bool renorm_state = false;       // sdssm: rescale the state by powers of 2 at inference (§3.4)
  // complex_diagonal (spec/mixers.md §2.2.21)
  bool with_b = true;
  double scale_eigv = 1.0;
  // lstm
  int64_t hidden_size = 256;
  // transformer (spec/mixers.md §2.2.1-2.2.2)
  int64_t d_model = 64;
  int64_t heads = 4;
  int64_t layers = 2;
  std::string positions = "rope";  // nope | learned | rope
  int64_t mlp_ratio = 4;
  int64_t max_len = 1024;  // learned position table size (transformer; zoo pos_encoding learned)
  std::string init = "default";  // global initializer: default | normal (model/param_roles.h)
  double init_std = 0.02;        // std of init = normal
  // zoo mixers (spec/mixers.md §2.2, §5): model.name is the mixer; d_model, heads, layers,
  // mlp_ratio and state_size above apply too.
  int64_t head_dim = 0;               // key dimension per head; 0 = mixer default
  int64_t expand = 1;                 // inner width / d_model (Mamba, qLSTM)
  int64_t conv_size = 4;              // short causal conv kernel; 0 = none
  int64_t chunk_size = 64;            // chunk length of the chunked scan path
  std::string scan_path = "fused";    // fused | chunked | reference
  std::string channel_mixer = "mlp";  // mlp | glu | none
  std::string activation = "gelu";    // mlp channel mixer: gelu | relu
  bool pre_channel_mixer = false;     // a channel mixer before the mixer too (FNN, SSM, FNN)
  std::string norm = "rmsnorm";       // rmsnorm | layernorm | transposed_ln
  std::string block = "pre_norm";     // pre_norm | post_norm | none (mixers.md §5.1)
  bool allow_neg_eigval = false;      // DeltaNet family: beta in (0, 2)
  std::string pos_encoding = "none";  // none | learned | sinusoidal, added to the embedding
  std::string variant = "dsf";        // normalized_attention: dsf | companion
  // LTI mixers (dlr, s4d, dss, lru; mixers.md §2.2.7-2.2.9). 0 / "" = the family's default.
  bool encoder_bias = true;             // float-feature tasks: bias of the input Linear
  bool bidirectional = false;           // dlr, s4d, dss, attention: non-causal (§2.2.8, §1.2)
  int64_t max_kernel_length = 0;        // dlr, s4d, dss: kernel truncated to this many lags; 0 = T
  int64_t lti_channels = 1;             // dlr: kernels per channel C
  double dt_min = 0.0, dt_max = 0.0;    // dlr, s4d, dss: log-uniform Δ init range; 0 = default
  std::string lti_output = "default";   // dlr, s4d, dss, lru: default | linear | glu
  std::string kernel_to_real = "real";  // dlr
  std::string dlr_version;              // dlr: "" | Lambda_imag | Lambda_imag_W_real | ...
  std::string lambda_init = "omega";    // dlr: omega | randn | product_grid
  std::string s4d_init = "lin";         // s4d: lin | inv | real
  std::string discretization = "zoh";   // s4d: zoh | bilinear
  double r_min = 0.0, r_max = 1.0, max_phase = 6.28;  // lru eigenvalue ring and phase
};

struct TrainConfig {
  int64_t steps = 20000;
  int64_t batch_size = 32;
  int64_t min_length = 1;
  int64_t max_length = 40;
  std::string optimizer = "adam";  // adam | adamw
  double lr = 1e-3;
  double weight_decay = 0.0;
  double dynamics_lr = 0.0;  // lr of the dynamics parameters (mixers.md §5.6); 0 = lr
  // Lambda* dynamics parameters (DLR, DSS, S4D eigenvalues: the reference's lr.Lambda): their own
  // lr (0 = dynamics_lr), or frozen at their initialization.
  double lambda_lr = 0.0;
  bool freeze_lambda = false;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double grad_clip = 1.0;             // global-norm clipping; 0 disables
  std::string schedule = "constant";  // constant | warmup_cosine
  int64_t warmup_steps = 0;
  double min_lr_ratio = 0.0;  // cosine floor as a fraction of lr
  int64_t seed = 0;
  int64_t log_every = 50;
  int64_t checkpoint_every = 1000;  // 0 = only at the end
  int64_t keep_checkpoints = 2;
  double early_stop_accuracy = 0.0;  // stop when the running train accuracy reaches this (0 = off)
  int64_t early_stop_window = 200;   // steps in the running accuracy
  // Sample-size protocols (tasks.md §4.2, §5.3): a fixed training set of n sequences instead of
  // fresh batches, a validation set for early stopping (the best-validation weights are kept),
  // and a stop at the first held-out check whose noise-free test MSE is below a threshold.
  int64_t train_samples = 0;  // n; 0 = a fresh batch every step (online)
  int64_t val_samples = 0;    // 0 = no validation set
  int64_t eval_every = 0;     // steps between held-out checks (validation, threshold); 0 = none
  int64_t patience = 0;       // checks without a better validation MSE before stopping; 0 = off
  double stop_below = 0.0;    // stop when the test MSE (eval.* test set) is below this; 0 = off
};

struct EvalConfig {
  int64_t max_length = 500;
  int64_t length_stride = 1;  // evaluate 1, 1+s, ... and always max_length
  int64_t samples_per_length = 512;
  int64_t batch_size = 64;
  int64_t seed = 1;
  int64_t id_max_length = 40;  // ID score: mean over 1..id_max_length
  int64_t ood_from = 41;       // OOD score: mean over ood_from..max_length
};

struct RunConfig {
  std::string name;  // free-form label used in reports; defaults to the preset file name
  TaskConfig task;
  ModelConfig model;
  TrainConfig train;
  EvalConfig eval;
  // Model keys set explicitly (file or --set); each must be used by model.name.
  std::vector<std::string> explicit_model_keys;
};

// Parses YAML text; `origin` names the source in error messages. Throws seqlab::UserError.
RunConfig parse_yaml(const std::string& text, const std::string& origin);
RunConfig load_file(const std::string& path);
// Applies one "a.b=value" override (value parsed as YAML scalar). Throws seqlab::UserError.
void apply_override(RunConfig& cfg, const std::string& assignment);
// Checks cross-field constraints (e.g. heads divides d_model). Throws seqlab::UserError.
void validate(const RunConfig& cfg);
// The fully resolved config as YAML (every key, defaults included) for the run directory.
std::string to_yaml(const RunConfig& cfg);
// Every key "section.name" with its type and description, for `seqlab list keys`.
std::vector<std::string> describe_keys();

}  // namespace seqlab::config
