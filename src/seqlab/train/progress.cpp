#include "seqlab/train/progress.h"

#include <unistd.h>

#include <cstdio>

namespace seqlab::train {

std::string format_duration(double seconds) {
  if (!(seconds >= 0) || seconds > 1e7) return "?";
  const auto s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>((s % 3600) / 60));
  else if (s >= 60)
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  return buf;
}

bool Progress::stderr_is_terminal() {
  return isatty(STDERR_FILENO) == 1;
}

Progress::Progress(std::string label, int64_t total, bool enabled)
    : label_(std::move(label)), total_(total), enabled_(enabled) {
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

Progress::~Progress() {
  finish();
}

void Progress::update(int64_t done, const std::string& fields) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (first_done_ < 0) {
    first_done_ = done;
    start_ = now;
  }
  if (done < total_ && std::chrono::duration<double>(now - last_draw_).count() < 0.2) return;
  last_draw_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done - first_done_) / elapsed : 0.0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : -1.0;
  std::fprintf(stderr, "\r\033[K%s %lld/%lld %s | ETA %s", label_.c_str(),
               static_cast<long long>(done), static_cast<long long>(total_), fields.c_str(),
               format_duration(eta).c_str());
  std::fflush(stderr);
  dirty_ = true;
}

void Progress::finish() {
  if (enabled_ && dirty_) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    dirty_ = false;
  }
}

}  // namespace seqlab::train
