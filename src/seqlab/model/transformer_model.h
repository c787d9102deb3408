// Causal softmax-attention Transformer baseline (spec/mixers.md §2.2.1-2.2.2, §5.1, §5.2).
//
//   x = Embedding(vocab, d)(tokens) [+ Embedding(max_len, d)(positions) if positions = learned]
//   for each of `layers` pre-norm blocks (§5.1):
//     x += Attn(LayerNorm(x))                  causal softmax attention, RoPE inside if "rope"
//     x += fc2(GELU(fc1(LayerNorm(x))))        MLP d -> mlp_ratio d -> d, exact-erf GELU (§5.2)
//   logits = Linear(d -> C)(LayerNorm(x))      at every position
// Parameter names follow PyTorch (docs/export/transformer.md): embedding.weight,
// pos_embedding.weight, blocks.<l>.norm1.*, blocks.<l>.attn.{q,k,v,out}_proj.*, blocks.<l>.norm2.*,
// blocks.<l>.mlp.fc{1,2}.*, norm.*, readout.*.
#pragma once
#include <cstdint>
#include <memory>

#include "seqlab/config/config.h"
#include "seqlab/model/model.h"

namespace seqlab::model {

// Uses cfg.d_model, heads, layers, positions (nope | learned | rope), mlp_ratio, max_len.
// Throws seqlab::UserError naming the key, its value and what is allowed on an invalid config.
// forward() throws seqlab::UserError when positions = learned and T > max_len. family() is
// "transformer".
std::shared_ptr<SequenceModel> make_transformer_model(const config::ModelConfig& cfg,
                                                      int64_t vocab_size, int64_t num_classes);

}  // namespace seqlab::model
