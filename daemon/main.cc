// vigild: the vigil daemon. See vigild(8) and ARCHITECTURE.md.
#include <CLI/CLI.hpp>
#include <sodium.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <iostream>

#include "daemon/breakglass.h"
#include "daemon/fleet/schema.h"
#include "daemon/migrate.h"
#include "daemon/core/config.h"
#include "daemon/core/log.h"
#include "daemon/daemon.h"
#include "daemon/os/config_file.h"
#include "daemon/os/process_hardening.h"
#include "vigil_build_config.h"

using namespace vigil;

namespace {

// Loads the configuration. A missing file at the built-in default path means
// "built-in defaults"; a file named on the command line must exist. Either
// way a file that is there must be one only root can write (config_file.h).
Result<Config> read_config(const std::string& path, bool explicit_path) {
  if (!explicit_path && ::access(path.c_str(), F_OK) != 0 && errno == ENOENT) return Config{};
  return load_daemon_config(path);
}

// --check-config: what vigild would refuse at start besides the file itself,
// checked as if vigild bound every socket itself (no systemd sockets).
Status check_for_start(const Config& cfg) {
  if (auto gid = admin_socket_gid(cfg); !gid) return gid.error();
  if (auto s = admin_groups_exist(cfg); !s) return s;
  if (!cfg.tokens.http_socket.empty())
    if (auto gid = http_socket_gid(cfg); !gid) return gid.error();
  return Ok{};
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
  std::string fleet_setup;
  app.add_option("--fleet-setup", fleet_setup,
                 "create or upgrade the fleet database's schema at URL (a libpq URL or key/value string; "
                 "as a role that may create roles and schemas), then exit; see FLEET in vigild(8)")
      ->type_name("URL");
  std::string migrate_url;
  bool migrate_check = false;
  auto* migrate = app.add_option("--migrate-to", migrate_url,
                                 "move this host's state into the fleet's database at URL (as its owner; "
                                 "vigild stopped), merging conservatively and idempotently, printing the "
                                 "conflicts; see FLEET in vigild(8)")
                      ->type_name("URL");
  app.add_flag("--check", migrate_check, "with --migrate-to: print what would move and the conflicts, write nothing")
      ->needs(migrate);
  CLI11_PARSE(app, argc, argv);
  if (!fleet_setup.empty()) {
    auto v = fleet::setup(fleet_setup, [](const std::string& line) { std::cout << "vigild: " << line << std::endl; });
    if (!v) {
      std::cerr << "vigild: fleet setup: " << v.error().message << "\n";
      return 1;
    }
    return 0;
  }
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
    for (const auto& w : cfg->warnings) std::cerr << "vigild: warning: " << w << "\n";
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
  if (migrate->count() > 0) return migrate_to(*cfg, migrate_url, migrate_check);

  auto daemon = Daemon::open(*cfg);
  if (!daemon) {
    log::error(daemon.error().message);
    return 1;
  }
  const bool explicit_config = cfg_opt->count() > 0;
  return (*daemon)->run([&] { return read_config(config_path, explicit_config); });
}
