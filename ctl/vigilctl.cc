// vigilctl: the command line for administrators and for self-service.
// See vigilctl(8).
#include <CLI/CLI.hpp>
#include <boost/json/serialize.hpp>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <iostream>
#include <string>

#include "daemon/config.h"
#include "protocol/client.h"
#include "protocol/names.h"
#include "vigil_build_config.h"

namespace json = boost::json;
namespace proto = vigil::proto;

namespace {

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

struct Global {
  std::string config_path = VIGIL_DEFAULT_CONFIG;
  bool config_given = false;
  std::string socket;
  int timeout_ms = 5000;
};

// Socket: --socket, else the config's [daemon] socket, else the default.
bool resolve_socket(Global& g) {
  if (!g.socket.empty()) return true;
  vigil::Config defaults;
  if (!g.config_given && ::access(g.config_path.c_str(), F_OK) != 0) {
    g.socket = defaults.daemon.socket;
    return true;
  }
  auto cfg = vigil::load_config(g.config_path);
  if (!cfg) {
    std::cerr << "vigilctl: " << cfg.error().message << "\n";
    return false;
  }
  g.socket = cfg->daemon.socket;
  return true;
}

// One call; prints the error and returns nullopt on any failure.
std::optional<json::object> call(Global& g, const char* method, json::object params) {
  if (!resolve_socket(g)) return std::nullopt;
  proto::ClientOptions o{g.socket, std::chrono::milliseconds(g.timeout_ms), true};
  auto res = proto::call(o, proto::Call{method, std::move(params)});
  if (res.transport != proto::Transport::kOk) {
    std::cerr << "vigilctl: cannot reach vigild at " << g.socket << ": "
              << proto::transport_name(res.transport) << " (" << res.detail << ")\n";
    if (res.transport == proto::Transport::kAbsent)
      std::cerr << "vigilctl: is vigild running? (systemctl status vigild)\n";
    return std::nullopt;
  }
  if (!res.reply.ok()) {
    std::string msg = res.reply.message();
    std::cerr << "vigilctl: " << (msg.empty() ? res.reply.error : msg);
    if (res.reply.error == proto::kErrPermissionDenied) std::cerr << " (permission denied)";
    std::cerr << "\n";
    return std::nullopt;
  }
  return std::move(res.reply.params);
}

int64_t num(const json::object& o, const char* k) {
  auto it = o.find(k);
  if (it == o.end()) return 0;
  if (it->value().is_int64()) return it->value().as_int64();
  if (it->value().is_uint64()) return static_cast<int64_t>(it->value().as_uint64());
  return 0;
}
bool flag(const json::object& o, const char* k) {
  auto it = o.find(k);
  return it != o.end() && it->value().is_bool() && it->value().as_bool();
}
std::string str(const json::object& o, const char* k) {
  auto it = o.find(k);
  return it != o.end() && it->value().is_string() ? std::string(it->value().as_string()) : "";
}

std::string when(int64_t epoch) {
  if (epoch <= 0) return "never";
  std::time_t t = static_cast<std::time_t>(epoch);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %Z", &tm);
  return buf;
}

std::string left(int64_t until) {
  int64_t s = until - static_cast<int64_t>(std::time(nullptr));
  if (s < 0) s = 0;
  char buf[64];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%lldh %02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
  else std::snprintf(buf, sizeof buf, "%lldm %02llds", (long long)(s / 60), (long long)(s % 60));
  return buf;
}

std::string state_text(const json::object& a) {
  if (flag(a, "locked")) return "locked until " + when(num(a, "locked_until")) + " (" + left(num(a, "locked_until")) + " left)";
  return "not locked";
}

void print_one(const json::object& a) {
  std::printf("user:          %s (uid %lld)\n", str(a, "user").c_str(), (long long)num(a, "uid"));
  std::printf("state:         %s\n", state_text(a).c_str());
  std::printf("failures:      %lld within fail_interval\n", (long long)num(a, "failures"));
  std::printf("locks:         %lld since the last successful login\n", (long long)num(a, "lock_count"));
  std::printf("refused:       %lld attempts while locked\n", (long long)num(a, "refused"));
  std::printf("last failure:  %s\n", when(num(a, "last_failure")).c_str());
  std::printf("last success:  %s\n", when(num(a, "last_success")).c_str());
}

}  // namespace

int main(int argc, char** argv) {
  Global g;
  CLI::App app{"vigilctl - inspect and manage vigil's account state.\nSee vigilctl(8)."};
  app.require_subcommand(1);
  auto* cfg_opt = app.add_option("-c,--config", g.config_path,
                                 "configuration file, for the socket path; default " VIGIL_DEFAULT_CONFIG);
  app.add_option("-s,--socket", g.socket, "vigild's public socket (default: [daemon] socket of the config)");
  app.add_option("--timeout", g.timeout_ms, "milliseconds to wait for vigild (default 5000)")
      ->check(CLI::Range(10, 600000));
  bool version = false;
  app.add_flag("-V,--version", version, "print the version and exit");

  std::string status_user;
  bool status_json = false;
  auto* status = app.add_subcommand(
      "status",
      "show failures, lock state and unlock time; without USER: every account (root) or your own");
  status->add_option("USER", status_user, "user name");
  status->add_flag("--json", status_json, "print JSON for scripts");

  std::string reset_user;
  bool reset_json = false;
  auto* reset = app.add_subcommand("reset", "clear the failures and lock of USER (root only)");
  reset->add_option("USER", reset_user, "user name")->required();
  reset->add_flag("--json", reset_json, "print JSON for scripts");

  app.set_version_flag("", "");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    if (version) {
      std::cout << "vigilctl " VIGIL_VERSION "\n";
      return 0;
    }
    app.exit(e);
    return kExitUsage;
  }
  g.config_given = cfg_opt->count() > 0;

  if (status->parsed()) {
    if (status_user.empty() && ::geteuid() == 0) {
      auto r = call(g, proto::kStatusList, {});
      if (!r) return kExitError;
      if (status_json) {
        std::cout << json::serialize(*r) << "\n";
        return 0;
      }
      const auto& accounts = (*r)["accounts"].as_array();
      std::printf("%-20s %8s %8s %6s %8s  %s\n", "USER", "UID", "FAILURES", "LOCKS", "REFUSED", "STATE");
      for (const auto& v : accounts) {
        const auto& a = v.as_object();
        std::printf("%-20s %8lld %8lld %6lld %8lld  %s\n", str(a, "user").c_str(), (long long)num(a, "uid"),
                    (long long)num(a, "failures"), (long long)num(a, "lock_count"),
                    (long long)num(a, "refused"), state_text(a).c_str());
      }
      if (accounts.empty()) std::printf("(no account has recorded state)\n");
      return 0;
    }
    json::object p;
    if (!status_user.empty()) p["user"] = status_user;
    auto r = call(g, proto::kStatusGet, std::move(p));
    if (!r) return kExitError;
    if (status_json) std::cout << json::serialize(*r) << "\n";
    else print_one(*r);
    return 0;
  }
  if (reset->parsed()) {
    json::object p;
    p["user"] = reset_user;
    auto r = call(g, proto::kAccountReset, std::move(p));
    if (!r) return kExitError;
    if (reset_json) std::cout << json::serialize(*r) << "\n";
    else
      std::printf("reset %s%s\n", str(*r, "user").c_str(),
                  flag(*r, "was_locked") ? " (it was locked)" : "");
    return 0;
  }
  return kExitUsage;
}
