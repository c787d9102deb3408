// Input validation shared by the gated-scan paths (gated_scan.h documents the shapes).
#pragma once
#include <torch/types.h>

namespace seqlab::core::detail {

// Throws c10::Error naming `who` and the expected shape. g and s0 may be undefined.
void check_gated_scan_inputs(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                             const torch::Tensor& g, const torch::Tensor& s0, const char* who);

}  // namespace seqlab::core::detail
