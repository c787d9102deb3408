#include "seqlab/util/safetensors.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <tuple>

#include "seqlab/util/error.h"
#include "seqlab/util/json_io.h"

namespace seqlab {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors data is little-endian; this writer copies host bytes");

constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the reference implementation's limit

struct DtypeEntry {
  torch::ScalarType type;
  const char* name;
  size_t size;
};

constexpr DtypeEntry kDtypes[] = {
    {torch::kFloat32, "F32", 4}, {torch::kFloat64, "F64", 8}, {torch::kInt32, "I32", 4},
    {torch::kInt64, "I64", 8},   {torch::kBool, "BOOL", 1},
};

std::string valid_dtypes() {
  std::vector<std::string> names;
  for (const auto& d : kDtypes) names.emplace_back(d.name);
  return join_names(names);
}

const DtypeEntry* dtype_of(torch::ScalarType t) {
  for (const auto& d : kDtypes)
    if (d.type == t) return &d;
  return nullptr;
}

const DtypeEntry* dtype_of(const std::string& name) {
  for (const auto& d : kDtypes)
    if (name == d.name) return &d;
  return nullptr;
}

}  // namespace

void save_safetensors(const std::string& path,
                      const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::vector<std::pair<std::string, torch::Tensor>> sorted;
  sorted.reserve(tensors.size());
  for (const auto& [name, t] : tensors) {
    if (name.empty()) throw UserError("safetensors " + path + ": empty tensor name");
    if (name == "__metadata__")
      throw UserError("safetensors " + path + ": '__metadata__' is reserved, not a tensor name");
    if (!t.defined())
      throw UserError("safetensors " + path + ": tensor '" + name + "' is undefined");
    if (!dtype_of(t.scalar_type()))
      throw UserError("safetensors " + path + ": tensor '" + name + "' has dtype " +
                      std::string(c10::toString(t.scalar_type())) +
                      ", not one of the supported dtypes (" + valid_dtypes() + ")");
    sorted.emplace_back(name, t.detach().to(torch::kCPU).contiguous());
  }
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 1; i < sorted.size(); ++i)
    if (sorted[i].first == sorted[i - 1].first)
      throw UserError("safetensors " + path + ": duplicate tensor name '" + sorted[i].first + "'");

  nlohmann::json header = nlohmann::json::object();
  uint64_t offset = 0;
  for (const auto& [name, t] : sorted) {
    const uint64_t bytes = static_cast<uint64_t>(t.numel()) * dtype_of(t.scalar_type())->size;
    header[name] = {{"dtype", dtype_of(t.scalar_type())->name},
                    {"shape", t.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    throw UserError("safetensors " + path + ": cannot encode header (" + e.what() + ")");
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // header length a multiple of 8

  std::string content(8 + text.size() + offset, '\0');
  const uint64_t n = text.size();
  std::memcpy(&content[0], &n, 8);  // little-endian u64 (static_assert above)
  std::memcpy(&content[8], text.data(), text.size());
  char* data = &content[8 + text.size()];
  for (const auto& [name, t] : sorted) {
    const auto& entry = header[name]["data_offsets"];
    const auto begin = entry[0].get<uint64_t>(), end = entry[1].get<uint64_t>();
    if (end > begin) std::memcpy(data + begin, t.data_ptr(), end - begin);
  }
  write_file_atomic(path, content);
}

std::vector<std::pair<std::string, torch::Tensor>> load_safetensors(
    const std::string& path, std::map<std::string, std::string>* metadata) {
  const std::string file = read_text_file(path);
  auto bad = [&](const std::string& what) -> UserError {
    return UserError("invalid safetensors file " + path + ": " + what);
  };
  if (file.size() < 8) throw bad("truncated (" + std::to_string(file.size()) + " bytes)");
  uint64_t header_len = 0;
  std::memcpy(&header_len, file.data(), 8);
  if (header_len > kMaxHeaderBytes)
    throw bad("header length " + std::to_string(header_len) + " exceeds the 100 MB limit");
  if (header_len > file.size() - 8)
    throw bad("truncated: header of " + std::to_string(header_len) + " bytes but only " +
              std::to_string(file.size() - 8) + " bytes follow");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(file.substr(8, header_len));
  } catch (const nlohmann::json::parse_error& e) {
    throw bad(std::string("malformed JSON header (") + e.what() + ")");
  }
  if (!header.is_object()) throw bad("header is not a JSON object");
  const char* data = file.data() + 8 + header_len;
  const uint64_t data_len = file.size() - 8 - header_len;

  struct Span {
    uint64_t begin, end;
    std::string name;
  };
  std::vector<Span> spans;
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") {
      if (!info.is_object()) throw bad("__metadata__ is not an object");
      for (const auto& [k, v] : info.items()) {
        if (!v.is_string()) throw bad("__metadata__ value of '" + k + "' is not a string");
        if (metadata) (*metadata)[k] = v.get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor '" + name + "': ";
    if (!info.is_object()) throw bad(where + "entry is not an object");
    if (!info.contains("dtype") || !info["dtype"].is_string()) throw bad(where + "no dtype");
    const auto dtype_name = info["dtype"].get<std::string>();
    const DtypeEntry* dt = dtype_of(dtype_name);
    if (!dt)
      throw bad(where + "unsupported dtype '" + dtype_name + "' (valid: " + valid_dtypes() + ")");
    if (!info.contains("shape") || !info["shape"].is_array()) throw bad(where + "no shape");
    std::vector<int64_t> shape;
    uint64_t numel = 1;
    for (const auto& d : info["shape"]) {
      if (!d.is_number_unsigned()) throw bad(where + "shape entries must be non-negative integers");
      const auto v = d.get<uint64_t>();
      if (v > static_cast<uint64_t>(INT64_MAX) || __builtin_mul_overflow(numel, v, &numel))
        throw bad(where + "shape is too large");
      shape.push_back(static_cast<int64_t>(v));
    }
    const auto& offs = info.contains("data_offsets") ? info["data_offsets"] : nlohmann::json();
    if (!offs.is_array() || offs.size() != 2 || !offs[0].is_number_unsigned() ||
        !offs[1].is_number_unsigned())
      throw bad(where + "data_offsets must be [begin, end] with non-negative integers");
    const auto begin = offs[0].get<uint64_t>(), end = offs[1].get<uint64_t>();
    if (begin > end || end > data_len)
      throw bad(where + "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                "] outside the " + std::to_string(data_len) + "-byte data section");
    uint64_t bytes = 0;
    if (__builtin_mul_overflow(numel, static_cast<uint64_t>(dt->size), &bytes))
      throw bad(where + "shape is too large");
    if (bytes != end - begin)
      throw bad(where + "data_offsets span " + std::to_string(end - begin) +
                " bytes but dtype and shape need " + std::to_string(bytes));
    auto t = torch::empty(shape, torch::TensorOptions().dtype(dt->type));
    if (bytes > 0) std::memcpy(t.data_ptr(), data + begin, bytes);
    if (dt->type == torch::kBool) {
      for (uint64_t i = 0; i < bytes; ++i)
        if (static_cast<unsigned char>(data[begin + i]) > 1)
          throw bad(where + "BOOL data holds a byte other than 0 or 1");
    }
    spans.push_back({begin, end, name});
    out.emplace_back(name, t);
  }
  // The tensors must tile the data section: no gaps, no overlaps, no trailing bytes.
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return std::tie(a.begin, a.end) < std::tie(b.begin, b.end);
  });
  uint64_t expected = 0;
  for (const auto& s : spans) {
    if (s.begin != expected)
      throw bad("tensor '" + s.name + "' starts at byte " + std::to_string(s.begin) +
                " of the data section, expected " + std::to_string(expected) +
                " (overlapping or non-contiguous data_offsets)");
    expected = s.end;
  }
  if (expected != data_len)
    throw bad(std::to_string(data_len - expected) + " bytes after the last tensor's data");
  return out;
}

}  // namespace seqlab
