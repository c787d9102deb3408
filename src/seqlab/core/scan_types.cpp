#include "seqlab/core/scan_types.h"

#include "seqlab/util/error.h"

namespace seqlab::core {

const char* scan_path_name(ScanPath p) {
  switch (p) {
    case ScanPath::kFused:
      return "fused";
    case ScanPath::kChunked:
      return "chunked";
    case ScanPath::kReference:
      return "reference";
  }
  return "unknown";
}

std::vector<std::string> scan_path_names() {
  return {"fused", "chunked", "reference"};
}

ScanPath scan_path_from_name(const std::string& name) {
  if (name == "fused") return ScanPath::kFused;
  if (name == "chunked") return ScanPath::kChunked;
  if (name == "reference") return ScanPath::kReference;
  throw UserError("unknown scan path '" + name + "' (valid: " + join_names(scan_path_names()) +
                  ")");
}

}  // namespace seqlab::core
