// vigild: the vigil daemon. See vigild(8) and ARCHITECTURE.md.
#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <sodium.h>
#include <grp.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <functional>
#include <iostream>

#include "daemon/rpc/admin.h"
#include "daemon/breakglass.h"
#include "daemon/core/config.h"
#include "daemon/os/config_file.h"
#include "daemon/engine/engine.h"
#include "daemon/os/hooks.h"
#include "daemon/rpc/token_http.h"
#include "daemon/core/log.h"
#include "daemon/os/nss.h"
#include "daemon/os/process_hardening.h"
#include "daemon/core/secrets.h"
#include "daemon/os/sessions.h"
#include "daemon/rpc/server.h"
#include "daemon/store/sqlite_store.h"
#include "daemon/os/state_dir.h"
#include "vigil_build_config.h"

namespace asio = boost::asio;
using namespace vigil;

namespace {

// Loads the configuration. A missing file at the built-in default path means
// "built-in defaults"; a file named on the command line must exist. Either
// way a file that is there must be one only root can write (config_file.h).
Result<Config> read_config(const std::string& path, bool explicit_path) {
  if (!explicit_path && ::access(path.c_str(), F_OK) != 0 && errno == ENOENT) return Config{};
  return load_daemon_config(path);
}

// The groups of the sockets vigild binds itself: each must exist.
Result<gid_t> admin_socket_gid(const Config& cfg) {
  // Without that group only root could connect, and root is refused by default.
  const std::string& name = cfg.daemon.admin_socket_group;
  if (group* gr = ::getgrnam(name.c_str())) return gr->gr_gid;
  return Error::Config("the admin socket's group \"" + name +
                             "\" does not exist: create it (systemd-sysusers, or groupadd --system " + name +
                             ") and add the administrators, or set [daemon] admin_socket_group");
}

Result<gid_t> http_socket_gid(const Config& cfg) {
  const std::string& name = cfg.tokens.http_socket_group;
  if (group* gr = ::getgrnam(name.c_str())) return gr->gr_gid;
  return Error::Config("the token HTTP socket's group \"" + name +
                             "\" does not exist: set [tokens] http_socket_group to the group of the web "
                             "server's workers");
}

// --check-config: what vigild would refuse at start besides the file itself,
// checked as if vigild bound every socket itself (no systemd sockets).
Status check_for_start(const Config& cfg) {
  if (auto gid = admin_socket_gid(cfg); !gid) return gid.error();
  if (!cfg.tokens.http_socket.empty())
    if (auto gid = http_socket_gid(cfg); !gid) return gid.error();
  return Ok{};
}

void mkdir_parent(const std::string& socket_path) {
  auto slash = socket_path.rfind('/');
  if (slash == std::string::npos || slash == 0) return;
  ::mkdir(socket_path.substr(0, slash).c_str(), 0755);
}

// Adopts sockets passed by systemd. Returns the number adopted, or -1.
// *admin is set when one of them is the admin socket, *http when one is the
// token checker's ("token-http").
int adopt_systemd_sockets(Server& server, TokenHttpServer& http_server, bool* admin, bool* http) {
  char** names = nullptr;
  int n = sd_listen_fds_with_names(1, &names);
  if (n <= 0) return n;
  int adopted = 0;
  for (int i = 0; i < n; ++i) {
    std::string name = names && names[i] ? names[i] : "";
    int fd = SD_LISTEN_FDS_START + i;
    // The public socket is named "public" in vigild.socket; an unnamed single
    // socket is taken as the public one.
    if (name == "public" || name == "admin" || name == "unknown" || name.empty() ||
        name == "vigild.socket") {
      auto kind = name == "admin" ? Server::Kind::kAdmin : Server::Kind::kPublic;
      if (auto s = server.listen_fd(fd, kind); !s) {
        log::error(s.error().message);
        return -1;
      }
      if (kind == Server::Kind::kAdmin) *admin = true;
      ++adopted;
    } else if (name == "token-http") {
      if (auto s = http_server.listen_fd(fd); !s) {
        log::error(s.error().message);
        return -1;
      }
      *http = true;
      ++adopted;
    } else {
      log::warning("ignoring passed socket named " + name);
      ::close(fd);
    }
  }
  if (names) {
    for (int i = 0; i < n; ++i) free(names[i]);
    free(names);
  }
  return adopted;
}

}  // namespace

