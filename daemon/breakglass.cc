#include "daemon/breakglass.h"

#include <unistd.h>

#include <cstdlib>
#include <future>
#include <iostream>

#include "daemon/os/command.h"
#include "daemon/engine/engine.h"
#include "daemon/os/nss.h"
#include "daemon/store/sqlite_store.h"
#include "daemon/os/state_dir.h"

namespace vigil {

int break_glass(const Config& cfg, const std::string& user, const std::string& reason) {
  auto fail = [](const std::string& msg) {
    std::cerr << "vigild --break-glass: " << msg << "\n";
    return 1;
  };
  if (::geteuid() != 0) return fail("must be run as root");
  if (std::getenv("SSH_CONNECTION") || std::getenv("SSH_TTY"))
    return fail("break-glass runs only on the console, not from an SSH session");
  if (reason.empty()) return fail("a --reason is required (it is recorded)");
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
  Engine engine(std::move(*store), clock, cfg.lockout, nullptr, cfg.totp, cfg.devices, cfg.block,
                cfg.throttle);
  engine.start();
  // Is it blocked at all? (Nothing is changed, nor the password expired, if not.)
  std::promise<Result<AccountView>> vp;
  std::optional<int64_t> uid = who.id.uid;
  engine.get("uid:" + std::to_string(who.id.uid), uid, [&vp](Result<AccountView> v) { vp.set_value(std::move(v)); });
  auto view = vp.get_future().get();
  if (!view) {
    engine.stop();
    return fail(view.error().message);
  }
  if (!view->block) {
    engine.stop();
    std::cout << who.id.name << " is not blocked; nothing was changed\n";
    return 0;
  }
  // The password first: the account never opens with the one the attacker knows.
  std::string password_note = "password left as it is ([recovery] expire_password = false)";
  if (cfg.recovery.expire_password) {
    auto e = expire_password(who.id.name);
    if (e.outcome == ExpiryResult::Outcome::kFailed) {
      engine.stop();
      return fail(e.message + "; nothing was changed (fix that, or set [recovery] expire_password = false)");
    }
    password_note = e.message;
  }
  RecoverRequest req;
  req.uid = who.id.uid;
  req.name = who.id.name;
  req.by = "root (break-glass on the console)";
  req.reason = reason;
  // The audit record commits in the same transaction as the unblock.
  HistoryRecord h;
  h.at = clock.now();
  h.kind = "break-glass";
  h.uid = who.id.uid;
  h.name = who.id.name;
  h.by = "root on the console";
  h.reason = reason;
  req.history = h;
  std::promise<RecoverResult> p;
  engine.recover(std::move(req), [&p](RecoverResult r) { p.set_value(std::move(r)); });
  RecoverResult res = p.get_future().get();
  engine.stop();
  if (!res.status && res.status.error().is_refused()) return fail(res.status.error().message);
  if (!res.status) return fail("the unblock could not be recorded: " + res.status.error().message);
  if (!res.changed) {
    std::cout << who.id.name << " is not blocked; nothing was changed\n";
    return 0;
  }
  std::cout << "unblocked " << who.id.name << " (uid " << who.id.uid << "); cleared its locks and failures\n"
            << "forgot " << res.devices_forgotten << " device(s) first seen since the suspicious activity\n"
            << password_note << "\n"
            << who.id.name << "'s password opens nothing until it is changed (passwd after a key or "
               "console login, or passwd " << who.id.name << " as root)\n";
  std::cout << "recorded; vigild reports this break-glass at its next start.\n"
            << "next: systemctl start vigild.socket vigild-admin.socket (and vigild-token.socket if "
               "used), then check the account with vigilctl audit\n";
  return 0;
}

}  // namespace vigil
