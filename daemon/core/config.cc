#include "daemon/core/config.h"

#include "protocol/config_files.h"
#include "protocol/config_text.h"

// Header-only toml++ without exceptions: parse errors are values, and the
// PAM module can use the same mode without loading libtomlplusplus.
#define TOML_HEADER_ONLY 1
#define TOML_EXCEPTIONS 0
#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>

namespace vigil {
namespace {

std::string where(std::string_view src, const toml::source_region& r) {
  return std::string(src) + ":" + std::to_string(r.begin.line) + ": ";
}

Error cfg_error(std::string msg) { return Error::Config(std::move(msg)); }

// One setter per key: parses the node into the Config, or returns a message.
using Setter = std::function<std::string(const toml::node&, Config&)>;


template <class Section>
Setter int_setter(Section Config::*sec, int Section::*field, int lo, int hi) {
  return [=](const toml::node& n, Config& c) -> std::string {
    auto v = n.value_exact<int64_t>();
    if (!v) return "expected an integer";
    if (*v < lo || *v > hi)
      return "must be between " + std::to_string(lo) + " and " + std::to_string(hi);
    c.*sec.*field = static_cast<int>(*v);
    return {};
  };
}

template <class Section>
Setter bool_setter(Section Config::*sec, bool Section::*field) {
  return [=](const toml::node& n, Config& c) -> std::string {
    auto v = n.value_exact<bool>();
    if (!v) return "expected true or false";
    c.*sec.*field = *v;
    return {};
  };
}

template <class Section>
Setter path_setter(Section Config::*sec, std::string Section::*field) {
  return [=](const toml::node& n, Config& c) -> std::string {
    auto v = n.value_exact<std::string>();
    if (!v) return "expected a string";
    if (v->empty() || (*v)[0] != '/') return "expected an absolute path";
    if (v->find('\0') != std::string::npos) return "path contains NUL";
    c.*sec.*field = *v;
    return {};
  };
}

template <class Section>
Setter duration_setter(Section Config::*sec, Seconds Section::*field, Seconds lo, Seconds hi) {
  return [=](const toml::node& n, Config& c) -> std::string {
    auto v = n.value_exact<std::string>();
    if (!v) return "expected a duration string such as \"15m\"";
    auto d = parse_duration(*v);
    if (!d) return d.error().message;
    if (*d < lo || *d > hi)
      return "must be between " + format_duration(lo) + " and " + format_duration(hi);
    c.*sec.*field = *d;
    return {};
  };
}

// A list of names (groups, PAM services), each 1 to 256 bytes.
template <class Section>
Setter names_setter(Section Config::*section, std::vector<std::string> Section::*member, const char* what) {
  return [section, member, what](const toml::node& n, Config& c) -> std::string {
    const toml::array* arr = n.as_array();
    if (!arr) return std::string("expected an array of ") + what;
    std::vector<std::string> out;
    for (const auto& el : *arr) {
      auto v = el.value_exact<std::string>();
      if (!v || v->empty() || v->size() > 256) return std::string("expected an array of ") + what;
      out.push_back(*v);
    }
    c.*section.*member = std::move(out);
    return {};
  };
}

// [[devices.rule]]: an array of tables, each { match = {...}, action = "..." }.
Setter rules_setter(std::string_view src) {
  std::string source(src);
  return [source](const toml::node& n, Config& c) -> std::string {
    const toml::array* arr = n.as_array();
    if (!arr) return "expected [[devices.rule]] tables";
    std::vector<Rule> rules;
    for (const auto& el : *arr) {
      const toml::table* t = el.as_table();
      auto at = [](const auto& x) { return std::to_string(x.source().begin.line); };
      if (!t) return "each rule must be a table";
      Rule r;
      r.line = static_cast<int>(el.source().begin.line);
      bool has_action = false, has_match = false;
      for (const auto& [k, v] : *t) {
        if (k.str() == "action") {
          auto a = v.value_exact<std::string>();
          if (a && *a == "allow") r.action = RuleAction::kAllow;
          else if (a && *a == "deny") r.action = RuleAction::kDeny;
          else if (a && *a == "require-totp") r.action = RuleAction::kRequireTotp;
          else if (a && *a == "skip-totp") r.action = RuleAction::kSkipTotp;
          else
            return "line " + at(v) + ": unknown action (use allow, deny, require-totp or skip-totp)";
          has_action = true;
        } else if (k.str() == "identity") {
          auto id = v.value_exact<std::string>();
          auto s = id ? device::parse_strength(*id) : std::nullopt;
          if (!s) return "line " + at(v) + ": identity must be \"key\", \"address\" or \"tty\"";
          r.identity = *s;
        } else if (k.str() == "match") {
          const toml::table* m = v.as_table();
          if (!m) return "line " + at(v) + ": match must be a table";
          has_match = true;
          for (const auto& [mk, mv] : *m) {
            std::vector<std::string> list;
            if (auto str = mv.value_exact<std::string>()) {
              list.push_back(*str);
            } else if (const toml::array* ma = mv.as_array()) {
              for (const auto& x : *ma) {
                auto sx = x.value_exact<std::string>();
                if (!sx) return "line " + at(mv) + ": match." + std::string(mk.str()) + " must hold strings";
                list.push_back(*sx);
              }
            } else {
              return "line " + at(mv) + ": match." + std::string(mk.str()) + " must be a string or a list";
            }
            std::string key(mk.str());
            if (key == "user") r.users = list;
            else if (key == "groups" || key == "group") r.groups = list;
            else if (key == "service") r.services = list;
            else if (key == "network") {
              for (const auto& x : list) {
                auto net = parse_network(x);
                if (!net) return "line " + at(mv) + ": bad network \"" + x + "\" (use CIDR, e.g. 10.0.0.0/8 or !2001:db8::/32)";
                r.networks.push_back(*net);
              }
            } else if (key == "tty") {
              if (list.size() != 1) return "line " + at(mv) + ": match.tty is one glob";
              r.tty = list[0];
            } else if (key == "device") {
              if (list.size() == 1 && list[0] == "known") r.device = Rule::Device::kKnown;
              else if (list.size() == 1 && list[0] == "unknown") r.device = Rule::Device::kUnknown;
              else return "line " + at(mv) + ": match.device must be \"known\" or \"unknown\"";
            } else {
              return "line " + at(mk) + ": unknown match key \"" + key + "\"";
            }
          }
        } else {
          return "line " + at(k) + ": unknown rule key \"" + std::string(k.str()) + "\"";
        }
      }
      if (!has_action) return "line " + std::to_string(r.line) + ": the rule has no action";
      // A forgotten match would apply the action to every login: say so.
      if (!has_match)
        return "line " + std::to_string(r.line) +
               ": the rule has no match (write match = {} for a rule that matches every login)";
      rules.push_back(std::move(r));
    }
    // A drop-in's rules come after those of the files before it.
    c.devices.rules.insert(c.devices.rules.end(), rules.begin(), rules.end());
    return {};
  };
}

// [throttle] trusted_networks: CIDR networks or single addresses, none
// negated (a negation would trust almost everything).
Setter networks_setter() {
  return [](const toml::node& n, Config& c) -> std::string {
    const toml::array* arr = n.as_array();
    if (!arr) return "expected an array of networks, e.g. [\"10.0.0.0/8\", \"2001:db8::/32\"]";
    std::vector<Network> out;
    std::vector<std::string> text;
    for (const auto& el : *arr) {
      auto v = el.value_exact<std::string>();
      auto net = v ? parse_network(*v) : std::nullopt;
      if (!net) return "bad network " + (v ? "\"" + *v + "\"" : std::string("(not a string)")) +
                       " (use CIDR, e.g. 10.0.0.0/8, or one address)";
      if (net->negated) return "\"" + *v + "\": a trusted network cannot be negated";
      out.push_back(*net);
      text.push_back(*v);
    }
    c.throttle.trusted_networks = std::move(out);
    c.throttle.trusted_networks_text = std::move(text);
    return {};
  };
}

Setter require_setter() {
  return [](const toml::node& n, Config& c) -> std::string {
    auto v = n.value_exact<std::string>();
    if (v && *v == "none") c.totp.require = TotpRequire::kNone;
    else if (v && *v == "admins") c.totp.require = TotpRequire::kAdmins;
    else if (v && *v == "all") c.totp.require = TotpRequire::kAll;
    else return "expected \"none\", \"admins\" or \"all\"";
    return {};
  };
}

// One of a few words ("enforce" or "report"), each naming a value.
template <class Section, class E>
Setter choice_setter(Section Config::*sec, E Section::*field, std::vector<std::pair<std::string, E>> choices) {
  return [=](const toml::node& n, Config& c) -> std::string {
    auto v = n.value_exact<std::string>();
    std::string expected = "expected";
    for (std::size_t i = 0; i < choices.size(); ++i) {
      if (v && *v == choices[i].first) {
        c.*sec.*field = choices[i].second;
        return {};
      }
      expected += (i == 0 ? " \"" : i + 1 == choices.size() ? " or \"" : ", \"") + choices[i].first + "\"";
    }
    return expected;
  };
}

Setter optional_path_setter(std::string TotpConfig::*field) {
  return [=](const toml::node& n, Config& c) -> std::string {
    auto v = n.value_exact<std::string>();
    if (!v) return "expected a string";
    if (!v->empty() && (*v)[0] != '/') return "expected an absolute path, or \"\" for the default";
    c.totp.*field = *v;
    return {};
  };
}

template <class Section>
Setter group_name_setter(Section Config::*sec, std::string Section::*field) {
  return [=](const toml::node& n, Config& c) -> std::string {
    auto v = n.value_exact<std::string>();
    if (!v || v->empty() || v->size() > 256 || v->find_first_of(":\n") != std::string::npos)
      return "expected a group name";
    c.*sec.*field = *v;
    return {};
  };
}

Setter optional_socket_setter() {
  return [](const toml::node& n, Config& c) -> std::string {
    auto v = n.value_exact<std::string>();
    if (!v) return "expected a string";
    if (!v->empty() && (*v)[0] != '/') return "expected an absolute path, or \"\" for off";
    c.tokens.http_socket = *v;
    return {};
  };
}

Setter command_setter() {
  return [](const toml::node& n, Config& c) -> std::string {
    auto v = n.value_exact<std::string>();
    if (!v) return "expected a string (a shell command line), or \"\" for none";
    if (v->find('\0') != std::string::npos) return "the command contains NUL";
    c.recovery.notify_command = *v;
    return {};
  };
}

Setter issuer_setter() {
  return [](const toml::node& n, Config& c) -> std::string {
    auto v = n.value_exact<std::string>();
    if (!v || v->empty() || v->size() > 64 || v->find(':') != std::string::npos)
      return "expected a short name without ':'";
    c.totp.issuer = *v;
    return {};
  };
}

Setter pam_service_setter() {
  return [](const toml::node& n, Config& c) -> std::string {
    auto v = n.value_exact<std::string>();
    auto ok = [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.'; };
    if (!v || v->empty() || v->size() > 64 || !std::all_of(v->begin(), v->end(), ok) || (*v)[0] == '.')
      return "expected a PAM service name (letters, digits, '.', '_', '-')";
    c.totp.enroll_pam_service = *v;
    return {};
  };
}

// A [fleet] string: any text without NUL or a line break, at most 1024
// bytes ("" = unset); `name`: a host or trust-group name, which becomes a
// PostgreSQL role name (letters, digits, '-', '_', '.'; at most 63 bytes).
Setter fleet_text_setter(std::string FleetConfig::*field, bool name = false, bool name_may_be_empty = false) {
  return [=](const toml::node& n, Config& c) -> std::string {
    auto v = n.value_exact<std::string>();
    if (!v) return "expected a string";
    if (name && !(name_may_be_empty && v->empty())) {
      auto ok = [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.';
      };
      if (v->empty() || v->size() > 63 || !std::all_of(v->begin(), v->end(), ok))
        return "expected a name of 1 to 63 letters, digits, '-', '_' or '.'";
    } else if (v->size() > 1024 || v->find_first_of(std::string_view("\0\n\r", 3)) != std::string::npos) {
      return "expected one line of at most 1024 bytes";
    }
    c.fleet.*field = *v;
    return {};
  };
}

// A [fleet] file: an absolute path, or "" (libpq's default).
Setter fleet_path_setter(std::string FleetConfig::*field) {
  return [=](const toml::node& n, Config& c) -> std::string {
    auto v = n.value_exact<std::string>();
    if (!v) return "expected a string";
    if (!v->empty() && ((*v)[0] != '/' || v->find('\0') != std::string::npos))
      return "expected an absolute path, or \"\" for libpq's default";
    c.fleet.*field = *v;
    return {};
  };
}

Setter fleet_timeout_setter() {
  return [](const toml::node& n, Config& c) -> std::string {
    auto v = n.value_exact<std::string>();
    if (!v) return "expected a duration string such as \"300ms\"";
    auto d = parse_duration_ms(*v);
    if (!d) return d.error().message;
    if (d->count() < 10 || d->count() > 10000) return "must be between 10ms and 10s";
    c.fleet.db_timeout = *d;
    return {};
  };
}

const std::map<std::string, std::map<std::string, Setter>>& schema() {
  static const auto* s = new std::map<std::string, std::map<std::string, Setter>>{
      {"daemon",
       {
           {"socket", path_setter(&Config::daemon, &DaemonConfig::socket)},
           {"state_dir", path_setter(&Config::daemon, &DaemonConfig::state_dir)},
           {"max_connections_per_uid",
            int_setter(&Config::daemon, &DaemonConfig::max_connections_per_uid, 1, 4096)},
           {"max_requests_per_second",
            int_setter(&Config::daemon, &DaemonConfig::max_requests_per_second, 0, 100000)},
           {"request_timeout", duration_setter(&Config::daemon, &DaemonConfig::request_timeout,
                                               Seconds(1), Seconds(300))},
           {"admin_socket", path_setter(&Config::daemon, &DaemonConfig::admin_socket)},
           {"admin_socket_group", group_name_setter(&Config::daemon, &DaemonConfig::admin_socket_group)},
           {"nss_threads", int_setter(&Config::daemon, &DaemonConfig::nss_threads, 1, 16)},
           {"mode", choice_setter(&Config::daemon, &DaemonConfig::mode,
                                  {{"enforce", DaemonMode::kEnforce}, {"report", DaemonMode::kReport}})},
       }},
      {"lockout",
       {
           {"deny", int_setter(&Config::lockout, &LockoutConfig::deny, 1, 1000)},
           {"fail_interval", duration_setter(&Config::lockout, &LockoutConfig::fail_interval,
                                             Seconds(1), Seconds(366LL * 86400))},
           {"unlock_time", duration_setter(&Config::lockout, &LockoutConfig::unlock_time,
                                           Seconds(1), Seconds(366LL * 86400))},
           {"max_unlock_time", duration_setter(&Config::lockout, &LockoutConfig::max_unlock_time,
                                               Seconds(1), Seconds(366LL * 86400))},
           {"even_deny_root", bool_setter(&Config::lockout, &LockoutConfig::even_deny_root)},
           {"console_exempt", bool_setter(&Config::lockout, &LockoutConfig::console_exempt)},
       }},
      {"throttle",
       {
           {"deny", int_setter(&Config::throttle, &ThrottleConfig::deny, 0, 100000)},
           {"window", duration_setter(&Config::throttle, &ThrottleConfig::window, Seconds(1),
                                      Seconds(366LL * 86400))},
           {"ban_time", duration_setter(&Config::throttle, &ThrottleConfig::ban_time, Seconds(1),
                                        Seconds(366LL * 86400))},
           {"max_ban_time", duration_setter(&Config::throttle, &ThrottleConfig::max_ban_time,
                                            Seconds(1), Seconds(366LL * 86400))},
           {"trusted_networks", networks_setter()},
       }},
      {"block",
       {
           {"attack_sources", int_setter(&Config::block, &BlockConfig::attack_sources, 1, 100)},
           {"escalate_after_locks",
            int_setter(&Config::block, &BlockConfig::escalate_after_locks, 0, 100)},
           {"end_sessions", bool_setter(&Config::block, &BlockConfig::end_sessions)},
       }},
      {"devices",
       {
           {"trust_days", int_setter(&Config::devices, &DevicesConfig::trust_days, 1, 3650)},
           {"remote_services", names_setter(&Config::devices, &DevicesConfig::remote_services, "PAM service names")},
           {"rule", rules_setter("")},
       }},
      {"roles",
       {
           {"admin_groups", names_setter(&Config::roles, &RolesConfig::admin_groups, "group names")},
       }},
      {"totp",
       {
           {"require", require_setter()},
           {"window", int_setter(&Config::totp, &TotpConfig::window, 0, 10)},
           {"max_failures", int_setter(&Config::totp, &TotpConfig::max_failures, 1, 100)},
           {"grace", duration_setter(&Config::totp, &TotpConfig::grace, Seconds(0),
                                     Seconds(366LL * 86400))},
           {"enroll_window", duration_setter(&Config::totp, &TotpConfig::enroll_window, Seconds(60),
                                             Seconds(366LL * 86400))},
           {"key_file", optional_path_setter(&TotpConfig::key_file)},
           {"issuer", issuer_setter()},
           {"enroll_pam_service", pam_service_setter()},
       }},
      {"recovery",
       {
           {"step_up", bool_setter(&Config::recovery, &RecoveryConfig::step_up)},
           {"step_up_ttl", duration_setter(&Config::recovery, &RecoveryConfig::step_up_ttl,
                                           Seconds(0), Seconds(24 * 3600))},
           {"allow_root", bool_setter(&Config::recovery, &RecoveryConfig::allow_root)},
           {"approval_ttl", duration_setter(&Config::recovery, &RecoveryConfig::approval_ttl,
                                            Seconds(60), Seconds(30LL * 86400))},
           {"expire_password", bool_setter(&Config::recovery, &RecoveryConfig::expire_password)},
           {"notify_command", command_setter()},
       }},
      {"tokens",
       {
           {"http_socket", optional_socket_setter()},
           {"http_socket_group", group_name_setter(&Config::tokens, &TokensConfig::http_socket_group)},
           {"revoke_hooks_dir", path_setter(&Config::tokens, &TokensConfig::revoke_hooks_dir)},
           {"hook_timeout", duration_setter(&Config::tokens, &TokensConfig::hook_timeout, Seconds(1),
                                            Seconds(3600))},
           {"default_ttl", duration_setter(&Config::tokens, &TokensConfig::default_ttl, Seconds(60),
                                           Seconds(3660LL * 86400))},
           {"freeze_on", choice_setter(&Config::tokens, &TokensConfig::freeze_on,
                                       {{"admins", FreezeOn::kAdmins}, {"any", FreezeOn::kAny}})},
       }},
      {"fleet",
       {
           {"url", fleet_text_setter(&FleetConfig::url)},
           {"host", fleet_text_setter(&FleetConfig::host)},
           {"hostaddr", fleet_text_setter(&FleetConfig::hostaddr)},
           {"port", int_setter(&Config::fleet, &FleetConfig::port, 0, 65535)},
           {"dbname", fleet_text_setter(&FleetConfig::dbname)},
           {"sslmode", choice_setter(&Config::fleet, &FleetConfig::sslmode,
                                     {{"", std::string()}, {"disable", std::string("disable")},
                                      {"require", std::string("require")},
                                      {"verify-ca", std::string("verify-ca")},
                                      {"verify-full", std::string("verify-full")}})},
           {"sslcert", fleet_path_setter(&FleetConfig::sslcert)},
           {"sslkey", fleet_path_setter(&FleetConfig::sslkey)},
           {"sslrootcert", fleet_path_setter(&FleetConfig::sslrootcert)},
           {"host_name", fleet_text_setter(&FleetConfig::host_name, true, true)},
           {"trust_group", fleet_text_setter(&FleetConfig::trust_group, true)},
           {"db_timeout", fleet_timeout_setter()},
           {"propagation", duration_setter(&Config::fleet, &FleetConfig::propagation, Seconds(1), Seconds(60))},
           {"fence", duration_setter(&Config::fleet, &FleetConfig::fence, Seconds(1), Seconds(3600))},
           {"identity", choice_setter(&Config::fleet, &FleetConfig::identity,
                                      {{"name", FleetIdentity::kName}, {"uid", FleetIdentity::kUid}})},
           {"system_accounts", choice_setter(&Config::fleet, &FleetConfig::system_accounts_fleet,
                                             {{"local", false}, {"fleet", true}})},
           {"uid_min", int_setter(&Config::fleet, &FleetConfig::uid_min, 1, 2147483647)},
           {"deny_offline", int_setter(&Config::fleet, &FleetConfig::deny_offline, 1, 1000)},
           {"offline_totp", choice_setter(&Config::fleet, &FleetConfig::offline_totp_password_only,
                                          {{"deny", false}, {"password_only", true}})},
           {"offline_admins", choice_setter(&Config::fleet, &FleetConfig::offline_admins_allow,
                                            {{"deny", false}, {"allow", true}})},
       }},
  };
  return *s;
}

}  // namespace

const std::vector<std::string> kKnownKeys = [] {
  std::vector<std::string> keys;
  for (const auto& [sec, entries] : schema())
    for (const auto& [key, setter] : entries) keys.push_back(sec + "." + key);
  return keys;
}();

const char* require_name(TotpRequire r) {
  switch (r) {
    case TotpRequire::kNone: return "none";
    case TotpRequire::kAdmins: return "admins";
    case TotpRequire::kAll: return "all";
  }
  return "?";
}

const char* mode_name(DaemonMode m) { return m == DaemonMode::kReport ? "report" : "enforce"; }

const char* freeze_on_name(FreezeOn f) { return f == FreezeOn::kAny ? "any" : "admins"; }

const char* identity_name(FleetIdentity i) { return i == FleetIdentity::kUid ? "uid" : "name"; }

Result<std::chrono::milliseconds> parse_duration_ms(std::string_view text) {
  if (text.size() > 2 && text.ends_with("ms")) {
    long long n = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size() - 2, n);
    if (ec == std::errc() && p == text.data() + text.size() - 2 && n >= 0 && n <= 100LL * 365 * 86400 * 1000)
      return std::chrono::milliseconds(n);
    return Error::Config("invalid duration \"" + std::string(text) + "\" (use a number and a unit: 300ms, 2s)");
  }
  auto s = parse_duration(text);
  if (!s) return s.error();
  return std::chrono::duration_cast<std::chrono::milliseconds>(*s);
}

Result<Seconds> parse_duration(std::string_view text) {
  auto bad = [&] {
    return Error::Config("invalid duration \"" + std::string(text) +
                               "\" (use a number and a unit: 90s, 15m, 24h, 30d)");
  };
  if (text.size() < 2) return bad();
  long long n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size() - 1, n);
  if (ec != std::errc() || p != text.data() + text.size() - 1 || n < 0) return bad();
  long long mult = 0;
  switch (text.back()) {
    case 's': mult = 1; break;
    case 'm': mult = 60; break;
    case 'h': mult = 3600; break;
    case 'd': mult = 86400; break;
    default: return bad();
  }
  if (n > 100LL * 365 * 86400 / mult) return bad();
  return Seconds(n * mult);
}