int main(int argc, char** argv) {
  log::init();
  CLI::App app{"vigild - the vigil daemon: decides PAM logins (lock, throttle, block) and keeps "
               "their state.\nSee vigild(8)."};
  std::string config_path = VIGIL_DEFAULT_CONFIG;
  bool check_only = false, debug = false, version = false;
  auto* cfg_opt = app.add_option("-c,--config", config_path,
                                 "configuration file (TOML); default " VIGIL_DEFAULT_CONFIG);
  app.add_flag("--check-config", check_only,
               "validate the configuration, print the first error with its line, and exit "
               "non-zero if it is invalid");
  app.add_flag("-d,--debug", debug, "log debug messages");
  app.add_flag("-V,--version", version, "print the version and exit");
  std::string glass_user, glass_reason;
  auto* glass = app.add_option("--break-glass", glass_user,
                               "offline recovery: lift USER's block while vigild is stopped (root, "
                               "on the console; see BREAK-GLASS in vigild(8))")
                    ->type_name("USER");
  app.add_option("--reason", glass_reason, "with --break-glass: why (recorded)")->needs(glass);
  CLI11_PARSE(app, argc, argv);
  if (version) {
    std::cout << "vigild " VIGIL_VERSION "\n";
    return 0;
  }
  log::set_debug(debug);
  // No core, not dumpable, 0-2 open: before any configuration, key or secret.
  if (auto hardened = harden_process(); !hardened) {
    std::cerr << "vigild: " << hardened.error().message << "\n";
    return 1;
  }
  // A client that hangs up mid-reply must not kill the daemon.
  std::signal(SIGPIPE, SIG_IGN);

  auto cfg = read_config(config_path, cfg_opt->count() > 0);
  if (!cfg) {
    std::cerr << "vigild: " << cfg.error().message << "\n";
    return check_only ? 1 : 2;
  }
  if (check_only) {
    if (auto ready = check_for_start(*cfg); !ready) {
      std::cerr << "vigild: " << ready.error().message << "\n";
      return 1;
    }
    std::cout << config_path << ": OK\n";
    return 0;
  }
  if (sodium_init() < 0) {
    log::error("libsodium failed to initialise");
    return 1;
  }
  if (glass->count() > 0) return break_glass(*cfg, glass_user, glass_reason);

  auto state = StateDir::open(cfg->daemon.state_dir);
  if (!state) {
    log::error(state.error().message);
    return 1;
  }
  auto name_key = state->name_key();
  if (!name_key) {
    log::error(name_key.error().message);
    return 1;
  }
  auto store = SqliteStore::open(state->database_path());
  if (!store) {
    log::error(store.error().message);
    return 1;
  }

  // The TOTP key: created only while no secret exists; if secrets exist and
  // the key is gone, refuse to start rather than lose every factor.
  auto secrets = (*store)->count_totp_secrets();
  if (!secrets) {
    log::error(secrets.error().message);
    return 1;
  }
  auto key = SecretKey::load(cfg->totp_key_path(), *secrets > 0);
  if (!key) {
    log::error(key.error().message);
    return 1;
  }
  if (auto box = (*store)->any_sealed_secret(); !box) {
    log::error(box.error().message);
    return 1;
  } else if (*box) {
    auto opened = (*key)->open(**box);
    if (!opened) {
      log::error("the TOTP key " + (*key)->source() +
                 " does not open the stored secrets (a wrong key file or credential?); refusing "
                 "to start");
      return 1;
    }
    wipe(*opened);
  }
  if (cfg->totp.require != TotpRequire::kNone && cfg->totp.grace.count() == 0)
    log::warning(std::string("[totp] require = \"") + require_name(cfg->totp.require) +
                 "\" without grace: accounts it covers that have no factor can log in only on "
                 "the console until an administrator enrols them");

  SystemClock clock;
  Engine engine(std::move(*store), clock, cfg->lockout, key->get(), cfg->totp, cfg->devices,
                cfg->block, cfg->throttle);
  // Ending sessions reads the running configuration's switch at the time.
  std::atomic<bool> end_sessions{cfg->block.end_sessions};
  engine.on_blocked([&end_sessions](int64_t uid, std::string name) {
    if (end_sessions) end_sessions_async(uid, std::move(name));
  });
  HookRunner hooks(engine, cfg->tokens);
  engine.on_outbox([&hooks] { hooks.poke(); });  // before start(): read by the engine thread

  asio::io_context io(1);
  // The engine's batches run on the I/O thread: no thread handoff per
  // request, and every request read in one pass of the loop shares a commit.
  engine.start([&io](std::function<void()> fn) { asio::post(io, std::move(fn)); });
  Resolver resolver(static_cast<std::size_t>(cfg->daemon.nss_threads));
  asio::thread_pool tools(1);
  asio::thread_pool notify(1);
  Services services;
  services.config = std::make_shared<const Config>(*cfg);
  services.engine = &engine;
  services.resolver = &resolver;
  services.tools = &tools;
  services.notify = &notify;
  services.name_key = *name_key;
  sodium_memzero(name_key->data(), name_key->size());

  Server server(io, services);
  TokenHttpServer http_server(io, services);
  bool admin_adopted = false, http_adopted = false;
  int adopted = adopt_systemd_sockets(server, http_server, &admin_adopted, &http_adopted);
  if (adopted < 0) {
    engine.stop();
    return 1;
  }
  if (adopted == 0) {
    mkdir_parent(cfg->daemon.socket);
    if (auto s = server.listen_path(cfg->daemon.socket, 0666); !s) {
      log::error(s.error().message);
      engine.stop();
      return 1;
    }
  }
  if (!admin_adopted) {
    // The admin socket: 0660, group [daemon] admin_socket_group.
    auto gid = admin_socket_gid(*cfg);
    if (!gid) {
      log::error(gid.error().message);
      engine.stop();
      return 1;
    }
    mkdir_parent(cfg->daemon.admin_socket);
    if (auto s = server.listen_path(cfg->daemon.admin_socket, 0660, Server::Kind::kAdmin, *gid); !s) {
      log::error(s.error().message);
      engine.stop();
      return 1;
    }
  }
  if (!http_adopted && !cfg->tokens.http_socket.empty()) {
    // The token checker for nginx: 0660, group [tokens] http_socket_group.
    auto gid = http_socket_gid(*cfg);
    if (!gid) {
      log::error(gid.error().message);
      engine.stop();
      return 1;
    }
    mkdir_parent(cfg->tokens.http_socket);
    if (auto s = http_server.listen_path(cfg->tokens.http_socket, *gid); !s) {
      log::error(s.error().message);
      engine.stop();
      return 1;
    }
  }
  server.start();
  http_server.start();
  hooks.start();

  // STATUS= line, refreshed periodically.
  asio::steady_timer status_timer(io);
  std::function<void()> update_status = [&] {
    engine.counts([&](Result<Engine::Counts> n) {
      asio::post(io, [&, n = std::move(n)] {
        std::string line = n ? "STATUS=serving; " + std::to_string(n->locked) + " locked, " +
                                   std::to_string(n->blocked) + " blocked accounts" +
                                   (n->frozen ? "; token API FROZEN" : "")
                             : "STATUS=serving; state store unavailable";
        sd_notify(0, line.c_str());
      });
    });
    status_timer.expires_after(std::chrono::seconds(30));
    status_timer.async_wait([&](boost::system::error_code ec) {
      if (!ec) update_status();
    });
  };

  // Watchdog: ping at half the interval systemd asks for.
  asio::steady_timer watchdog(io);
  uint64_t wd_usec = 0;
  std::function<void()> pet = [&] {
    sd_notify(0, "WATCHDOG=1");
    watchdog.expires_after(std::chrono::microseconds(wd_usec / 2));
    watchdog.async_wait([&](boost::system::error_code ec) {
      if (!ec) pet();
    });
  };
  if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0) pet();

  asio::signal_set signals(io, SIGTERM, SIGINT, SIGHUP);
  std::function<void(boost::system::error_code, int)> on_signal =
      [&](boost::system::error_code ec, int sig) {
        if (ec) return;
        if (sig == SIGHUP) {
          sd_notify(0, "RELOADING=1");
          auto fresh = read_config(config_path, cfg_opt->count() > 0);
          if (!fresh) {
            log::event(log::Priority::kErr, log::kMsgConfigRejected,
                       "reload refused, keeping the running configuration: " +
                           fresh.error().message);
          } else {
            const auto old_config = services.config;  // kept alive until the end of this block
            const auto& old = *old_config;
            if (fresh->daemon.socket != old.daemon.socket ||
                fresh->daemon.admin_socket != old.daemon.admin_socket ||
                fresh->daemon.admin_socket_group != old.daemon.admin_socket_group ||
                fresh->daemon.state_dir != old.daemon.state_dir ||
                fresh->daemon.nss_threads != old.daemon.nss_threads)
              log::warning("[daemon] socket, admin_socket, admin_socket_group, state_dir and "
                           "nss_threads changes take effect at the next start");
            if (fresh->totp_key_path() != old.totp_key_path())
              log::warning("[totp] key_file changes take effect at the next start");
            services.config = std::make_shared<const Config>(*fresh);
            engine.set_config(fresh->lockout, fresh->totp, fresh->devices, fresh->block,
                              fresh->throttle);
            end_sessions = fresh->block.end_sessions;
            hooks.set_config(fresh->tokens);
            if (fresh->tokens.http_socket != old.tokens.http_socket ||
                fresh->tokens.http_socket_group != old.tokens.http_socket_group)
              log::warning("[tokens] http_socket and http_socket_group changes take effect at the "
                           "next start");
            log::event(log::Priority::kNotice, log::kMsgReloaded, "configuration reloaded");
          }
          sd_notify(0, "READY=1");
          signals.async_wait(on_signal);
          return;
        }
        log::info("stopping on signal " + std::to_string(sig));
        sd_notify(0, "STOPPING=1");
        server.stop();
        http_server.stop();
        status_timer.cancel();
        watchdog.cancel();
        resolver.stop();
        notify.stop();
        io.stop();
      };
  signals.async_wait(on_signal);

  log::event(log::Priority::kInfo, log::kMsgStarted,
             "vigild " VIGIL_VERSION " serving on " +
                 (adopted ? std::string("systemd sockets") : cfg->daemon.socket) +
                 (admin_adopted ? std::string() : " and " + cfg->daemon.admin_socket),
             {{"VIGIL_STATE_DIR", cfg->daemon.state_dir}});
  sd_notify(0, "READY=1");
  update_status();
  // On a PriorityExecutor: its NSS lookups are the daemon's own, never refused.
  asio::co_spawn(make_priority_executor(io), startup_report(services), asio::detached);
  io.run();
  // From here the engine runs jobs on the thread that submits them, so the
  // hook thread and the tools can still finish theirs.
  engine.stop();
  tools.join();
  notify.join();
  hooks.stop();
  engine.stop();
  log::event(log::Priority::kInfo, log::kMsgStopped, "vigild stopped");
  return 0;
}
