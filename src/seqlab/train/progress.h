// A one-line progress display (step, loss, accuracy, tokens/s, ETA) on a terminal; silent when
// stderr is not a terminal, so logs stay quiet.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace seqlab::train {

class Progress {
 public:
  Progress(std::string label, int64_t total, bool enabled);
  ~Progress();
  // `fields` is shown after "label step/total"; ETA is derived from the rate since start.
  void update(int64_t done, const std::string& fields);
  void finish();
  static bool stderr_is_terminal();

 private:
  std::string label_;
  int64_t total_;
  int64_t first_done_ = -1;
  bool enabled_;
  bool dirty_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

std::string format_duration(double seconds);

}  // namespace seqlab::train
