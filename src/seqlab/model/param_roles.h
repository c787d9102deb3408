// Parameter roles (spec/mixers.md §5.6 "Parameter groups"): which parameters of a model set the
// dynamics (mixer-declared: A_log, Δ bias, Λ, W, D, ...), which belong to a normalization layer,
// and which are ordinary weights. The trainer builds its optimizer groups from the roles and the
// global initializer (model.init) re-initializes ordinary weights only.
#pragma once
#include <torch/nn/module.h>
#include <torch/types.h>

#include <string>
#include <vector>

namespace seqlab::model {

enum class ParamRole {
  kWeight,    // weight decay, global re-initialization
  kDynamics,  // no weight decay, own learning rate, never re-initialized
              // (Mixer::dynamics_parameters)
  kNorm,      // LayerNorm / RMSNorm / GroupNorm affine: no weight decay, never re-initialized
};
const char* param_role_name(ParamRole role);

struct RoledParameter {
  std::string name;  // full dotted name, as in named_parameters()
  torch::Tensor tensor;
  ParamRole role;
};

// Every parameter of `model` (in named_parameters() order) with its role. A parameter is kNorm if
// its module is a LayerNorm, RMSNorm, GroupNorm or TransposedLN, or its own name starts with "norm"
// (mixers that hold a GroupNorm affine directly, e.g. RetNet's norm_weight).
std::vector<RoledParameter> parameter_roles(torch::nn::Module& model);

// Global initializer (spec §5.5: FLA models re-initialize Linear weights ~ N(0, std²), unverified):
// scheme "default" keeps every module's own initialization; "normal" draws every Linear and
// Embedding weight of role kWeight from N(0, std²) and zeroes Linear biases of role kWeight.
// Dynamics and norm parameters are left exactly as their modules initialized them. Throws
// seqlab::UserError on an unknown scheme or std <= 0.
void apply_global_init(torch::nn::Module& model, const std::string& scheme, double std);

}  // namespace seqlab::model
