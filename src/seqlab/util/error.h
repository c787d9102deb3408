// One exception type for every user-facing error (bad config, unknown task, corrupt checkpoint).
// The CLI prints what() on one line and exits non-zero; nothing else catches it.
#pragma once
#include <stdexcept>
#include <string>

namespace seqlab {

class UserError : public std::runtime_error {
 public:
  explicit UserError(const std::string& what) : std::runtime_error(what) {}
};

// "a, b, c" from a list of names, for "valid choices" messages.
template <typename Container>
std::string join_names(const Container& names, const char* sep = ", ") {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += sep;
    out += n;
  }
  return out;
}

}  // namespace seqlab
