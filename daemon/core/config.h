// vigild's configuration: /etc/vigil/vigil.conf (TOML).
//
// Contract:
//  * parse_config() validates everything: wrong types, out-of-range values,
//    malformed durations and bad rules are errors whose message starts with
//    "FILE:LINE:"; an error about two keys names both, with their lines. A
//    Config returned is always usable.
//  * An unknown section or key (a newer version's, or a typo) is not an
//    error: it is left out, and Config::warnings says so, naming its line,
//    so that one file can serve hosts running several versions. Inside a
//    [[devices.rule]] an unknown key stays an error: a rule that ignored
//    part of its match would match more than was written.
//  * Every key and its default is listed in conf/vigil.conf and vigil.conf(5);
//    kKnownKeys below is the single list the tests compare those against.
//  * Durations are strings with a unit: "90s", "15m", "24h", "30d".
//  * Pure: no I/O except read_config_sources() and load_config() reading
//    the files.
#pragma once

#include <time.h>

#include <chrono>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/core/rules.h"
#include "protocol/config_files.h"
#include "protocol/result.h"

namespace vigil {

using Seconds = std::chrono::seconds;

// [daemon] mode: "enforce" answers as decided; "report" decides and records
// the same, logs each refusal it would have made, and enforces none of them
// (engine.h: "Report mode").
enum class DaemonMode { kEnforce, kReport };

struct DaemonConfig {
  std::string socket = "/run/vigil/vigil.sock";
  std::string state_dir = "/var/lib/vigil";
  int max_connections_per_uid = 16;  // non-root callers; root has its own budget
  int max_requests_per_second = 50;  // per non-root uid, both sockets; 0: no limit; root never
  Seconds request_timeout{5};        // a connection must deliver a frame within this
  std::string admin_socket = "/run/vigil/admin.sock";  // 0660, group admin_socket_group
  std::string admin_socket_group = "vigil-admin";
  // Threads that run NSS lookups (getpwnam, getgrouplist, the directory
  // listing). 1 serialises them, for NSS modules that are not thread-safe.
  int nss_threads = 2;
  DaemonMode mode = DaemonMode::kEnforce;
};

struct LockoutConfig {
  // Chosen with bench/attack_sim (vigil.conf(5), [lockout]).
  int deny = 3;
  Seconds fail_interval{12 * 3600};
  Seconds unlock_time{3600};
  Seconds max_unlock_time{24 * 3600};
  bool even_deny_root = false;
  bool console_exempt = true;
};

struct RolesConfig {
  // Members of these groups (primary group included) are administrators.
  std::vector<std::string> admin_groups = {"sudo", "wheel"};
};

enum class TotpRequire { kNone, kAdmins, kAll };

struct TotpConfig {
  TotpRequire require = TotpRequire::kNone;
  int window = 1;                  // accepted steps either side of now
  int max_failures = 5;            // wrong codes after a right password, within fail_interval
  Seconds grace{0};                // newly required accounts may log in without a factor
  Seconds enroll_window{15 * 60};  // obsolete: parsed for old files, no effect
  // Self-enrolment proves the account's password on this PAM service.
  std::string enroll_pam_service = "vigil";
  std::string key_file;            // empty: <state_dir>/totp.key
  std::string issuer = "vigil";    // shown in authenticator apps
};

struct DevicesConfig {
  int trust_days = 30;  // a device stays known this long after its last use
  // Services that log users in from the network: a login through one with no
  // address or key names no device, even when it has a terminal name.
  std::vector<std::string> remote_services = {"sshd"};
  std::vector<Rule> rules;  // [[devices.rule]], in order
};

struct BlockConfig {
  int attack_sources = 3;        // distinct unknown sources of failures before a right password blocks
  int escalate_after_locks = 0;  // 0: off. Else this many locks in a row block the account
  bool end_sessions = true;      // end the blocked user's sessions through logind
};

struct ThrottleConfig {
  int deny = 20;                    // failures from one source (all users) within window; 0: off
  Seconds window{10 * 60};
  Seconds ban_time{10 * 60};        // the first ban; each further one doubles...
  Seconds max_ban_time{24 * 3600};  // ...up to this
  // Sources whose failures never ban them (an office NAT, a bastion, a
  // monitoring host): they still count toward each account's own lock.
  // Negated networks are not allowed here.
  std::vector<Network> trusted_networks;
  std::vector<std::string> trusted_networks_text;  // as written, for vigilctl throttles

  bool trusted(const device::Source& s) const {
    for (const auto& n : trusted_networks)
      if (network_matches(n, s)) return true;
    return false;
  }

