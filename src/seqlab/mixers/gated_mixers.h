// Factories of the zoo mixers built on the gated matrix-state scan (gated_mixer.h), one source
// file per family. Each reads the ZooOptions fields its comment names and throws
// seqlab::UserError naming the option on a bad size.
#pragma once
#include <memory>

#include "seqlab/mixers/mixer.h"
#include "seqlab/mixers/zoo.h"

namespace seqlab::mixers {

// Linear attention, elu+1 features, normalized (spec §2.2.4). d_model, heads, head_dim.
std::shared_ptr<Mixer> make_linear_attention(const ZooOptions& o);
// RetNet multi-scale retention, RoPE folded into q/k, γ_h = 1 − 2^{−5−h} (§2.2.6). d_model, heads,
// head_dim (value head dim 2·head_dim).
std::shared_ptr<Mixer> make_retnet(const ZooOptions& o);
// Mamba-2 / SSD layer (§2.2.11). d_model, expand, heads, state_size (N), conv_size.
std::shared_ptr<Mixer> make_mamba2(const ZooOptions& o);
// Gated linear attention (§2.2.12). d_model, heads, head_dim (default d_model / (2 heads)).
std::shared_ptr<Mixer> make_gla(const ZooOptions& o);
// HGRN2 (§2.2.13). d_model, heads, head_dim.
std::shared_ptr<Mixer> make_hgrn2(const ZooOptions& o);
// mLSTM cell with the max stabilizer, output gate and projection (§2.2.14). d_model, heads,
// head_dim.
std::shared_ptr<Mixer> make_mlstm(const ZooOptions& o);

namespace detail {
// Throws UserError unless heads ≥ 1 divides `width` (named `what`) and d_model ≥ 1.
void check_heads(const char* mixer, const ZooOptions& o, int64_t width, const char* what);
// head_dim if set, else fallback; throws UserError if the result is < 1.
int64_t head_dim_or(const char* mixer, const ZooOptions& o, int64_t fallback);
}  // namespace detail

}  // namespace seqlab::mixers
