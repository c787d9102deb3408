// Checked reads of the YAML files that describe many runs (protocol grids, sweeps): every
// problem is a seqlab::UserError that names the file (`origin`) and the field.
#pragma once
#include <yaml-cpp/yaml.h>

#include <set>
#include <string>
#include <vector>

namespace seqlab::eval::yaml_fields {

[[noreturn]] void fail(const std::string& origin, const std::string& what);
// `map` must be a mapping whose keys are all in `valid`.
void check_keys(const YAML::Node& map, const std::vector<std::string>& valid,
                const std::string& where, const std::string& origin);
// A non-empty scalar.
std::string scalar(const YAML::Node& n, const std::string& where, const std::string& origin);
// A list of non-empty scalars (an empty list is an error unless allow_empty).
std::vector<std::string> scalar_list(const YAML::Node& n, const std::string& where,
                                     const std::string& origin, bool allow_empty = true);
// A list of "key=value" overrides.
std::vector<std::string> override_list(const YAML::Node& n, const std::string& where,
                                       const std::string& origin);
// Letters, digits, '_' and '.' only (the label names run folders).
bool valid_label(const std::string& s);
// A model entry's `label`: non-empty, valid_label, and not yet in `seen` (then added). `list`
// names the list in the messages, e.g. "sweep.models".
std::string model_label(const YAML::Node& model, const std::string& where, const std::string& list,
                        std::set<std::string>& seen, const std::string& origin);
// Parses the text; malformed YAML is an error naming `origin`.
YAML::Node load(const std::string& yaml_text, const std::string& origin);

}  // namespace seqlab::eval::yaml_fields
