// The models the statistical papers analyse (spec/protocols.md §3.2 "Models", QSTR reference
// code; §1.3 FFN-window), for float-feature regression tasks (qstr family, smooth_*):
//
//   attention_mlp  one layer of H-head softmax attention without a mask, each head of full width
//                  (head_dim, 0 = F: "each head sees the whole token", §3.5), Q/K/V in-projections
//                  and an out-projection Linear(H·head_dim → F), all with bias; then per position
//                  Linear(F → mlp_size) → ReLU → Linear(mlp_size → O). No residual, no norm.
//                  H = 1, head_dim = F is the reference code's nn.MultiheadAttention(D_e, 1).
//   bigru          bidirectional GRU (PyTorch nn.GRU semantics), hidden_size per direction, then
//                  per position Linear(2·hidden_size → O).
//   flat_mlp       the sequence flattened: Linear(T·F → mlp_ratio·T) → ReLU → Linear(→
//                  hidden_size) → ReLU → Linear(hidden_size → T·O), reshaped to (B, T, O): the
//                  reference FFN's widths [N·d, 1000] with mlp_ratio = d, hidden_size = 1000. Its
//                  input width needs the sequence length (train.max_length), fixed at build time.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "seqlab/config/config.h"
#include "seqlab/model/model.h"

namespace seqlab::model {

bool is_baseline_model(const std::string& name);

// attention_mlp: per head h the bilinear form of its scores, W_Q,hᵀ W_K,h (F × F; the score of
// query z_i and key z_j is z_iᵀ M_h z_j plus bias terms), the matrix QSTR Fig. 2 inspects
// (protocols.md §3.6). Empty for other models.
std::vector<torch::Tensor> attention_qk_products(SequenceModel& model);
// Throws seqlab::UserError for token tasks (these models take float features), a missing
// sequence length (flat_mlp) or a bad width.
std::shared_ptr<SequenceModel> make_baseline_model(const config::ModelConfig& cfg,
                                                   int64_t input_features, int64_t outputs,
                                                   int64_t sequence_length);

}  // namespace seqlab::model
