#include "daemon/os/hooks.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <future>
#include <vector>

#include "daemon/os/command.h"
#include "daemon/core/log.h"
#include "daemon/os/unique_fd.h"

namespace vigil {
namespace {

constexpr char kRule[] =
    "the hooks directory and every directory above it must be owned by root and not writable by "
    "group or others";

bool trusted_owner(uid_t uid) { return uid == 0 || uid == ::geteuid(); }

std::string octal_mode(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// Why a directory on the way to the hooks may let someone else change them.
std::string unsafe_dir(const std::string& path, const struct stat& st) {
  if (!trusted_owner(st.st_uid)) return path + " is owned by uid " + std::to_string(st.st_uid);
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    return path + " is writable by group or others (mode " + octal_mode(st.st_mode) + ")";
  return {};
}

// The hooks directory, opened by walking its real path down from "/" one
// component at a time (O_NOFOLLOW), each checked on its descriptor.
struct HooksDir {
  enum class State { kOpen, kAbsent, kUnreadable, kUnsafe } state = State::kUnreadable;
  UniqueFd fd;       // kOpen
  std::string path;  // kOpen: the real path; the rest: why
};

HooksDir dir_failure(HooksDir::State state, std::string why) {
  HooksDir d;
  d.state = state;
  d.path = std::move(why);
  return d;
}

HooksDir dir_error(const std::string& path, int err) {
  if (err == ENOENT) return dir_failure(HooksDir::State::kAbsent, path);
  return dir_failure(HooksDir::State::kUnreadable, path + ": " + std::strerror(err));
}

HooksDir open_hooks_dir(const std::string& dir) {
  char* resolved = ::realpath(dir.c_str(), nullptr);
  if (!resolved) return dir_error(dir, errno);
  const std::string real = resolved;
  std::free(resolved);
  UniqueFd fd(::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.ok()) return dir_error("/", errno);
  std::string walked = "/";
  std::size_t pos = 1;
  for (;;) {
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return dir_error(walked, errno);
    if (auto why = unsafe_dir(walked, st); !why.empty()) return dir_failure(HooksDir::State::kUnsafe, why);
    if (pos >= real.size()) break;
    auto slash = real.find('/', pos);
    if (slash == std::string::npos) slash = real.size();
    const std::string name = real.substr(pos, slash - pos);
    walked += (walked.size() > 1 ? "/" : "") + name;
    pos = slash + 1;
    // A link here (ELOOP) means the path changed since realpath(): refused.
    UniqueFd next(::openat(fd.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next.ok()) return dir_error(walked, errno);
    fd = std::move(next);
  }
  HooksDir d;
  d.state = HooksDir::State::kOpen;
  d.fd = std::move(fd);
  d.path = real;
  return d;
}

// The names in the directory that may be hooks (not starting with '.'), in
// name order; an errno when it cannot be read, else 0.
int hook_names(int dir_fd, std::vector<std::string>* out) {
  UniqueFd copy(::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0));
  DIR* d = copy.ok() ? ::fdopendir(copy.get()) : nullptr;
  if (!d) return errno;
  copy.release();  // the DIR owns it now
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (!name.empty() && name[0] != '.') out->push_back(name);
  }
  ::closedir(d);
  std::sort(out->begin(), out->end());
  return 0;
}

// One hook, opened without following a link (O_PATH: opening has no side
// effect, whatever the file is) and checked on that descriptor. Not ok():
// skipped, with `warning` said when it is worth one.
struct Hook {
  UniqueFd fd;
  std::string warning;
};

Hook open_hook(int dir_fd, const std::string& name, const std::string& path) {
  Hook h;
  UniqueFd fd(::openat(dir_fd, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  struct stat st {};
  if (!fd.ok() || ::fstat(fd.get(), &st) != 0) {
    h.warning = "revoke hook " + path + " skipped: cannot open it: " + std::strerror(errno);
    return h;
  }
  if (S_ISLNK(st.st_mode)) {
    h.warning = "revoke hook " + path + " skipped: it is a symbolic link; hooks must be regular files "
                "(links are not followed)";
    return h;
  }
  if (!S_ISREG(st.st_mode) || !(st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH))) return h;  // not a hook
  if (!trusted_owner(st.st_uid) || (st.st_mode & (S_IWGRP | S_IWOTH))) {
    h.warning = "revoke hook " + path + " skipped: it must be owned by root and not writable by group or "
                "others (owner uid " + std::to_string(st.st_uid) + ", mode " + octal_mode(st.st_mode) + ")";
    return h;
  }
  h.fd = std::move(fd);
  return h;
}

bool has_line(const std::string& lines, const std::string& name) {
  std::size_t i = 0;
  while (i < lines.size()) {
    auto nl = lines.find('\n', i);
    if (nl == std::string::npos) nl = lines.size();
    if (lines.compare(i, nl - i, name) == 0) return true;
    i = nl + 1;
  }
  return false;
}

// Runs the checked hook. Without systemd: that very file, from its
// descriptor (fexecve), so nothing can swap it between check and run. Under
// systemd the hook runs in a transient unit that PID 1 starts, where no
// descriptor of vigild's can go; it gets the path instead. That path is the
// real one just checked: every directory on it, and the file, is owned by
// root (or vigild's uid) and writable by nobody else, so only root could
// change what it names between the check and the run, and root is trusted.
CommandResult run_hook(const Hook& hook, const std::string& path, const std::string& input,
                       std::chrono::seconds timeout) {
  const auto limit = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
  if (under_systemd()) return run_command(outside_sandbox({path}, timeout), input, limit);
  return run_command({path}, input, limit, hook.fd.get());
}

std::string failure_text(const CommandResult& r, std::chrono::seconds timeout) {
  return (!r.started ? r.error : r.timed_out ? "killed after " + format_duration(timeout)
                                             : "exit " + std::to_string(r.exit_status)) +
         (r.output.empty() ? "" : ": " + r.output);
}

}  // namespace

void HookRunner::set_config(const TokensConfig& config) {
  std::lock_guard lock(mu_);
  config_ = config;
}

void HookRunner::start() { thread_ = std::thread([this] { run(); }); }

void HookRunner::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void HookRunner::poke() {
  {
    std::lock_guard lock(mu_);
    poked_ = true;
  }
  cv_.notify_all();
}

void HookRunner::save(const OutboxItem& item, bool finished) {
  std::promise<Status> done;
  engine_.outbox_result(item, finished, [&done](Status st) { done.set_value(st); });
  // A failed commit keeps the item as it was: it runs again (at least once).
  if (auto st = done.get_future().get(); !st)
    log::warning("cannot record a revoke hook's progress: " + st.error().message);
}

HookRunner::Outcome HookRunner::run_item(OutboxItem& item, const TokensConfig& cfg) {
  HooksDir dir = open_hooks_dir(cfg.revoke_hooks_dir);
  if (dir.state == HooksDir::State::kAbsent) return Outcome::kDone;
  std::vector<std::string> names;
  if (dir.state == HooksDir::State::kOpen)
    if (int err = hook_names(dir.fd.get(), &names); err != 0) dir = dir_error(dir.path, err);
  if (dir.state == HooksDir::State::kUnsafe) {
    log::event(log::Priority::kWarning, log::kMsgHookFailed,
               "revoke hooks in [tokens] revoke_hooks_dir " + cfg.revoke_hooks_dir + " not run: " + dir.path +
                   "; " + kRule);
    return Outcome::kFailed;
  }
  if (dir.state != HooksDir::State::kOpen) {
    log::event(log::Priority::kWarning, log::kMsgHookFailed,
               "cannot read [tokens] revoke_hooks_dir " + cfg.revoke_hooks_dir + ": " + dir.path);
    return Outcome::kFailed;
  }
  bool all = true;
  for (const auto& name : names) {
    if (has_line(item.done_hooks, name)) continue;
    {
      std::lock_guard lock(mu_);
      if (stopping_) return Outcome::kStopped;
    }
    const std::string path = dir.path + "/" + name;
    Hook hook = open_hook(dir.fd.get(), name, path);
    if (!hook.fd.ok()) {
      if (!hook.warning.empty()) log::warning(hook.warning, {{"VIGIL_HOOK", name}});
      continue;
    }
    auto r = run_hook(hook, path, item.payload + "\n", cfg.hook_timeout);
    if (r.ok()) {
      item.done_hooks += name + "\n";
      save(item, false);  // this hook's success, at once
      continue;
    }
    all = false;
    log::event(log::Priority::kWarning, log::kMsgHookFailed,
               "revoke hook " + name + " failed (attempt " + std::to_string(item.attempts + 1) +
                   "): " + failure_text(r, cfg.hook_timeout),
               {{"VIGIL_HOOK", name}});
  }
  return all ? Outcome::kDone : Outcome::kFailed;
}

void HookRunner::run() {
  for (;;) {
    TokensConfig cfg;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_ || poked_; });
      if (stopping_) return;
      poked_ = false;
      cfg = config_;
    }
    std::promise<Result<std::vector<OutboxItem>>> p;
    engine_.outbox_due([&p](Result<std::vector<OutboxItem>> r) { p.set_value(std::move(r)); });
    auto due = p.get_future().get();
    if (!due) continue;
    for (auto& item : *due) {
      Outcome o = Outcome::kFailed;
      try {
        o = run_item(item, cfg);
      } catch (const std::exception& e) {
        log::error(std::string("revoke hooks: ") + e.what());
      }
      if (o == Outcome::kStopped) return;  // not an attempt: picked up at the next start
      if (o == Outcome::kFailed) {
        ++item.attempts;
        const int shift = std::min(item.attempts - 1, 12);
        auto delay = std::min<std::chrono::seconds>(std::chrono::seconds(1LL << shift), std::chrono::hours(1));
        item.next_at = SystemClock().now() + delay;
      }
      save(item, o == Outcome::kDone);
    }
  }
}

}  // namespace vigil
