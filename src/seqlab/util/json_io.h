// Small file helpers for the run directory: atomic writes and JSON / JSONL reading with errors that
// name the file and line (design/architecture.md "Run directory").
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace seqlab {

// Writes `content` to `path` + ".tmp.<pid>", fsyncs it, renames it over `path` and fsyncs the
// directory, so readers see either the old or the new file, never a partial one. Throws
// seqlab::UserError naming the path on any failure (the temporary file is removed).
void write_file_atomic(const std::string& path, const std::string& content);

// Reads a whole file; throws seqlab::UserError naming the path if it is missing or unreadable.
std::string read_text_file(const std::string& path);

// Parses one JSON document. Throws seqlab::UserError naming the path (and the parser's message)
// on a missing file or malformed JSON.
nlohmann::json read_json_file(const std::string& path);

// Parses one JSON value per non-blank line. Throws seqlab::UserError naming the path and the
// 1-based line number of the first malformed line.
std::vector<nlohmann::json> read_jsonl_file(const std::string& path);

}  // namespace seqlab
