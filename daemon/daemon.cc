#include "daemon/daemon.h"

#include "daemon/rpc/fleet_replica.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <grp.h>
#include <sodium.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "daemon/core/log.h"
#include "daemon/core/secrets.h"
#include "daemon/os/config_file.h"
#include "daemon/os/sessions.h"
#include "daemon/os/state_dir.h"
#include "daemon/store/sqlite_store.h"
#include "vigil_build_config.h"

namespace vigil {
namespace asio = boost::asio;

namespace {

void mkdir_parent(const std::string& socket_path) {
  auto slash = socket_path.rfind('/');
  if (slash == std::string::npos || slash == 0) return;
  ::mkdir(socket_path.substr(0, slash).c_str(), 0755);
}

// The sockets systemd passed, adopted.
struct Adopted {
  int count = 0;
  bool admin = false;  // one of them is the admin socket
  bool http = false;   // one is the token checker's ("token-http")
};

Result<Adopted> adopt_systemd_sockets(Server& server, TokenHttpServer& http_server) {
  char** names = nullptr;
  const int n = sd_listen_fds_with_names(1, &names);
  Adopted out;
  Status status = Ok{};
  for (int i = 0; i < n; ++i) {
    std::string name = names && names[i] ? names[i] : "";
    const int fd = SD_LISTEN_FDS_START + i;
    // The public socket is named "public" in vigild.socket; an unnamed single
    // socket is taken as the public one.
    if (name == "public" || name == "admin" || name == "unknown" || name.empty() || name == "vigild.socket") {
      auto kind = name == "admin" ? Server::Kind::kAdmin : Server::Kind::kPublic;
      if (status) status = server.listen_fd(fd, kind);
      out.admin = out.admin || kind == Server::Kind::kAdmin;
      ++out.count;
    } else if (name == "token-http") {
      if (status) status = http_server.listen_fd(fd);
      out.http = true;
      ++out.count;
    } else {
      log::warning("ignoring passed socket named " + name);
      ::close(fd);
    }
  }
  if (names) {
    for (int i = 0; i < n; ++i) free(names[i]);
    free(names);
  }
  if (!status) return status.error();
  return out;
}

// The TOTP key: created only while no secret exists; if secrets exist and
// the key is gone, or does not open them, vigild refuses to start rather
// than lose every factor.
Result<std::unique_ptr<SecretKey>> open_key(const Config& cfg, Store& store) {
  auto secrets = store.count_totp_secrets();
  if (!secrets) return secrets.error();
  auto key = SecretKey::load(cfg.totp_key_path(), *secrets > 0);
  if (!key) return key.error();
  auto box = store.any_sealed_secret();
  if (!box) return box.error();
  if (*box) {
    auto opened = (*key)->open(**box);
    if (!opened)
      return Error::Config("the TOTP key " + (*key)->source() +
                           " does not open the stored secrets (a wrong key file or credential?); refusing "
                           "to start");
    wipe(*opened);
  }
  return key;
}

// Report mode, at start and whenever a reload changes [daemon] mode.
void log_mode(const Config& cfg, bool changed) {
  if (cfg.daemon.mode == DaemonMode::kReport)
    log::warning(std::string(changed ? "[daemon] mode is now \"report\"" : "[daemon] mode = \"report\"") +
                 ": REPORT MODE, refusals are decided, recorded and logged (MESSAGE_ID " +
                 log::kMsgNotEnforced + ") but not enforced; vigilctl audit counts them");
  else
    log::warning("[daemon] mode is now \"enforce\": the locks and blocks recorded in report mode take effect "
                 "(vigilctl audit and vigilctl status list them)");
}

}  // namespace

Result<gid_t> admin_socket_gid(const Config& cfg) {
  // Without that group only root could connect, and root is refused by default.
  const std::string& name = cfg.daemon.admin_socket_group;
  if (group* gr = ::getgrnam(name.c_str())) return gr->gr_gid;
  return Error::Config("the admin socket's group \"" + name +
                       "\" does not exist: create it (systemd-sysusers, or groupadd --system " + name +
                       ") and add the administrators, or set [daemon] admin_socket_group");
}

Status admin_groups_exist(const Config& cfg) {
  std::string names;
  for (const auto& name : cfg.roles.admin_groups) {
    if (::getgrnam(name.c_str())) return Ok{};
    names += (names.empty() ? "" : ", ") + name;
  }
  return Error::Config("no group of [roles] admin_groups (" + names +
                       ") exists on this host, so vigil would have no administrator to recover an "
                       "account: correct the names (getent group NAME), or create the group");
}

Result<gid_t> http_socket_gid(const Config& cfg) {
  const std::string& name = cfg.tokens.http_socket_group;
  if (group* gr = ::getgrnam(name.c_str())) return gr->gr_gid;
  return Error::Config("the token HTTP socket's group \"" + name +
                       "\" does not exist: set [tokens] http_socket_group to the group of the web "
                       "server's workers");
}

Daemon::Daemon(const Config& cfg) : end_sessions_(cfg.block.end_sessions) {}

namespace {
// The clients' last good settings (config_file.h): a failure costs them
// only the fallback, so it is a warning.
void publish(const Config& cfg) {
  if (auto st = publish_client_settings(cfg); !st)
    log::warning("the clients' last good settings were not written: " + st.error().message);
}
}  // namespace

Result<std::unique_ptr<Daemon>> Daemon::open(const Config& cfg) {
  std::unique_ptr<Daemon> d(new Daemon(cfg));
  for (const auto& w : cfg.warnings) log::warning(w);
  if (auto s = d->start_engine(cfg); !s) return s.error();
  if (cfg.totp.require != TotpRequire::kNone && cfg.totp.grace.count() == 0)
    log::warning(std::string("[totp] require = \"") + require_name(cfg.totp.require) +
                 "\" without grace: accounts it covers that have no factor can log in only on "
                 "the console until an administrator enrols them");
  if (auto s = admin_groups_exist(cfg); !s) return s.error();
  if (cfg.daemon.mode == DaemonMode::kReport) log_mode(cfg, false);
  if (auto s = d->listen(cfg); !s) return s.error();
  publish(cfg);
  d->server_->start();
  d->http_server_->start();
  d->hooks_->start();
  if (d->fleet_) {
    log::info("fleet mode: host " + d->fleet_->host_name() + ", database " + fleet::describe_target(cfg.fleet) +
              "; accounts from uid " + std::to_string(cfg.fleet.uid_min) + " are decided fleet-wide");
    d->fleet_->start();
  }
  return d;
}

Status Daemon::start_engine(const Config& cfg) {
  auto state = StateDir::open(cfg.daemon.state_dir);
  if (!state) return state.error();
  state_.emplace(std::move(*state));
  auto name_key = state_->name_key();
  if (!name_key) return name_key.error();
  services_.name_key = *name_key;
  sodium_memzero(name_key->data(), name_key->size());
  auto store = SqliteStore::open(state_->database_path());
  if (!store) return store.error();
  auto key = open_key(cfg, **store);
  if (!key) return key.error();
  key_ = std::move(*key);
  engine_ = std::make_unique<Engine>(std::move(*store), clock_, cfg.lockout, key_.get(), cfg.totp, cfg.devices,
                                     cfg.block, cfg.throttle, cfg.tokens, cfg.daemon.mode);
  engine_->on_blocked([this](int64_t uid, std::string name) {
    if (end_sessions_) end_sessions_async(uid, std::move(name));
  });
  hooks_ = std::make_unique<HookRunner>(*engine_, cfg.tokens);
  engine_->on_outbox([this] { hooks_->poke(); });  // before start(): read by the engine thread
  // The engine's batches run on the I/O thread: no thread handoff per
  // request, and every request read in one pass of the loop shares a commit.
  engine_->start([this](std::function<void()> fn) { asio::post(io_, std::move(fn)); });
  resolver_ = std::make_unique<Resolver>(static_cast<std::size_t>(cfg.daemon.nss_threads));
  services_.config = std::make_shared<const Config>(cfg);
  services_.engine = engine_.get();
  services_.resolver = resolver_.get();
  services_.tools = &tools_;
  services_.notify = &notify_;
  if (cfg.fleet.enabled()) {
    std::string host = cfg.fleet.host_name;
    if (host.empty()) {
      char buf[256] = {};
      if (::gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return Error::Config("[fleet] host_name: unset, and the machine has no host name");
      host = buf;
      host = host.substr(0, host.find('.'));
    }
    fleet_ = std::make_unique<fleet::Fleet>(io_.get_executor(), cfg.fleet, host);
    fleet_->on_change([this] { update_status(); });
    services_.fleet = fleet_.get();
    // This host's store is the fleet's replica: blocks and recoveries made
    // anywhere are applied here too (rpc/fleet_replica.h).
    fleet_->replicate(fleet_applier(services_, io_), cfg.daemon.state_dir + "/fleet-position");
    // Degraded mode journals in this host's store (fleet.h).
    fleet_->journal(fleet_journal(services_, io_));
  }
  server_ = std::make_unique<Server>(io_, services_);
  http_server_ = std::make_unique<TokenHttpServer>(io_, services_);
  return Ok{};
}

Status Daemon::listen(const Config& cfg) {
  auto adopted = adopt_systemd_sockets(*server_, *http_server_);
  if (!adopted) return adopted.error();
  if (adopted->count == 0) {
    mkdir_parent(cfg.daemon.socket);
    if (auto s = server_->listen_path(cfg.daemon.socket, 0666); !s) return s;
  }
  serving_on_ = adopted->count ? std::string("systemd sockets") : cfg.daemon.socket;
  if (!adopted->admin) {
    // The admin socket: 0660, group [daemon] admin_socket_group.
    auto gid = admin_socket_gid(cfg);
    if (!gid) return gid.error();
    mkdir_parent(cfg.daemon.admin_socket);
    if (auto s = server_->listen_path(cfg.daemon.admin_socket, 0660, Server::Kind::kAdmin, *gid); !s) return s;
    serving_on_ += " and " + cfg.daemon.admin_socket;
  }
  if (!adopted->http && !cfg.tokens.http_socket.empty()) {
    // The token checker for nginx: 0660, group [tokens] http_socket_group.
    auto gid = http_socket_gid(cfg);
    if (!gid) return gid.error();
    mkdir_parent(cfg.tokens.http_socket);
    if (auto s = http_server_->listen_path(cfg.tokens.http_socket, *gid); !s) return s;
  }
  return Ok{};
}

void Daemon::reload(const Config& fresh) {
  const auto old_config = services_.config;  // kept alive until the end of this function
  const auto& old = *old_config;
  for (const auto& w : fresh.warnings) log::warning(w);
  if (fresh.daemon.socket != old.daemon.socket || fresh.daemon.admin_socket != old.daemon.admin_socket ||
      fresh.daemon.admin_socket_group != old.daemon.admin_socket_group ||
      fresh.daemon.state_dir != old.daemon.state_dir || fresh.daemon.nss_threads != old.daemon.nss_threads)
    log::warning("[daemon] socket, admin_socket, admin_socket_group, state_dir and "
                 "nss_threads changes take effect at the next start");
  if (fresh.fleet.enabled() != old.fleet.enabled() || fresh.fleet.url != old.fleet.url ||
      fresh.fleet.host != old.fleet.host || fresh.fleet.hostaddr != old.fleet.hostaddr ||
      fresh.fleet.host_name != old.fleet.host_name || fresh.fleet.db_timeout != old.fleet.db_timeout ||
      fresh.fleet.uid_min != old.fleet.uid_min || fresh.fleet.identity != old.fleet.identity)
    log::warning("[fleet] changes take effect at the next start");
  if (fresh.totp_key_path() != old.totp_key_path())
    log::warning("[totp] key_file changes take effect at the next start");
  services_.config = std::make_shared<const Config>(fresh);
  engine_->set_config(fresh.lockout, fresh.totp, fresh.devices, fresh.block, fresh.throttle, fresh.tokens,
                      fresh.daemon.mode);
  if (fresh.daemon.mode != old.daemon.mode) log_mode(fresh, true);
  end_sessions_ = fresh.block.end_sessions;
  hooks_->set_config(fresh.tokens);
  if (fresh.tokens.http_socket != old.tokens.http_socket ||
      fresh.tokens.http_socket_group != old.tokens.http_socket_group)
    log::warning("[tokens] http_socket and http_socket_group changes take effect at the next start");
  publish(fresh);
  log::event(log::Priority::kNotice, log::kMsgReloaded, "configuration reloaded");
}

// The STATUS= line systemctl status shows.
void Daemon::update_status() {
  const bool report = services_.config->daemon.mode == DaemonMode::kReport;
  engine_->counts([this, report](Result<Engine::Counts> n) {
    asio::post(io_, [this, n = std::move(n), report] {
      std::string line = n ? std::string("STATUS=serving") + (report ? " (REPORT MODE: nothing enforced)" : "") +
                                 "; " + std::to_string(n->locked) + " locked, " +
                                 std::to_string(n->blocked) + " blocked accounts" +
                                 (n->frozen ? "; token API FROZEN" : "")
                           : "STATUS=serving; state store unavailable";
      // Fleet mode: the database's latency, or that it is unreachable (then
      // fleet accounts' logins get the module's failmode).
      if (fleet_) line += "; " + fleet_->status_text();
      sd_notify(0, line.c_str());
    });
  });
}

int Daemon::run(const Reread& reread) {
  // STATUS= refreshed every 30 s; the watchdog pinged at half the interval
  // systemd asks for.
  asio::steady_timer status_timer(io_), watchdog(io_);
  std::function<void()> refresh = [&] {
    update_status();
    status_timer.expires_after(std::chrono::seconds(30));
    status_timer.async_wait([&](boost::system::error_code ec) {
      if (!ec) refresh();
    });
  };
  uint64_t wd_usec = 0;
  std::function<void()> pet = [&] {
    sd_notify(0, "WATCHDOG=1");
    watchdog.expires_after(std::chrono::microseconds(wd_usec / 2));
    watchdog.async_wait([&](boost::system::error_code ec) {
      if (!ec) pet();
    });
  };
  if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0) pet();

  // client.conf stands for the config files only when none of them changed
  // within kRacyWindowSeconds before it was written (protocol/config_files.h:
  // file times have a granularity). A stamp taken that soon after an edit
  // (a start or reload right after the file was written, as a package
  // install or a deployment tool does) is published again once the window
  // has passed, if the files still hold the very text vigild runs with; an
  // edit since waits for its reload. Until then pam_vigil parses the files.
  asio::steady_timer settle(io_);
  // How long until the files' last change is kRacyWindowSeconds old
  // (negative: it is older), on the file clock's time (CLOCK_REALTIME).
  auto until_settled = [](const Config& c) {
    struct timespec now {};
    ::clock_gettime(CLOCK_REALTIME, &now);
    auto since_epoch = [](const struct timespec& t) {
      return std::chrono::seconds(t.tv_sec) + std::chrono::nanoseconds(t.tv_nsec);
    };
    return since_epoch(c.source_newest) + std::chrono::seconds(kRacyWindowSeconds) - since_epoch(now);
  };
  std::function<void(const Config&)> settle_published = [&](const Config& basis) {
    settle.cancel();
    if (basis.source_stamp.empty()) return;
    const auto left = until_settled(basis);
    if (left <= -std::chrono::milliseconds(50)) return;  // published after the window already
    settle.expires_after(
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(left + std::chrono::milliseconds(200)));
    settle.async_wait([&](boost::system::error_code ec) {
      if (ec) return;
      auto fresh = reread();
      if (!fresh || fresh->source_digest != services_.config->source_digest) return;
      if (until_settled(*fresh) >= std::chrono::nanoseconds(0)) {
        settle_published(*fresh);  // touched again meanwhile: wait once more
        return;
      }
      Config settled = *services_.config;
      settled.source_stamp = fresh->source_stamp;
      settled.source_newest = fresh->source_newest;
      publish(settled);
    });
  };
  settle_published(*services_.config);

  asio::signal_set signals(io_, SIGTERM, SIGINT, SIGHUP);
  std::function<void(boost::system::error_code, int)> on_signal = [&](boost::system::error_code ec, int sig) {
    if (ec) return;
    if (sig == SIGHUP) {
      sd_notify(0, "RELOADING=1");
      if (auto fresh = reread(); fresh) {
        reload(*fresh);
        settle_published(*fresh);
      } else
        log::event(log::Priority::kErr, log::kMsgConfigRejected,
                   "reload refused, keeping the running configuration: " + fresh.error().message);
      sd_notify(0, "READY=1");
      signals.async_wait(on_signal);
      return;
    }
    log::info("stopping on signal " + std::to_string(sig));
    sd_notify(0, "STOPPING=1");
    server_->stop();
    http_server_->stop();
    if (fleet_) fleet_->stop();
    status_timer.cancel();
    watchdog.cancel();
    resolver_->stop();
    notify_.stop();
    io_.stop();
  };
  signals.async_wait(on_signal);

  log::event(log::Priority::kInfo, log::kMsgStarted, "vigild " VIGIL_VERSION " serving on " + serving_on_,
             {{"VIGIL_STATE_DIR", services_.config->daemon.state_dir}});
  sd_notify(0, "READY=1");
  refresh();
  // On a PriorityExecutor: its NSS lookups are the daemon's own, never refused.
  asio::co_spawn(make_priority_executor(io_), startup_report(services_), asio::detached);
  io_.run();
  return 0;
}

Daemon::~Daemon() {
  // From here the engine runs jobs on the thread that submits them, so the
  // hook thread and the tools can still finish theirs.
  if (engine_) engine_->stop();
  tools_.join();
  notify_.join();
  if (hooks_) hooks_->stop();
  if (engine_) {
    engine_->stop();
    log::event(log::Priority::kInfo, log::kMsgStopped, "vigild stopped");
  }
}

}  // namespace vigil
