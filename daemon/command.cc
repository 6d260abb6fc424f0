#include "daemon/command.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <cstdlib>
#include <fstream>
#include <thread>

namespace vigil {
namespace {

constexpr char kPath[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
constexpr std::size_t kMaxOutput = 4096;

std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  for (const char* dir : {"/usr/sbin/", "/usr/bin/", "/sbin/", "/bin/"}) {
    std::string p = std::string(dir) + name;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return {};
}

}  // namespace

CommandResult run_command(const std::vector<std::string>& argv, const std::string& input,
                          std::chrono::milliseconds timeout) {
  CommandResult r;
  if (argv.empty()) {
    r.error = "empty command";
    return r;
  }
  std::string prog = find_program(argv[0]);
  if (prog.empty()) {
    r.error = argv[0] + ": not found";
    return r;
  }
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) {
    r.error = std::string("pipe: ") + std::strerror(errno);
    return r;
  }
  if (::pipe2(out, O_CLOEXEC) != 0) {
    r.error = std::string("pipe: ") + std::strerror(errno);
    ::close(in[0]);
    ::close(in[1]);
    return r;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, out[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  char* envp[] = {const_cast<char*>(kPath), nullptr};
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, prog.c_str(), &fa, &attr, args.data(), envp);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  ::close(in[0]);
  ::close(out[1]);
  if (rc != 0) {
    ::close(in[1]);
    ::close(out[0]);
    r.error = prog + ": " + std::strerror(rc);
    return r;
  }
  r.started = true;
  // Feed stdin (a short text) and read the output until it closes or time runs out.
  std::size_t written = 0;
  int wfd = in[1];
  ::fcntl(wfd, F_SETFL, O_NONBLOCK);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool out_open = true;
  int status = 0;
  bool reaped = false;
  while (out_open) {
    // A child that exited while something it started keeps the pipe open is
    // done: stop at its exit, not at the pipe's end.
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      reaped = true;
      char buf[1024];
      ::fcntl(out[0], F_SETFL, O_NONBLOCK);
      ssize_t got;
      while (r.output.size() < kMaxOutput && (got = ::read(out[0], buf, sizeof buf)) > 0)
        r.output.append(buf, std::min<std::size_t>(static_cast<std::size_t>(got), kMaxOutput - r.output.size()));
      break;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      r.timed_out = true;
      break;
    }
    pollfd fds[2] = {{out[0], POLLIN, 0}, {wfd, POLLOUT, 0}};
    int n = ::poll(fds, wfd >= 0 ? 2 : 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (n < 0 && errno != EINTR) break;
    if (wfd >= 0 && (fds[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t w = written < input.size() ? ::write(wfd, input.data() + written, input.size() - written) : 0;
      if (w > 0) written += static_cast<std::size_t>(w);
      if (written >= input.size() || w < 0) {
        ::close(wfd);
        wfd = -1;
      }
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[1024];
      ssize_t got = ::read(out[0], buf, sizeof buf);
      if (got <= 0) out_open = false;
      else if (r.output.size() < kMaxOutput)
        r.output.append(buf, std::min<std::size_t>(static_cast<std::size_t>(got), kMaxOutput - r.output.size()));
    }
  }
  if (wfd >= 0) ::close(wfd);
  ::close(out[0]);
  for (; !reaped;) {
    pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      r.timed_out = true;
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // What it left behind in its process group goes too.
  ::kill(-pid, SIGKILL);
  r.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  while (!r.output.empty() && (r.output.back() == '\n' || r.output.back() == ' ')) r.output.pop_back();
  return r;
}

std::vector<std::string> outside_sandbox(std::vector<std::string> argv, std::chrono::seconds max_time) {
  if (!std::getenv("INVOCATION_ID")) return argv;
  std::vector<std::string> out = {"systemd-run", "--quiet", "--wait", "--pipe", "--collect",
                                  "--service-type=exec",
                                  "--property=RuntimeMaxSec=" + std::to_string(max_time.count()), "--"};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

ExpiryResult expire_password(const std::string& user, const std::string& passwd_file) {
  ExpiryResult r;
  if (user.empty() || user[0] == '-' || user.find_first_of(":\n/") != std::string::npos) {
    r.message = "the name " + user + " cannot be passed to chage";
    return r;
  }
  std::ifstream f(passwd_file);
  bool local = false;
  std::string line;
  while (std::getline(f, line))
    if (line.compare(0, user.size() + 1, user + ":") == 0) local = true;
  if (!local) {
    r.outcome = ExpiryResult::Outcome::kNotLocal;
    r.message = user + " is not a local account (not in " + passwd_file +
                "): expire the password in its directory";
    return r;
  }
  auto c = run_command(outside_sandbox({"chage", "-d", "0", user}, std::chrono::seconds(30)), "",
                       std::chrono::seconds(30));
  if (c.ok()) {
    r.outcome = ExpiryResult::Outcome::kExpired;
    r.message = "password of " + user + " expired: it must be changed at the next login";
  } else {
    r.message = "chage -d 0 " + user + " failed: " +
                (c.started ? (c.timed_out ? "timed out" : "exit " + std::to_string(c.exit_status)) +
                                 (c.output.empty() ? "" : ": " + c.output)
                           : c.error);
  }
  return r;
}

}  // namespace vigil
