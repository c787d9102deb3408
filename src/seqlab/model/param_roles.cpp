#include "seqlab/model/param_roles.h"

#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include <map>
#include <set>

#include "seqlab/mixers/layers.h"
#include "seqlab/mixers/mixer.h"
#include "seqlab/util/error.h"

namespace seqlab::model {

const char* param_role_name(ParamRole role) {
  switch (role) {
    case ParamRole::kWeight:
      return "weight";
    case ParamRole::kDynamics:
      return "dynamics";
    case ParamRole::kNorm:
      return "norm";
  }
  return "?";
}

namespace {

std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

bool is_norm_module(const torch::nn::Module& m) {
  return dynamic_cast<const torch::nn::LayerNormImpl*>(&m) != nullptr ||
         dynamic_cast<const torch::nn::GroupNormImpl*>(&m) != nullptr ||
         dynamic_cast<const mixers::RMSNormImpl*>(&m) != nullptr ||
         dynamic_cast<const mixers::TransposedLNImpl*>(&m) != nullptr;
}

std::string leaf(const std::string& name) {
  const auto dot = name.rfind('.');
  return dot == std::string::npos ? name : name.substr(dot + 1);
}

// Marks the norm and dynamics parameters of `module`, whose full name prefix is `prefix`.
void mark_special(const std::string& prefix, const torch::nn::Module& module,
                  std::map<std::string, ParamRole>& special) {
  if (is_norm_module(module))
    for (const auto& p : module.named_parameters(/*recurse=*/true))
      special[join(prefix, p.key())] = ParamRole::kNorm;
  if (const auto* mixer = dynamic_cast<const mixers::Mixer*>(&module)) {
    const auto params = module.named_parameters(/*recurse=*/true);
    for (const auto& local : mixer->dynamics_parameters()) {
      if (!params.contains(local))
        throw std::logic_error(mixer->name() + " declares dynamics parameter '" + local +
                               "', which it does not have");
      special[join(prefix, local)] = ParamRole::kDynamics;
    }
  }
}

}  // namespace

std::vector<RoledParameter> parameter_roles(torch::nn::Module& model) {
  std::map<std::string, ParamRole> special;
  // The model itself separately: named_modules(include_self) needs it held by a shared_ptr.
  mark_special("", model, special);
  for (const auto& item : model.named_modules("", /*include_self=*/false))
    mark_special(item.key(), *item.value(), special);
  std::vector<RoledParameter> out;
  for (const auto& p : model.named_parameters(/*recurse=*/true)) {
    auto role = ParamRole::kWeight;
    if (auto it = special.find(p.key()); it != special.end())
      role = it->second;
    else if (leaf(p.key()).rfind("norm", 0) == 0)
      role = ParamRole::kNorm;
    out.push_back({p.key(), p.value(), role});
  }
  return out;
}

void apply_global_init(torch::nn::Module& model, const std::string& scheme, double std) {
  if (scheme == "default") return;
  if (scheme != "normal")
    throw UserError("model.init: unknown scheme '" + scheme + "' (valid: default, normal)");
  if (!(std > 0)) throw UserError("model.init_std must be > 0, got " + std::to_string(std));
  std::set<std::string> reinit;
  for (const auto& p : parameter_roles(model))
    if (p.role == ParamRole::kWeight) reinit.insert(p.name);
  torch::NoGradGuard no_grad;
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    const auto& prefix = item.key();
    if (auto lin = std::dynamic_pointer_cast<torch::nn::LinearImpl>(item.value())) {
      if (reinit.count(join(prefix, "weight"))) lin->weight.normal_(0.0, std);
      if (lin->bias.defined() && reinit.count(join(prefix, "bias"))) lin->bias.zero_();
    } else if (auto emb = std::dynamic_pointer_cast<torch::nn::EmbeddingImpl>(item.value())) {
      if (reinit.count(join(prefix, "weight"))) emb->weight.normal_(0.0, std);
    }
  }
}

}  // namespace seqlab::model
