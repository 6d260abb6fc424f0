#include "daemon/os/command.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "daemon/os/unique_fd.h"
#include "protocol/result.h"

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

// ---- the child, between fork() and exec: async-signal-safe calls only ----

// What the child needs, all prepared before fork().
struct ChildPlan {
  const char* prog;  // for execve; unused with exec_fd
  char* const* argv;
  char* const* envp;
  int in, out;       // become 0, and 1 and 2
  int report;        // close-on-exec: errno goes here if exec fails
  int exec_fd;       // -1: execve(prog); else fexecve of this file, as kExecFd
};

// Closes lo..hi; one by one (up to RLIMIT_NOFILE) where close_range fails.
void close_span(unsigned lo, unsigned hi) noexcept {
  if (lo > hi || ::close_range(lo, hi, 0) == 0) return;
  rlimit rl{};
  const unsigned top = ::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 1048576
                           ? static_cast<unsigned>(rl.rlim_cur) : 1048576u;
  for (unsigned fd = lo; fd <= hi && fd < top; ++fd) ::close(static_cast<int>(fd));
}

// Every descriptor from `first` up is closed, except `keep`.
void close_from(int first, int keep) noexcept {
  if (keep < first) return close_span(static_cast<unsigned>(first), ~0U);
  if (keep > first) close_span(static_cast<unsigned>(first), static_cast<unsigned>(keep - 1));
  close_span(static_cast<unsigned>(keep + 1), ~0U);
}

[[noreturn]] void fail_child(int report) noexcept {
  const int err = errno;
  [[maybe_unused]] auto ignored = ::write(report, &err, sizeof err);
  ::_exit(127);
}

// Puts the file to run at kExecFd, open across exec; returns where the
// report descriptor is now (moved away from kExecFd if it was there).
int place_exec_fd(int exec_fd, int report) noexcept {
  if (report == kExecFd) report = ::fcntl(report, F_DUPFD_CLOEXEC, kExecFd + 1);
  if (report < 0) ::_exit(127);
  const int rc = exec_fd == kExecFd ? ::fcntl(kExecFd, F_SETFD, 0) : ::dup2(exec_fd, kExecFd);
  if (rc < 0) fail_child(report);
  return report;
}

[[noreturn]] void become_child(const ChildPlan& p) noexcept {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);  // SIGKILL, SIGSTOP: EINVAL
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::setsid();
  if (::dup2(p.in, 0) < 0 || ::dup2(p.out, 1) < 0 || ::dup2(p.out, 2) < 0) fail_child(p.report);
  int report = p.report;
  if (p.exec_fd >= 0) report = place_exec_fd(p.exec_fd, report);
  close_from(p.exec_fd >= 0 ? kExecFd + 1 : 3, report);  // report is close-on-exec itself
  if (p.exec_fd >= 0)
    ::fexecve(kExecFd, p.argv, p.envp);
  else
    ::execve(p.prog, p.argv, p.envp);
  fail_child(report);
}

// ---- the parent ----

struct Pipe {
  UniqueFd read, write;
};

Result<Pipe> make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Error::Spawn(std::string("pipe: ") + std::strerror(errno));
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

struct Spawned {
  pid_t pid = -1;
  UniqueFd in;   // the child's stdin
  UniqueFd out;  // the child's stdout and stderr
};

// Forks and execs; fails with why when the exec itself failed (the child
// reports its errno on a close-on-exec pipe: end of file means it ran).
Result<Spawned> spawn(const std::string& prog, const std::vector<std::string>& argv, int exec_fd) {
  auto in = make_pipe();
  if (!in) return in.error();
  auto out = make_pipe();
  if (!out) return out.error();
  auto report = make_pipe();
  if (!report) return report.error();
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  char* envp[] = {const_cast<char*>(kPath), nullptr};
  const ChildPlan plan{prog.c_str(), args.data(), envp, in->read.get(), out->write.get(),
                       report->write.get(), exec_fd};
  const pid_t pid = ::fork();
  if (pid < 0) return Error::Spawn(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) become_child(plan);
  in->read.reset();
  out->write.reset();
  report->write.reset();
  int child_errno = 0;
  ssize_t n;
  do n = ::read(report->read.get(), &child_errno, sizeof child_errno);
  while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof child_errno)) {
    ::waitpid(pid, nullptr, 0);
    return Error::Spawn(prog + ": " + std::strerror(child_errno));
  }
  return Spawned{pid, std::move(in->write), std::move(out->read)};
}

