// A backbone around any zoo mixer (spec/mixers.md §5.1-§5.2): model.name is the mixer.
//
//   x = Embedding(vocab, d)(tokens), or Linear(F, d)(features) for float-feature tasks (+ PE:
//   model.pos_encoding none | learned | sinusoidal, §2.2.1;
//       learned = Embedding(max_len, d) "pos_embedding", a longer sequence is a UserError)
//   for each of `layers` blocks of model.block (§5.1):
//     pre_norm (default):
//      [x += ChannelMixer(Norm(x))]             model.pre_channel_mixer: the smoothness paper's
//                                               FNN -> SSM -> FNN block (protocols.md §1.3)
//       x += Mixer(Norm(x))                     the zoo mixer (mixers/zoo.h)
//       x += ChannelMixer(Norm(x))              mlp: fc2(act(fc1 x)), act = model.activation
//                                               (GELU or ReLU), hidden mlp_ratio·d;
//                                               glu: fc2(y ⊙ SiLU(gate)), (y, gate) = fc1 x;
//                                               none: skipped (§5.2)
//     post_norm (DLR): x = Norm(x + Mixer(x)); x = Norm(x + ChannelMixer(x))
//     none:            x = Mixer(x); x = ChannelMixer(x)   (no residual, no norm)
//   logits = Linear(d -> C)(Norm(x))            at every position; the final Norm only after
//                                               pre_norm blocks (DLR: "no final norm")
// Norm (model.norm) is RMSNorm or LayerNorm (ε = 1e-5), or DLR's TransposedLN (scalar shift and
// scale, biased std, no ε). Parameter names: embedding.weight,
// blocks.<l>.{norm0,pre_channel,norm1,mixer,norm2,channel}.*, norm.*, readout.*.
// LTI mixer options (model.bidirectional, max_kernel_length, dt_min/dt_max, lti_output, ...)
// reach dlr / s4d / dss / lru through zoo_options().
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include <torch/types.h>

#include "seqlab/config/config.h"
#include "seqlab/mixers/zoo.h"
#include "seqlab/model/model.h"

namespace seqlab::model {

// The mixer options a model config asks for.
mixers::ZooOptions zoo_options(const config::ModelConfig& cfg);

// Throws seqlab::UserError naming the key on an invalid config. family() is the mixer name.
// input_features > 0: the input is float features (B, T, F), encoded by Linear(F, d) "encoder"
// instead of the token Embedding (DLR's encoder, mixers.md §5.5).
std::shared_ptr<SequenceModel> make_zoo_model(const config::ModelConfig& cfg, int64_t vocab_size,
                                              int64_t num_classes, int64_t input_features = 0);

// The mixers of every block, in order (for inspection and tests); empty for other families.
std::vector<std::shared_ptr<mixers::Mixer>> zoo_mixers(const SequenceModel& model);

// Each block's mixer with the input it receives on `tokens` (its pre-norm output), for
// inspection; empty for models that are not zoo models.
struct MixerTrace {
  std::shared_ptr<mixers::Mixer> mixer;
  torch::Tensor input;  // (B, T, d_model)
};
std::vector<MixerTrace> trace_mixers(SequenceModel& model, const torch::Tensor& tokens);

}  // namespace seqlab::model
