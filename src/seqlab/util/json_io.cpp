#include "seqlab/util/json_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "seqlab/util/error.h"

namespace seqlab {
namespace {

std::string errno_text() {
  return std::strerror(errno);
}

}  // namespace

void write_file_atomic(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw UserError("cannot write " + path + ": " + errno_text());
  auto fail = [&](const std::string& what) {
    const std::string msg = "cannot write " + path + " (" + what + "): " + errno_text();
    ::close(fd);
    ::unlink(tmp.c_str());
    throw UserError(msg);
  };
  const char* p = content.data();
  size_t left = content.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("write");
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) fail("fsync");
  if (::close(fd) != 0) {
    const std::string msg = "cannot write " + path + " (close): " + errno_text();
    ::unlink(tmp.c_str());
    throw UserError(msg);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string msg = "cannot write " + path + " (rename): " + errno_text();
    ::unlink(tmp.c_str());
    throw UserError(msg);
  }
  // Persist the rename itself; a directory that cannot be opened or synced (some filesystems)
  // does not make the write fail, the data is already in place.
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

std::string read_text_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw UserError("file not found: " + path);
  if (std::filesystem::is_directory(path, ec))
    throw UserError("expected a file but found a directory: " + path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError("cannot read " + path + ": " + errno_text());
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw UserError("cannot read " + path + ": " + errno_text());
  return ss.str();
}

nlohmann::json read_json_file(const std::string& path) {
  const std::string text = read_text_file(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw UserError("malformed JSON in " + path + ": " + e.what());
  }
}

std::vector<nlohmann::json> read_jsonl_file(const std::string& path) {
  const std::string text = read_text_file(path);
  std::vector<nlohmann::json> rows;
  size_t begin = 0;
  int64_t line_no = 0;
  while (begin < text.size()) {
    size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    ++line_no;
    const std::string line = text.substr(begin, end - begin);
    begin = end + 1;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      rows.push_back(nlohmann::json::parse(line));
    } catch (const nlohmann::json::parse_error& e) {
      throw UserError("malformed JSON in " + path + " line " + std::to_string(line_no) + ": " +
                      e.what());
    }
  }
  return rows;
}

}  // namespace seqlab