void append_output(CommandResult& r, const char* buf, ssize_t got) {
  if (got > 0 && r.output.size() < kMaxOutput)
    r.output.append(buf, std::min<std::size_t>(static_cast<std::size_t>(got), kMaxOutput - r.output.size()));
}

// Feeds stdin (a short text) and reads the output until the child exits, the
// output closes, or the deadline passes. True when the child was reaped.
bool exchange(Spawned& child, const std::string& input, std::chrono::steady_clock::time_point deadline,
              CommandResult& r, int& status) {
  std::size_t written = 0;
  ::fcntl(child.in.get(), F_SETFL, O_NONBLOCK);
  for (;;) {
    // A child that exited while something it started keeps the pipe open is
    // done: stop at its exit, not at the pipe's end.
    if (::waitpid(child.pid, &status, WNOHANG) == child.pid) {
      char buf[1024];
      ::fcntl(child.out.get(), F_SETFL, O_NONBLOCK);
      ssize_t got;
      while (r.output.size() < kMaxOutput && (got = ::read(child.out.get(), buf, sizeof buf)) > 0)
        append_output(r, buf, got);
      return true;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      r.timed_out = true;
      return false;
    }
    pollfd fds[2] = {{child.out.get(), POLLIN, 0}, {child.in.get(), POLLOUT, 0}};
    int n = ::poll(fds, child.in.ok() ? 2 : 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (n < 0 && errno != EINTR) return false;
    if (child.in.ok() && (fds[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t w = written < input.size() ? ::write(child.in.get(), input.data() + written, input.size() - written) : 0;
      if (w > 0) written += static_cast<std::size_t>(w);
      if (written >= input.size() || w < 0) child.in.reset();
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[1024];
      ssize_t got = ::read(child.out.get(), buf, sizeof buf);
      if (got <= 0) return false;
      append_output(r, buf, got);
    }
  }
}

// Waits for the child's exit until the deadline, then kills it.
void reap(pid_t pid, std::chrono::steady_clock::time_point deadline, CommandResult& r, int& status) {
  for (;;) {
    pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) return;
    if (w < 0 && errno != EINTR) return;
    if (std::chrono::steady_clock::now() >= deadline) {
      r.timed_out = true;
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace

bool under_systemd() { return std::getenv("INVOCATION_ID") != nullptr; }

CommandResult run_command(const std::vector<std::string>& argv, const std::string& input,
                          std::chrono::milliseconds timeout, int exec_fd) {
  CommandResult r;
  if (argv.empty()) {
    r.error = "empty command";
    return r;
  }
  std::string prog = exec_fd >= 0 ? argv[0] : find_program(argv[0]);
  if (prog.empty()) {
    r.error = argv[0] + ": not found";
    return r;
  }
  auto child = spawn(prog, argv, exec_fd);
  if (!child) {
    r.error = child.error().message;
    return r;
  }
  r.started = true;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  const bool reaped = exchange(*child, input, deadline, r, status);
  child->in.reset();
  child->out.reset();
  if (!reaped) reap(child->pid, deadline, r, status);
  // What it left behind in its process group goes too.
  ::kill(-child->pid, SIGKILL);
  r.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  while (!r.output.empty() && (r.output.back() == '\n' || r.output.back() == ' ')) r.output.pop_back();
  return r;
}

std::vector<std::string> outside_sandbox(std::vector<std::string> argv, std::chrono::seconds max_time) {
  if (!under_systemd()) return argv;
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
