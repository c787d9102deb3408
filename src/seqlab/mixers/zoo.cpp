// The zoo registry (spec/mixers.md §2.1): one entry per mixer with its structure class, state
// size and paths. Kept in one place so `seqlab list mixers`, the model registry and the config
// schema agree (tests/model/zoo_model_test.cpp checks the config's list).
#include "seqlab/mixers/zoo.h"

#include <algorithm>
#include <string>
#include <vector>

#include "seqlab/mixers/complex_diagonal_block.h"
#include "seqlab/mixers/deltanet.h"
#include "seqlab/mixers/dlr.h"
#include "seqlab/mixers/elman.h"
#include "seqlab/mixers/gated_mixers.h"
#include "seqlab/mixers/gru.h"
#include "seqlab/mixers/lru.h"
#include "seqlab/mixers/lstm.h"
#include "seqlab/mixers/mamba1.h"
#include "seqlab/mixers/mlp.h"
#include "seqlab/mixers/normalized_attention.h"
#include "seqlab/mixers/qlstm.h"
#include "seqlab/mixers/rglru.h"
#include "seqlab/mixers/s4d.h"
#include "seqlab/mixers/sdssm_block.h"
#include "seqlab/mixers/softmax_attention.h"
#include "seqlab/util/error.h"

namespace seqlab::mixers {

namespace {

// Softmax attention is causal unless model.bidirectional (mixers.md §1.2, §5.5 "causal unless
// bidirectional").
SoftmaxAttentionOptions attention_options(const ZooOptions& o, const std::string& position) {
  return SoftmaxAttentionOptions(o.d_model, o.heads).position(position).causal(!o.bidirectional);
}

std::shared_ptr<Mixer> make_softmax(const ZooOptions& o) {
  return std::make_shared<SoftmaxAttentionImpl>(attention_options(o, "rope"));
}

std::shared_ptr<Mixer> make_softmax_nope(const ZooOptions& o) {
  return std::make_shared<SoftmaxAttentionImpl>(attention_options(o, "none"));
}

std::shared_ptr<Mixer> make_local_attention(const ZooOptions& o) {
  // The DLR paper's LocalAttention baseline (spec/protocols.md §4.2, mixers.md §5.5): RoPE,
  // learnable temperature, window = the chunk size; non-causal (chunks c-1, c, c+1) when
  // bidirectional.
  return std::make_shared<SoftmaxAttentionImpl>(attention_options(o, "rope")
                                                    .learnable_tau(true)
                                                    .window(o.chunk_size)
                                                    .fused(o.path == core::ScanPath::kFused));
}

std::shared_ptr<Mixer> make_softmax_alibi(const ZooOptions& o) {
  return std::make_shared<SoftmaxAttentionImpl>(attention_options(o, "alibi"));
}

// The mixers that read model.bidirectional: the LTI kernels (two-sided kernel, §2.2.8 step 4)
// and softmax attention (no causal mask, §1.2). Every other mixer is a causal scan.
const std::vector<std::string>& bidirectional_mixers() {
  static const std::vector<std::string> names = {
      "dlr", "s4d", "dss", "softmax_attention", "softmax_nope", "softmax_alibi", "local_attention"};
  return names;
}

// Baselines outside the framework (§2.3): hidden width = d_model (the residual width).
std::shared_ptr<Mixer> make_gru(const ZooOptions& o) {
  return std::make_shared<GRUMixerImpl>(o.d_model, o.d_model);
}
std::shared_ptr<Mixer> make_elman(const ZooOptions& o) {
  return std::make_shared<ElmanMixerImpl>(o.d_model, o.d_model, /*relu=*/false);
}
std::shared_ptr<Mixer> make_elman_relu(const ZooOptions& o) {
  return std::make_shared<ElmanMixerImpl>(o.d_model, o.d_model, /*relu=*/true);
}
std::shared_ptr<Mixer> make_lstm_block(const ZooOptions& o) {
  return std::make_shared<LSTMMixerImpl>(o.d_model, o.d_model);
}
std::shared_ptr<Mixer> make_mlp(const ZooOptions& o) {
  return std::make_shared<MLPMixerImpl>(o.d_model, o.expand * o.d_model);
}

// A function, not a namespace-scope vector: mixer_infos() may run during another translation
// unit's static initialization (benchmark registration), before such a vector is constructed.
std::vector<std::string> gated_paths() {
  return {"recurrent", "chunked", "fused CPU", "explicit"};
}
std::vector<std::string> lti_paths() {
  return {"recurrent", "FFT", "explicit"};
}

}  // namespace

const std::vector<MixerInfo>& mixer_infos() {
  static const std::vector<MixerInfo> infos = {
      {"softmax_attention",
       "softmax attention with RoPE (§2.2.1-2.2.2); causal unless model.bidirectional",
       Structure::kOrthogonalLTI,
       "KV cache 2·d_model per position",
       {"recurrent (KV cache)", "batched matmul", "explicit"},
       make_softmax},
      {"linear_attention", "elu+1 linear attention, normalized (§2.2.4)", Structure::kIdentity,
       "heads·head_dim·(d_model/heads + 1)", gated_paths(), make_linear_attention},
      {"retnet", "multi-scale retention, RoPE folded, γ_h = 1 − 2^(−5−h) (§2.2.6)",
       Structure::kScalar, "heads·head_dim·2·head_dim", gated_paths(), make_retnet},
      {"mamba2", "Mamba-2 / SSD layer (§2.2.11)", Structure::kScalar,
       "heads·state_size·(expand·d_model/heads) + (conv_size−1)·(expand·d_model + 2·state_size)",
       gated_paths(), make_mamba2},
      {"gla", "gated linear attention (§2.2.12)", Structure::kDiagonal,
       "heads·head_dim·d_model/heads", gated_paths(), make_gla},
      {"hgrn2", "HGRN2, k = 1 − f (§2.2.13)", Structure::kDiagonal, "heads·head_dim·d_model/heads",
       gated_paths(), make_hgrn2},
      {"mlstm", "mLSTM cell with max stabilizer (§2.2.14)", Structure::kScalar,
       "heads·(head_dim·(d_model/heads + 1) + 1)", gated_paths(), make_mlstm},
      {"deltanet", "DeltaNet, A = I − βkkᵀ, L2-normalized keys (§2.2.17)",
       Structure::kIdentityMinusRank1, "heads·head_dim² + (conv_size−1)·3·heads·head_dim",
       gated_paths(), make_deltanet},
      {"gated_deltanet", "Gated DeltaNet, A = α(I − βkkᵀ), output gate (§2.2.18)",
       Structure::kIdentityMinusRank1, "heads·head_dim² + (conv_size−1)·3·heads·head_dim",
       gated_paths(), make_gated_deltanet},
      {"mamba1",
       "Mamba-1 / S6 selective scan layer (§2.2.10)",
       Structure::kDiagonal,
       "expand·d_model·state_size + (conv_size−1)·expand·d_model",
       {"recurrent", "fused CPU", "explicit"},
       make_mamba1},
      {"rglru",
       "RG-LRU recurrent block, Hawk / Griffin (§2.2.16)",
       Structure::kDiagonal,
       "expand·d_model + (conv_size−1)·expand·d_model",
       {"recurrent", "fused CPU", "explicit"},
       make_rglru},
      {"qlstm",
       "qLSTM, σ(f) forget gate (§2.2.15)",
       Structure::kDiagonal,
       "expand·d_model + (conv_size−1)·expand·d_model",
       {"recurrent", "fused CPU", "explicit"},
       make_qlstm},
      {"dlr", "DLR, diagonal linear RNN: Vandermonde kernel + FFT conv, GELU, Linear (§2.2.8)",
       Structure::kLTIDiagonal, "2·d_model·state_size", lti_paths(), make_dlr},
      {"s4d", "S4D-Lin, ZOH, per-channel Δ: kernel + FFT conv, GELU, GLU (§2.2.7)",
       Structure::kLTIDiagonal, "d_model·state_size", lti_paths(), make_s4d},
      {"dss", "DSS-EXP, Λ shared, per-channel Δ: kernel + FFT conv, GELU, Linear (§2.2.7)",
       Structure::kLTIDiagonal, "2·d_model·state_size", lti_paths(), make_dss},
      {"lru",
       "LRU, exp-parametrized complex diagonal modes, GELU, GLU (§2.2.9)",
       Structure::kLTIDiagonal,
       "2·state_size",
       {"recurrent", "fused CPU (complex diagonal scan)", "explicit"},
       make_lru},
      {"softmax_nope",
       "softmax attention, no position information in the mixer (§2.2.1); causal unless "
       "model.bidirectional",
       Structure::kIdentity,
       "KV cache 2·d_model per position",
       {"recurrent (KV cache)", "batched matmul", "explicit"},
       make_softmax_nope},
      {"softmax_alibi",
       "softmax attention with ALiBi biases (§2.2.3; -m|i-j| when model.bidirectional)",
       Structure::kOrthogonalLTI,
       "KV cache 2·d_model per position",
       {"recurrent (KV cache)", "batched matmul", "explicit"},
       make_softmax_alibi},
      {"normalized_attention",
       "normalized attention (DSF), η_i = exp(W_η u_i + b_η) (§2.2.5; model.variant companion)",
       Structure::kIdentity, "heads·head_dim·d_model/heads", gated_paths(),
       [](const ZooOptions& o) { return make_normalized_attention(o); }},
      // Baselines outside the framework (§2.3): F (ATen) and R only. The LSTM is "lstm_block"
      // because "lstm" is the top-level SD-SSM-paper LSTM model (model/lstm_model.h).
      {"gru",
       "GRU, PyTorch nn.GRU semantics, hidden = d_model (§2.3; not in framework)",
       Structure::kNotInFramework,
       "d_model",
       {"recurrent", "ATen GRU"},
       make_gru},
      {"elman",
       "Elman RNN, tanh, PyTorch nn.RNN semantics, hidden = d_model (§2.3; not in framework)",
       Structure::kNotInFramework,
       "d_model",
       {"recurrent", "ATen RNN"},
       make_elman},
      {"elman_relu",
       "Elman RNN, relu, PyTorch nn.RNN semantics, hidden = d_model (§2.3; not in framework)",
       Structure::kNotInFramework,
       "d_model",
       {"recurrent", "ATen RNN"},
       make_elman_relu},
      {"lstm_block",
       "LSTM, PyTorch nn.LSTM semantics, hidden = d_model (§2.3; not in framework)",
       Structure::kNotInFramework,
       "2·d_model",
       {"recurrent", "ATen LSTM"},
       make_lstm_block},
      {"mlp",
       "position-wise MLP fc2(GELU(fc1 x)), hidden expand·d_model: no time mixing (§2.3)",
       Structure::kNotInFramework,
       "0",
       {"position-wise"},
       make_mlp},
      // The SD-SSM paper's models as zoo mixers on width d_model; "sdssm" and "complex_diagonal"
      // are the top-level published models (model/sdssm_model.h, model/complex_diagonal_model.h).
      {"sdssm_block",
       "SD-SSM, colnorm_p of a softmax-mixed dense dictionary, LayerNorm + Linear readout "
       "(§2.2.20)",
       Structure::kDense,
       "state_size",
       {"recurrent", "fused CPU", "explicit"},
       make_sdssm_block},
      {"complex_diagonal_block",
       "selective complex-diagonal SSM with B, |λ| = 1, linear readout of [Re, Im] (§2.2.21)",
       Structure::kComplexDiagonal,
       "2·state_size",
       {"recurrent", "fused CPU", "explicit"},
       make_complex_diagonal_block},
      {"local_attention",
       "local attention: chunks of w = model.chunk_size, query sees its chunk and the previous "
       "one (and the next with model.bidirectional); RoPE, learnable temperature (DLR baseline, "
       "protocols §4.2)",
       Structure::kOrthogonalLTI,
       "KV cache 2·d_model per visible position (≤ 2·chunk_size)",
       {"recurrent (KV cache)", "fused CPU (banded, recomputing backward)", "chunked", "explicit"},
       make_local_attention},
  };
  return infos;
}

std::vector<std::string> mixer_names() {
  std::vector<std::string> names;
  for (const auto& i : mixer_infos()) names.push_back(i.name);
  return names;
}

std::shared_ptr<Mixer> make_mixer(const std::string& name, const ZooOptions& options) {
  for (const auto& i : mixer_infos()) {
    if (i.name != name) continue;
    const auto& ok = bidirectional_mixers();
    if (options.bidirectional && name != "lru" &&  // lru says why itself
        std::find(ok.begin(), ok.end(), name) == ok.end())
      throw UserError("model.bidirectional = true does not apply to mixer '" + name +
                      "' (a causal scan); mixers with a bidirectional form: " + join_names(ok));
    return i.make(options);
  }
  throw UserError("unknown mixer '" + name + "' (valid: " + join_names(mixer_names()) + ")");
}

}  // namespace seqlab::mixers
