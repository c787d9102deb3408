// Position-wise MLP, the zero-time-mixing baseline outside the coefficient-dynamics framework
// (spec/mixers.md §2.1 "Outside the framework", §2.3 "MLP / FFN"):
//   y_t = fc2(GELU(fc1 x_t)),   fc1: Linear(d → m), fc2: Linear(m → d), both with bias,
// GELU the exact erf form (§0.2), m = hidden_size. y_t depends on x_t only: no state.
// Initialization: PyTorch Linear defaults (§0.3). Parameter names fc1.*, fc2.* (zoology MLP).
//
// Paths (§6.1; baselines have F and R only): forward runs the fused ATen linear / gelu ops;
// reference writes the same function with matmul and x·Φ(x) = x·(1 + erf(x/√2))/2. step() applies
// the function to x_t with an empty state. coefficients() throws.
#pragma once
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "seqlab/mixers/mixer.h"

namespace seqlab::mixers {

class MLPMixerImpl : public Mixer {
 public:
  // Throws seqlab::UserError when d_model or hidden_size < 1.
  MLPMixerImpl(int64_t d_model, int64_t hidden_size);

  // (B, T, d) -> (B, T, d), position-wise.
  torch::Tensor forward(const torch::Tensor& x) override;
  torch::Tensor reference(const torch::Tensor& x) override;
  // The state is empty; step(x_t) (B, d) -> y_t (B, d).
  std::vector<torch::Tensor> initial_state(int64_t batch,
                                           const torch::TensorOptions& options) override;
  torch::Tensor step(std::vector<torch::Tensor>& state, const torch::Tensor& x_t) override;
  // 0: no floats are carried between positions.
  int64_t state_size(int64_t position) const override {
    (void)position;
    return 0;
  }
  Structure structure() const override { return Structure::kNotInFramework; }

  int64_t hidden_size() const { return hidden_size_; }

  torch::nn::Linear fc1{nullptr}, fc2{nullptr};

 private:
  void check_input(const torch::Tensor& x, int64_t dims, const char* path) const;

  int64_t d_model_, hidden_size_;
};
TORCH_MODULE(MLPMixer);

}  // namespace seqlab::mixers