std::string format_duration(Seconds s) {
  long long v = s.count();
  if (v != 0 && v % 86400 == 0) return std::to_string(v / 86400) + "d";
  if (v != 0 && v % 3600 == 0) return std::to_string(v / 3600) + "h";
  if (v != 0 && v % 60 == 0) return std::to_string(v / 60) + "m";
  return std::to_string(v) + "s";
}

namespace {

// "section.key" -> the file and line that last set it; absent: the default.
struct KeyAt {
  std::string source;
  int line = 0;
};
using KeyLines = std::map<std::string, KeyAt>;

// An error about two keys names both, each with its line ("the default"
// when no file sets it); the head is the first of them that is set.
Error pair_error(const KeyLines& lines, std::string_view fallback, const std::string& a, const std::string& b,
                 const std::string& what) {
  const KeyAt* head = nullptr;
  for (const auto& k : {a, b}) {
    auto it = lines.find(k);
    if (it != lines.end() && (!head || (it->second.source == head->source && it->second.line < head->line)))
      head = &it->second;
  }
  auto at = [&](const std::string& k) {
    auto it = lines.find(k);
    if (it == lines.end()) return k + " (the default)";
    if (it->second.source == head->source) return k + " (line " + std::to_string(it->second.line) + ")";
    return k + " (" + it->second.source + ":" + std::to_string(it->second.line) + ")";
  };
  std::string head_at = head ? head->source + ":" + std::to_string(head->line) : std::string(fallback);
  return cfg_error(head_at + ": " + at(a) + " " + what + " " + at(b));
}

// The checks that involve two keys.
std::optional<Error> check_pairs(const Config& cfg, const KeyLines& lines, std::string_view source) {
  auto pair = [&](const char* a, const char* b, const char* what) { return pair_error(lines, source, a, b, what); };
  if (cfg.throttle.max_ban_time < cfg.throttle.ban_time)
    return pair("throttle.max_ban_time", "throttle.ban_time", "must not be shorter than");
  if (cfg.lockout.max_unlock_time < cfg.lockout.unlock_time)
    return pair("lockout.max_unlock_time", "lockout.unlock_time", "must not be shorter than");
  if (!cfg.tokens.http_socket.empty() && cfg.tokens.http_socket == cfg.daemon.socket)
    return pair("tokens.http_socket", "daemon.socket", "must differ from");
  if (!cfg.tokens.http_socket.empty() && cfg.tokens.http_socket == cfg.daemon.admin_socket)
    return pair("tokens.http_socket", "daemon.admin_socket", "must differ from");
  if (cfg.daemon.admin_socket == cfg.daemon.socket)
    return pair("daemon.admin_socket", "daemon.socket", "must differ from");
  if ((!cfg.fleet.sslcert.empty()) != (!cfg.fleet.sslkey.empty()))
    return pair("fleet.sslcert", "fleet.sslkey", "must be set together with");
  return std::nullopt;
}

// One file's keys, set over what the files before it set.
std::optional<Error> apply(const ConfigSource& src, Config& cfg, KeyLines& lines) {
  const std::string_view source_name = src.path;
  if (auto problem = config_text_problem(src.text)) return cfg_error(src.path + ": " + *problem);
  toml::parse_result parsed = toml::parse(src.text, source_name);
  if (!parsed) {
    const auto& err = parsed.error();
    return cfg_error(where(source_name, err.source()) + std::string(err.description()));
  }
  // toml++ keeps a table's keys sorted by name: the warnings are put back in
  // line order below.
  std::vector<std::pair<int, std::string>> unknown;
  auto warn = [&](const toml::source_region& at, std::string what) {
    unknown.emplace_back(static_cast<int>(at.begin.line), where(source_name, at) + std::move(what) + ", ignored");
  };
  for (const auto& [sec_key, sec_node] : parsed.table()) {
    auto sec = schema().find(std::string(sec_key.str()));
    const toml::table* tbl = sec_node.as_table();
    if (sec != schema().end() && !tbl)
      return cfg_error(where(source_name, sec_key.source()) + "\"" + std::string(sec_key.str()) +
                       "\" must be a table");
    if (sec == schema().end()) {
      // A newer version's section, or a typo: said, and left out, so that
      // one file can serve hosts of several versions.
      warn(sec_key.source(), "unknown section [" + std::string(sec_key.str()) + "]");
      continue;
    }
    for (const auto& [key, node] : *tbl) {
      const std::string name = sec->first + "." + std::string(key.str());
      auto setter = sec->second.find(std::string(key.str()));
      if (setter == sec->second.end()) {
        warn(key.source(), "unknown key \"" + std::string(key.str()) + "\" in [" + sec->first + "]");
        continue;
      }
      lines[name] = KeyAt{src.path, static_cast<int>(key.source().begin.line)};
      std::string msg = setter->second(node, cfg);
      if (msg.empty()) continue;
      // A setter may name a more precise line: "line N: ...".
      if (msg.starts_with("line ")) {
        auto colon = msg.find(':');
        return cfg_error(src.path + ":" + msg.substr(5, colon - 5) + ": " + name + ":" + msg.substr(colon + 1));
      }
      return cfg_error(where(source_name, node.source()) + name + ": " + msg);
    }
  }
  std::stable_sort(unknown.begin(), unknown.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [line, text] : unknown) cfg.warnings.push_back(std::move(text));
  return std::nullopt;
}

}  // namespace