  LockoutConfig as_lockout() const {
    LockoutConfig c;
    c.deny = deny > 0 ? deny : 1;
    c.fail_interval = window;
    c.unlock_time = ban_time;
    c.max_unlock_time = max_ban_time;
    return c;
  }
};

struct RecoveryConfig {
  bool step_up = true;               // admin changes need the admin's own current code
  Seconds step_up_ttl{5 * 60};       // a step-up holds for that uid this long
  bool allow_root = false;           // may uid 0 use the admin socket directly
  Seconds approval_ttl{24 * 3600};   // a pending --approval unblock expires after this
  bool expire_password = true;       // expire a local account's password on unblock
  std::string notify_command;        // run (sh -c) with each recovery request on stdin; "": none
};

// [tokens] freeze_on: whose block freezes the token API until that account's
// recovery. kAdmins: an administrator's (the default). kAny: anyone's, as in
// the hosted model (a block that rests on wrong passwords alone, [block]
// escalate_after_locks, never freezes).
enum class FreezeOn { kAdmins, kAny };

struct TokensConfig {
  std::string http_socket;                // HTTP/1.1 checker for nginx auth_request; "": off
  std::string http_socket_group = "www-data";
  std::string revoke_hooks_dir = "/etc/vigil/revoke-hooks.d";
  Seconds hook_timeout{30};
  Seconds default_ttl{30 * 86400};        // vigilctl token issue without --ttl
  FreezeOn freeze_on = FreezeOn::kAdmins;
};

// [fleet]: the shared state in PostgreSQL (vigild(8), FLEET). Off while
// neither url nor host nor hostaddr is set.
enum class FleetIdentity { kName, kUid };

struct FleetConfig {
  // The server: a libpq URL or key/value string, and/or its parts; a part
  // set here overrides the URL's. The role is always host_name (one role
  // and one client certificate per host), so no password goes here.
  std::string url;
  std::string host, hostaddr, dbname, sslcert, sslkey, sslrootcert;
  std::string sslmode;  // "": the URL's, or verify-full when the URL sets none
  int port = 0;  // 0: the URL's, or libpq's default
  std::string host_name;                 // "": the machine's host name (gethostname)
  std::string trust_group = "default";   // known devices are shared within a trust group
  std::chrono::milliseconds db_timeout{300};  // one deadline per database call
  Seconds propagation{2};                // a block reaches every host within this
  Seconds fence{10};                     // token checks answer from a replica this old at most
  FleetIdentity identity = FleetIdentity::kName;
  // Accounts below uid_min (system accounts, root) stay per host unless
  // system_accounts is "fleet": root on A is not root on B.
  bool system_accounts_fleet = false;
  int uid_min = 1000;
  // Degraded mode (the database missed a deadline): failures are decided by
  // this host's own policy with this deny, and journaled for the fleet.
  int deny_offline = 3;
  // A second factor cannot be checked without the database: "deny" refuses
  // every fleet account that has one or may have one; password_only lets
  // the password alone open an account that has one.
  bool offline_totp_password_only = false;
  // Administrators ([roles] admin_groups) are refused while degraded
  // ("deny"); the console stays the way in.
  bool offline_admins_allow = false;

  bool enabled() const { return !url.empty() || !host.empty() || !hostaddr.empty(); }
};

struct Config {
  DaemonConfig daemon;
  ThrottleConfig throttle;
  DevicesConfig devices;
  BlockConfig block;
  LockoutConfig lockout;
  RolesConfig roles;
  TotpConfig totp;
  RecoveryConfig recovery;
  TokensConfig tokens;
  FleetConfig fleet;
  // What the file set that this version does not know ("FILE:LINE: unknown
  // key ..., ignored"); vigild logs them, --check-config prints them.
  std::vector<std::string> warnings;
  // Not a setting: the stamp of the files this was read from
  // (load_daemon_config, protocol/config_files.h), published in client.conf;
  // empty for the built-in defaults.
  std::string source_stamp;
  // Not settings either: a digest of the files' text, and their latest mtime
  // or ctime, for the re-publishing of a stamp taken too soon after an edit
  // (daemon.cc, settle_published).
  std::string source_digest;
  struct timespec source_newest {};

  std::string totp_key_path() const {
    return totp.key_file.empty() ? daemon.state_dir + "/totp.key" : totp.key_file;
  }
};

const char* require_name(TotpRequire r);
const char* mode_name(DaemonMode m);      // "enforce", "report"
const char* freeze_on_name(FreezeOn f);   // "admins", "any"
const char* identity_name(FleetIdentity i);  // "name", "uid"

// "section.key" for every key the parser accepts.
extern const std::vector<std::string> kKnownKeys;

// The files in order (protocol/config_files.h): each sets its keys over
// what the ones before it set; [[devices.rule]] tables add up. The checks of
// two keys run once, on the result.
Result<Config> parse_config(std::span<const ConfigSource> sources);
Result<Config> parse_config(std::string_view text, std::string_view source_name);
// FILE and its drop-ins (FILE.d/*.conf), read and parsed. A missing FILE is
// an error here; vigild treats only the built-in default path specially
// (see daemon/main.cc).
Result<std::vector<ConfigSource>> read_config_sources(const std::string& path);
Result<Config> load_config(const std::string& path);

// "300ms" -> 300ms; also accepts what parse_duration accepts.
Result<std::chrono::milliseconds> parse_duration_ms(std::string_view text);

// "15m" -> 900s. Accepts an integer followed by one of s, m, h, d.
Result<Seconds> parse_duration(std::string_view text);
std::string format_duration(Seconds s);

}  // namespace vigil
