// The safetensors file format (https://github.com/huggingface/safetensors, "Format"): an 8-byte
// little-endian header length N, N bytes of JSON header
//   {"<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"<key>": "<string>"}}
// padded with spaces so that N is a multiple of 8, then the raw little-endian tensor data, tensors
// in name order, offsets relative to the end of the header.
#pragma once
#include <torch/types.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace seqlab {

// Writes `tensors` (any device, any layout; dtypes float32, float64, int32, int64, bool) and
// string `metadata` atomically (write_file_atomic). Throws seqlab::UserError on a duplicate or
// empty name, the reserved name "__metadata__", an unsupported dtype, or a write failure.
void save_safetensors(const std::string& path,
                      const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Reads every tensor (CPU, contiguous), sorted by name. Validates the whole file: header length,
// JSON, dtypes (F32, F64, I32, I64, BOOL), shapes, and data offsets that must tile the data
// section exactly. Throws seqlab::UserError naming the path and the problem. When `metadata` is
// given it receives the "__metadata__" entries.
std::vector<std::pair<std::string, torch::Tensor>> load_safetensors(
    const std::string& path, std::map<std::string, std::string>* metadata = nullptr);

}  // namespace seqlab
