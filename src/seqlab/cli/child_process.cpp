#include "seqlab/cli/child_process.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <stdexcept>

extern char** environ;

namespace seqlab::cli {

std::string ChildExit::describe() const {
  return signal ? "killed by signal " + std::to_string(signal)
                : "exit status " + std::to_string(exit_code);
}

pid_t spawn_self(const std::vector<std::string>& args, const std::string& log_path) {
  std::vector<std::string> all = {"/proc/self/exe"};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (!log_path.empty()) {
    posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
  }
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, "/proc/self/exe", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("could not start a child process (" + all[1] + ")");
  return pid;
}

ChildExit wait_child(pid_t pid) {
  int status = 0;
  struct rusage ru {};
  ChildExit e;
  e.pid = wait4(pid, &status, 0, &ru);
  if (e.pid < 0) throw std::runtime_error("wait4 failed: no child to wait for");
  if (WIFEXITED(status)) e.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) e.signal = WTERMSIG(status);
  e.peak_rss_mb = static_cast<double>(ru.ru_maxrss) / 1024.0;  // ru_maxrss is in kB
  return e;
}

}  // namespace seqlab::cli