Result<Config> parse_config(std::span<const ConfigSource> sources) {
  Config cfg;
  KeyLines lines;  // where each key was last set, for the checks of two keys
  for (const auto& src : sources)
    if (auto error = apply(src, cfg, lines)) return *error;
  if (auto error = check_pairs(cfg, lines, sources.empty() ? "" : sources.front().path)) return *error;
  return cfg;
}

Result<Config> parse_config(std::string_view text, std::string_view source_name) {
  const ConfigSource one{std::string(source_name), std::string(text)};
  return parse_config(std::span<const ConfigSource>(&one, 1));
}

Result<std::vector<ConfigSource>> read_config_sources(const std::string& path) {
  std::vector<std::string> paths{path};
  auto dropins = dropin_paths(path);
  if (!dropins) return dropins.error();
  paths.insert(paths.end(), dropins->begin(), dropins->end());
  std::vector<ConfigSource> out;
  for (const auto& p : paths) {
    std::ifstream in(p, std::ios::binary);
    if (!in) return cfg_error(p + ": cannot open: " + std::strerror(errno));
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) return cfg_error(p + ": read error");
    out.push_back(ConfigSource{p, ss.str()});
  }
  return out;
}

Result<Config> load_config(const std::string& path) {
  auto sources = read_config_sources(path);
  if (!sources) return sources.error();
  return parse_config(*sources);
}

}  // namespace vigil
