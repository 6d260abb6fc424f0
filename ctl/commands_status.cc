// Account state: status, reset, audit. See commands.h.
#include <CLI/CLI.hpp>
#include <boost/json/serialize.hpp>
#include <unistd.h>

#include <cstdio>

#include "ctl/commands.h"
#include "ctl/output.h"
#include "protocol/names.h"

namespace vigil::ctl {

namespace {

// Every account with recorded state, one line each (root, public socket).
int print_all_accounts(Global& g, bool as_json) {
  auto r = call(g, proto::kStatusList, {});
  if (!r) return kExitError;
  if (as_json) {
    print_json(*r);
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

void print_second_factor(const json::object& t) {
  std::string f = flag(t, "enrolled") ? "enrolled, " + std::to_string(num(t, "recovery_codes")) +
                                            " recovery codes left"
                                      : flag(t, "pending") ? "enrolment waiting for its first code"
                                                           : "none";
  if (flag(t, "required")) f += flag(t, "enrolled") ? " (required by policy)" : " (REQUIRED by policy)";
  std::printf("second factor: %s\n", f.c_str());
  if (num(t, "failures")) std::printf("wrong codes:   %lld within fail_interval\n", (long long)num(t, "failures"));
}

void print_known_devices(const json::object& a, const json::object& k) {
  std::printf("known devices: %lld, each with its own bucket: %s, %lld failures\n",
              (long long)num(a, "devices"), state_text(k).c_str(), (long long)num(k, "failures"));
  if (auto l = k.find("locked_devices"); l != k.end() && l->value().is_array())
    for (const auto& d : l->value().as_array())
      std::printf("               %s locked until %s\n", str(d.as_object(), "device").c_str(),
                  when(num(d.as_object(), "locked_until")).c_str());
}

// One account's state, one fact a line.
void print_one(const json::object& a) {
  std::printf("user:          %s (uid %lld)\n", str(a, "user").c_str(), (long long)num(a, "uid"));
  if (auto it = a.find("block"); it != a.end() && it->value().is_object()) {
    const auto& b = it->value().as_object();
    std::printf("BLOCKED:       since %s by %s\n", when(num(b, "since")).c_str(), str(b, "by").c_str());
    std::printf("reason:        %s\n", str(b, "reason").c_str());
    if (auto d = b.find("details"); d != b.end()) std::printf("evidence:      %s\n", terminal_safe(json::serialize(d->value())).c_str());
  }
  std::printf("state:         %s\n", state_text(a).c_str());
  std::printf("failures:      %lld within fail_interval\n", (long long)num(a, "failures"));
  std::printf("locks:         %lld since the last successful login\n", (long long)num(a, "lock_count"));
  std::printf("refused:       %lld attempts while locked\n", (long long)num(a, "refused"));
  std::printf("last failure:  %s\n", when(num(a, "last_failure")).c_str());
  std::printf("last success:  %s\n", when(num(a, "last_success")).c_str());
  if (auto it = a.find("totp"); it != a.end() && it->value().is_object()) print_second_factor(it->value().as_object());
  if (auto it = a.find("known_devices"); it != a.end() && it->value().is_object())
    print_known_devices(a, it->value().as_object());
  if (auto it = a.find("password_change"); it != a.end() && it->value().is_object())
    std::printf("password:      CHANGE REQUIRED since the recovery of %s by %s: the old one opens "
                "nothing\n", when(num(it->value().as_object(), "since")).c_str(),
                str(it->value().as_object(), "by").c_str());
  if (flag(a, "admin")) std::printf("role:          administrator\n");
}

// The audit's sections; each header comes before its list is read.
void print_admins(json::object& r) {
  std::printf("Administrators:\n");
  const auto& admins = r["admins"].as_array();
  for (const auto& v : admins) {
    const auto& a = v.as_object();
    std::printf("  %-16s uid %-8lld second factor: %-4s %s\n", str(a, "user").c_str(), (long long)num(a, "uid"),
                flag(a, "totp") ? "yes" : "NO", flag(a, "blocked") ? "BLOCKED" : "active");
  }
  if (admins.empty()) std::printf("  (none)\n");
}

void print_without_totp(json::object& r) {
  std::printf("\nAccounts without a second factor:\n");
  const auto& accounts = r["without_totp"].as_array();
  for (const auto& v : accounts) {
    const auto& a = v.as_object();
    std::printf("  %-16s uid %lld%s\n", str(a, "user").c_str(), (long long)num(a, "uid"),
                flag(a, "admin") ? " (administrator)" : "");
  }
  if (accounts.empty()) std::printf("  (none)\n");
}

void print_blocked(json::object& r) {
  std::printf("\nBlocked accounts:\n");
  const auto& blocked = r["blocked"].as_array();
  for (const auto& v : blocked) {
    const auto& a = v.as_object();
    std::printf("  %-16s since %s by %s: %s\n", str(a, "user").c_str(), when(num(a, "since")).c_str(),
                str(a, "by").c_str(), str(a, "reason").c_str());
  }
  if (blocked.empty()) std::printf("  (none)\n");
}

}  // namespace

void add_status_options(CLI::App& cmd, Args& a) {
  cmd.add_option("USER", a.status.user, "user name");
  cmd.add_flag("--json", a.status.json, "print JSON for scripts");
}

int run_status(Global& g, const Args& a) {
  const auto& user = a.status.user;
  if (user.empty() && ::geteuid() == 0) return print_all_accounts(g, a.status.json);
  json::object p;
  if (!user.empty()) p["user"] = user;
  CallError err;
  auto r = call(g, proto::kStatusGet, p, &err);
  if (!r && err.error == proto::kErrPermissionDenied && !user.empty() &&
      ::access(g.admin_socket.c_str(), R_OK | W_OK) == 0) {
    // Someone else's account: administrators read it through the admin socket.
    r = admin_call(g, proto::kStatusGet, p);
    if (!r) return kExitError;
  } else if (!r) {
    if (!err.error.empty()) print_refusal(err);
    return kExitError;
  }
  if (a.status.json) print_json(*r);
  else print_one(*r);
  return 0;
}

void add_reset_options(CLI::App& cmd, Args& a) {
  cmd.add_option("USER", a.reset.user, "user name")->required();
  cmd.add_flag("--json", a.reset.json, "print JSON for scripts");
}

int run_reset(Global& g, const Args& a) {
  json::object p;
  p["user"] = a.reset.user;
  auto r = admin_call(g, proto::kAccountReset, std::move(p));
  if (!r) return kExitError;
  if (a.reset.json) print_json(*r);
  else
    std::printf("reset %s%s\n", str(*r, "user").c_str(),
                flag(*r, "was_locked") ? " (it was locked)" : "");
  return 0;
}

void add_audit_options(CLI::App& cmd, Args& a) {
  cmd.add_flag("--json", a.audit.json, "print JSON for scripts");
}

int run_audit(Global& g, const Args& a) {
  auto r = admin_call(g, proto::kAdminAudit, {});
  if (!r) return kExitError;
  if (a.audit.json) {
    print_json(*r);
    return 0;
  }
  print_admins(*r);
  print_without_totp(*r);
  print_blocked(*r);
  std::printf("\nOpen requests: %zu (vigilctl requests)\n", (*r)["requests"].as_array().size());
  const auto& warnings = (*r)["warnings"].as_array();
  if (!warnings.empty()) std::printf("\n");
  for (const auto& w : warnings) std::printf("WARNING: %s\n", text(w).c_str());
  return 0;
}

}  // namespace vigil::ctl
