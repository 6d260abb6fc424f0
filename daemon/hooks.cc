#include "daemon/hooks.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstdlib>
#include <future>
#include <vector>

#include "daemon/command.h"
#include "daemon/log.h"

namespace vigil {
namespace {

// The hooks in dir, in name order; false when the directory cannot be read.
bool hooks_in(const std::string& dir, std::vector<std::string>* out) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return errno == ENOENT;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.empty() || name[0] == '.') continue;
    std::string path = dir + "/" + name;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || ::access(path.c_str(), X_OK) != 0) continue;
    if ((st.st_uid != 0 && st.st_uid != ::geteuid()) || (st.st_mode & (S_IWGRP | S_IWOTH))) {
      log::warning("revoke hook " + path + " skipped: it must be owned by root and not writable by group or others");
      continue;
    }
    out->push_back(name);
  }
  ::closedir(d);
  std::sort(out->begin(), out->end());
  return true;
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
  std::vector<std::string> hooks;
  if (!hooks_in(cfg.revoke_hooks_dir, &hooks)) {
    log::event(log::Priority::kWarning, log::kMsgHookFailed,
               "cannot read [tokens] revoke_hooks_dir " + cfg.revoke_hooks_dir + ": " + std::strerror(errno));
    return Outcome::kFailed;
  }
  bool all = true;
  for (const auto& name : hooks) {
    if (has_line(item.done_hooks, name)) continue;
    {
      std::lock_guard lock(mu_);
      if (stopping_) return Outcome::kStopped;
    }
    std::string path = cfg.revoke_hooks_dir + "/" + name;
    std::vector<std::string> argv = outside_sandbox({path}, cfg.hook_timeout);
    auto r = run_command(argv, item.payload + "\n", std::chrono::duration_cast<std::chrono::milliseconds>(cfg.hook_timeout));
    if (r.ok()) {
      item.done_hooks += name + "\n";
      save(item, false);  // this hook's success, at once
      continue;
    }
    all = false;
    log::event(log::Priority::kWarning, log::kMsgHookFailed,
               "revoke hook " + name + " failed (attempt " + std::to_string(item.attempts + 1) + "): " +
                   (!r.started ? r.error
                    : r.timed_out ? "killed after " + format_duration(cfg.hook_timeout)
                                  : "exit " + std::to_string(r.exit_status)) +
                   (r.output.empty() ? "" : ": " + r.output),
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
