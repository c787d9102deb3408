// Child processes of this binary (/proc/self/exe), for subcommands that run cells in isolation:
// `seqlab scaling` (one process per (mixer, T), so each peak memory is its own) and
// `seqlab protocol` (one `seqlab train` per cell, several at once).
#pragma once
#include <sys/types.h>

#include <string>
#include <vector>

namespace seqlab::cli {

struct ChildExit {
  pid_t pid = 0;
  int exit_code = -1;  // when the child exited normally, else -1
  int signal = 0;      // the signal that ended it, else 0
  double peak_rss_mb = 0;
  bool ok() const { return exit_code == 0; }
  std::string describe() const;  // "exit status N" or "killed by signal N"
};

// Starts this binary with `args` (argv[1..]); stdout and stderr go to `log_path` (created or
// truncated) when it is not empty. Throws std::runtime_error when the process cannot start.
pid_t spawn_self(const std::vector<std::string>& args, const std::string& log_path = "");

// Waits for child `pid` (-1: any child) and reports how it ended.
ChildExit wait_child(pid_t pid = -1);

}  // namespace seqlab::cli
