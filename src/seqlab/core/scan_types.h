// Shared vocabulary of the linear-φ scan kernels (spec/mixers.md §3.2, §6.1).
#pragma once
#include <torch/types.h>

#include <string>
#include <vector>

namespace seqlab::core {

// Which algorithm computes a recurrence (spec/mixers.md §6.1 "Paths"):
//   kFused      hand-written CPU kernel with hand-written backward (§3.2.1, §3.3.1);
//   kChunked    chunked matrix-multiply form in LibTorch ops, any device, autograd backward
//               (§3.2.2-§3.2.4);
//   kReference  one step at a time in plain LibTorch ops (slow, obviously correct).
enum class ScanPath { kFused, kChunked, kReference };

const char* scan_path_name(ScanPath p);
// "fused" | "chunked" | "reference"; throws seqlab::UserError naming the valid choices.
ScanPath scan_path_from_name(const std::string& name);
std::vector<std::string> scan_path_names();

// Output of a matrix-state scan: y (B, H, T, dv) and the final state S_T (B, H, n, dv).
struct ScanResult {
  torch::Tensor y;
  torch::Tensor state;
};

}  // namespace seqlab::core
