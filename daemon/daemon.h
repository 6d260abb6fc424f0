// The running daemon: every part vigild is made of, wired together and
// owned in one place, so that main() only parses its command line.
//
// Contract:
//  * open() opens the state directory, the store and the TOTP key (refusing
//    to start when stored secrets exist and the key does not open them),
//    starts the engine on the I/O thread, adopts the sockets systemd passes
//    and binds the others, and starts serving. An error is returned with
//    nothing left running and nothing stored changed.
//  * reload() replaces the running configuration (SIGHUP); the settings
//    that need a restart are named in a warning and keep their old values.
//  * run() serves until SIGTERM or SIGINT, reloading on SIGHUP (a
//    configuration that does not load is refused and logged, and the running
//    one kept), and keeps systemd informed (READY, STATUS, WATCHDOG,
//    RELOADING, STOPPING).
//  * The destructor ends everything in order: no new connection; the
//    engine's queued jobs finish and commit; the password and notification
//    tools finish; the revocation hooks stop; the engine's last commit.
//    Nothing calls stop() by hand.
//  * One I/O thread runs the sockets and the engine's batches; NSS lookups,
//    chage, notify_command and the revocation hooks have threads of their
//    own (ARCHITECTURE.md, the thread map).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "daemon/core/clock.h"
#include "daemon/core/config.h"
#include "daemon/core/secrets.h"
#include "daemon/engine/engine.h"
#include "daemon/fleet/fleet.h"
#include "daemon/os/hooks.h"
#include "daemon/os/nss.h"
#include "daemon/os/state_dir.h"
#include "daemon/rpc/server.h"
#include "daemon/rpc/token_http.h"
#include "protocol/result.h"

namespace vigil {

class Daemon {
 public:
  // Reads the configuration again, for a reload.
  using Reread = std::function<Result<Config>()>;

  static Result<std::unique_ptr<Daemon>> open(const Config& cfg);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  void reload(const Config& fresh);
  // 0 when stopped by a signal.
  int run(const Reread& reread);

 private:
  explicit Daemon(const Config& cfg);
  Status start_engine(const Config& cfg);
  Status listen(const Config& cfg);
  void update_status();
  void pet_watchdog(uint64_t interval_usec);

  SystemClock clock_;
  std::optional<StateDir> state_;   // holds the state directory's lock
  std::unique_ptr<SecretKey> key_;  // outlives the engine, which holds it
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<HookRunner> hooks_;
  // Ending sessions reads the running configuration's switch at the time.
  std::atomic<bool> end_sessions_{false};
  boost::asio::io_context io_{1};
  std::unique_ptr<Resolver> resolver_;
  boost::asio::thread_pool tools_{1};   // chage, the PAM password check
  boost::asio::thread_pool notify_{1};  // [recovery] notify_command
  Services services_;
  std::unique_ptr<fleet::Fleet> fleet_;  // [fleet] set: on the I/O thread
  std::unique_ptr<Server> server_;
  std::unique_ptr<TokenHttpServer> http_server_;
  std::string serving_on_;  // for the start event
};

// The groups of the sockets vigild binds itself: each must exist. Shared
// with --check-config, which checks them as if vigild bound every socket.
Result<gid_t> admin_socket_gid(const Config& cfg);
Result<gid_t> http_socket_gid(const Config& cfg);
// At least one group of [roles] admin_groups exists: with none, vigil has no
// administrator (a typo such as "wheeel"). Checked at start and by
// --check-config; a group that is missing among others is not an error (one
// file may serve Debian's "sudo" and Red Hat's "wheel" hosts).
Status admin_groups_exist(const Config& cfg);

}  // namespace vigil
