#include "seqlab/eval/yaml_fields.h"

#include <algorithm>
#include <cctype>

#include "seqlab/util/error.h"

namespace seqlab::eval::yaml_fields {

void fail(const std::string& origin, const std::string& what) {
  throw UserError(origin + ": " + what);
}

void check_keys(const YAML::Node& map, const std::vector<std::string>& valid,
                const std::string& where, const std::string& origin) {
  if (!map.IsMap()) fail(origin, where + " must be a mapping");
  for (const auto& kv : map) {
    const auto key = kv.first.as<std::string>();
    if (std::find(valid.begin(), valid.end(), key) == valid.end())
      fail(origin, "unknown key '" + key + "' in " + where + " (valid: " + join_names(valid) + ")");
  }
}

std::string scalar(const YAML::Node& n, const std::string& where, const std::string& origin) {
  if (!n || !n.IsScalar() || n.Scalar().empty())
    fail(origin, where + " must be a non-empty string");
  return n.Scalar();
}

std::vector<std::string> scalar_list(const YAML::Node& n, const std::string& where,
                                     const std::string& origin, bool allow_empty) {
  if (!n.IsSequence()) fail(origin, where + " must be a list");
  std::vector<std::string> out;
  for (size_t i = 0; i < n.size(); ++i)
    out.push_back(scalar(n[i], where + "[" + std::to_string(i) + "]", origin));
  if (out.empty() && !allow_empty) fail(origin, where + " is empty");
  return out;
}

std::vector<std::string> override_list(const YAML::Node& n, const std::string& where,
                                       const std::string& origin) {
  auto sets = scalar_list(n, where, origin);
  for (const auto& s : sets)
    if (s.find('=') == std::string::npos)
      fail(origin, where + ": '" + s + "' is not a key=value override");
  return sets;
}

bool valid_label(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.';
  });
}

std::string model_label(const YAML::Node& model, const std::string& where, const std::string& list,
                        std::set<std::string>& seen, const std::string& origin) {
  const auto label = scalar(model["label"], where + ".label", origin);
  if (!valid_label(label))
    fail(origin, where + ".label '" + label +
                     "' may hold only letters, digits, '_' and '.' (it names run folders)");
  if (!seen.insert(label).second)
    fail(origin, "model label '" + label + "' appears twice in " + list);
  return label;
}

YAML::Node load(const std::string& yaml_text, const std::string& origin) {
  try {
    return YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    fail(origin, std::string("malformed YAML: ") + e.what());
  }
}

}  // namespace seqlab::eval::yaml_fields
