#include "daemon/breakglass.h"

#include <unistd.h>

#include <cstdlib>
#include <future>
#include <optional>
#include <iostream>

#include "daemon/os/command.h"
#include "daemon/engine/engine.h"
#include "daemon/os/nss.h"
#include "daemon/store/sqlite_store.h"
#include "daemon/os/state_dir.h"

namespace vigil {

namespace {

int fail(const std::string& msg) {
  std::cerr << "vigild --break-glass: " << msg << "\n";
  return 1;
}

// Who may break the glass, and how: nullopt when this caller may.
std::optional<std::string> refusal(const std::string& reason) {
  if (::geteuid() != 0) return "must be run as root";
  if (std::getenv("SSH_CONNECTION") || std::getenv("SSH_TTY"))
    return "break-glass runs only on the console, not from an SSH session";
  if (reason.empty()) return "a --reason is required (it is recorded)";
  return std::nullopt;
}

Result<AccountView> view_of(Engine& engine, uid_t uid) {
  std::promise<Result<AccountView>> vp;
  std::optional<int64_t> id = uid;
  engine.get("uid:" + std::to_string(uid), id, [&vp](Result<AccountView> v) { vp.set_value(std::move(v)); });
  return vp.get_future().get();
}

// The unblock, with its audit record, which commits in the same transaction.
RecoverResult recover_offline(Engine& engine, const Identity& id, const std::string& reason, TimePoint now) {
  RecoverRequest req;
  req.uid = id.uid;
  req.name = id.name;
  req.by = "root (break-glass on the console)";
  req.reason = reason;
  HistoryRecord h;
  h.at = now;
  h.kind = "break-glass";
  h.uid = id.uid;
  h.name = id.name;
  h.by = "root on the console";
  h.reason = reason;
  req.history = h;
  std::promise<RecoverResult> p;
  engine.recover(std::move(req), [&p](RecoverResult r) { p.set_value(std::move(r)); });
  return p.get_future().get();
}

void print_done(const Identity& id, const RecoverResult& res, const std::string& password_note) {
  std::cout << "unblocked " << id.name << " (uid " << id.uid << "); cleared its locks and failures\n"
            << "forgot " << res.devices_forgotten << " device(s) first seen since the suspicious activity\n"
            << password_note << "\n"
            << id.name << "'s password opens nothing until it is changed (passwd after a key or "
               "console login, or passwd " << id.name << " as root)\n";
  std::cout << "recorded; vigild reports this break-glass at its next start.\n"
            << "next: systemctl start vigild.socket vigild-admin.socket (and vigild-token.socket if "
               "used), then check the account with vigilctl audit\n";
}

}  // namespace

int break_glass(const Config& cfg, const std::string& user, const std::string& reason) {
  if (auto why = refusal(reason)) return fail(*why);
  auto state = StateDir::open(cfg.daemon.state_dir);
  if (!state) {
    if (state.error().is_locked())
      return fail("the state directory " + cfg.daemon.state_dir +
                  " is locked: vigild is running. Stop it first (the sockets too, or a connection "
                  "restarts it): systemctl stop vigild.socket vigild-admin.socket vigild-token.socket "
                  "vigild.service");
    return fail(state.error().message);
  }
  Lookup who = lookup_user_blocking(user);
  if (who.status == Lookup::Status::kError) return fail("cannot resolve " + user + " (NSS error)");
  if (!who.found()) return fail("no such user: " + user);
  auto store = SqliteStore::open(state->database_path());
  if (!store) return fail(store.error().message);

  SystemClock clock;
  Engine engine(std::move(*store), clock, cfg.lockout, nullptr, cfg.totp, cfg.devices, cfg.block, cfg.throttle,
                cfg.tokens, cfg.daemon.mode);
  engine.start();  // its destructor finishes and commits
  // Is it blocked at all? (Nothing is changed, nor the password expired, if not.)
  auto view = view_of(engine, who.id.uid);
  if (!view) return fail(view.error().message);
  const std::string not_blocked = who.id.name + " is not blocked; nothing was changed\n";
  if (!view->block) {
    std::cout << not_blocked;
    return 0;
  }
  // The password first: the account never opens with the one the attacker knows.
  std::string password_note = "password left as it is ([recovery] expire_password = false)";
  if (cfg.recovery.expire_password) {
    auto e = expire_password(who.id.name);
    if (e.outcome == ExpiryResult::Outcome::kFailed)
      return fail(e.message + "; nothing was changed (fix that, or set [recovery] expire_password = false)");
    password_note = e.message;
  }
  RecoverResult res = recover_offline(engine, who.id, reason, clock.now());
  if (!res.status && res.status.error().is_refused()) return fail(res.status.error().message);
  if (!res.status) return fail("the unblock could not be recorded: " + res.status.error().message);
  if (!res.changed) {
    std::cout << not_blocked;
    return 0;
  }
  print_done(who.id, res, password_note);
  return 0;
}

}  // namespace vigil
