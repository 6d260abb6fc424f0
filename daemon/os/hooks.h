// The revoke hooks: executables in [tokens] revoke_hooks_dir, run once for
// each revoked token from the persistent outbox (Engine::outbox_*).
//
// Contract:
//  * Runs on its own thread, never on the I/O or engine thread.
//  * Each hook gets the outbox item's JSON on stdin (accessor, owner, name,
//    scopes, reason; never the token), the environment PATH only, and is
//    killed after [tokens] hook_timeout. Exit 0 is success.
//  * A hook that succeeded for an item is not run for it again. An item with
//    a failed hook is retried with a doubling back-off (1 s, 2 s, 4 s, ...,
//    at most 1 h); its progress is committed, so a restart loses nothing.
//  * Hooks are regular executable files whose names do not start with '.',
//    owned by root (or the daemon's uid) and not writable by group or
//    others, run in name order. Each is opened without following a link
//    (O_NOFOLLOW) and checked on that descriptor; a link, or a file owned
//    or writable by others, is skipped with a warning. With no hook at all
//    (or no directory), an item is done.
//  * The directory is reached by walking its real path down from "/", one
//    O_NOFOLLOW component at a time; every directory on the way, the hooks
//    directory included, must be owned by root (or the daemon's uid) and not
//    writable by group or others (a sticky /tmp is not). If one is not, no
//    hook runs and the item fails with a warning that names it, so it is
//    retried and delivered once that is fixed. A directory that cannot be
//    read fails the item too.
//  * Without systemd the checked file itself runs (fexecve of its
//    descriptor, see command.h). Under systemd (INVOCATION_ID set) each run
//    is a transient unit of its own (systemd-run --wait --pipe), outside the
//    daemon's sandbox, given the real path just checked: only root can
//    change what it names (see run_hook() in hooks.cc).
//  * Each hook's success is committed at once: delivery is at least once
//    per hook (a crash between a hook's exit and that commit runs it again),
//    so hooks should be idempotent.
#pragma once

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "daemon/core/config.h"
#include "daemon/engine/engine.h"

namespace vigil {

class HookRunner {
 public:
  HookRunner(Engine& engine, const TokensConfig& config) : engine_(engine), config_(config) {}
  ~HookRunner() { stop(); }
  void set_config(const TokensConfig& config);
  void start();
  void stop();
  void poke();  // revocations were queued

 private:
  void run();
  enum class Outcome { kDone, kFailed, kStopped };
  Outcome run_item(OutboxItem& item, const TokensConfig& cfg);
  void save(const OutboxItem& item, bool finished);

  Engine& engine_;
  std::mutex mu_;
  std::condition_variable cv_;
  TokensConfig config_;
  bool poked_ = true;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace vigil
