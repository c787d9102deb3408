// The zoo registry (spec/mixers.md §2.1): one entry per mixer with its structure class, state
// size and paths. Kept in one place so `seqlab list mixers`, the model registry and the config
// schema agree (tests/model/zoo_model_test.cpp checks the config's list).
#include "seqlab/mixers/zoo.h"

#include "seqlab/mixers/deltanet.h"
#include "seqlab/mixers/dlr.h"
#include "seqlab/mixers/gated_mixers.h"
#include "seqlab/mixers/lru.h"
#include "seqlab/mixers/mamba1.h"
#include "seqlab/mixers/normalized_attention.h"
#include "seqlab/mixers/qlstm.h"
#include "seqlab/mixers/rglru.h"
#include "seqlab/mixers/s4d.h"
#include "seqlab/mixers/softmax_attention.h"
#include "seqlab/util/error.h"

namespace seqlab::mixers {

namespace {

std::shared_ptr<Mixer> make_softmax(const ZooOptions& o) {
  return std::make_shared<SoftmaxAttentionImpl>(
      SoftmaxAttentionOptions(o.d_model, o.heads).position("rope"));
}

std::shared_ptr<Mixer> make_softmax_nope(const ZooOptions& o) {
  return std::make_shared<SoftmaxAttentionImpl>(
      SoftmaxAttentionOptions(o.d_model, o.heads).position("none"));
}

std::shared_ptr<Mixer> make_softmax_alibi(const ZooOptions& o) {
  return std::make_shared<SoftmaxAttentionImpl>(
      SoftmaxAttentionOptions(o.d_model, o.heads).position("alibi"));
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
       "causal softmax attention with RoPE (§2.2.1-2.2.2)",
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
       "causal softmax attention, no position information in the mixer (§2.2.1)",
       Structure::kIdentity,
       "KV cache 2·d_model per position",
       {"recurrent (KV cache)", "batched matmul", "explicit"},
       make_softmax_nope},
      {"softmax_alibi",
       "causal softmax attention with ALiBi biases (§2.2.3)",
       Structure::kOrthogonalLTI,
       "KV cache 2·d_model per position",
       {"recurrent (KV cache)", "batched matmul", "explicit"},
       make_softmax_alibi},
      {"normalized_attention",
       "normalized attention (DSF), η_i = exp(W_η u_i + b_η) (§2.2.5; model.variant companion)",
       Structure::kIdentity, "heads·head_dim·d_model/heads", gated_paths(),
       [](const ZooOptions& o) { return make_normalized_attention(o); }},
  };
  return infos;
}

std::vector<std::string> mixer_names() {
  std::vector<std::string> names;
  for (const auto& i : mixer_infos()) names.push_back(i.name);
  return names;
}

std::shared_ptr<Mixer> make_mixer(const std::string& name, const ZooOptions& options) {
  for (const auto& i : mixer_infos())
    if (i.name == name) return i.make(options);
  throw UserError("unknown mixer '" + name + "' (valid: " + join_names(mixer_names()) + ")");
}

}  // namespace seqlab::mixers
