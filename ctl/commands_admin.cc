// Administrators' account actions on the admin socket: reset, audit. See
// commands.h.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <optional>

#include "ctl/commands.h"
#include "ctl/output.h"
#include "protocol/api_admin.h"

namespace vigil::ctl {
namespace api = proto::api;

namespace {

// The audit's sections; each header comes before its list.
void print_admins(const std::vector<api::AuditAdmin>& admins) {
  std::printf("Administrators:\n");
  for (const auto& a : admins)
    std::printf("  %-16s uid %-8lld second factor: %-4s %s\n", terminal_safe(a.user).c_str(), (long long)a.uid,
                a.totp ? "yes" : "NO", a.blocked ? "BLOCKED" : "active");
  if (admins.empty()) std::printf("  (none)\n");
}

void print_without_totp(const std::vector<api::AuditAccount>& accounts) {
  std::printf("\nAccounts without a second factor:\n");
  for (const auto& a : accounts)
    std::printf("  %-16s uid %lld%s\n", terminal_safe(a.user).c_str(), (long long)a.uid,
                a.admin ? " (administrator)" : "");
  if (accounts.empty()) std::printf("  (none)\n");
}

void print_blocked(const std::vector<api::AuditBlock>& blocked) {
  std::printf("\nBlocked accounts:\n");
  for (const auto& a : blocked)
    std::printf("  %-16s since %s by %s: %s\n", terminal_safe(a.user).c_str(), when(a.since).c_str(),
                terminal_safe(a.by).c_str(), terminal_safe(a.reason).c_str());
  if (blocked.empty()) std::printf("  (none)\n");
}

}  // namespace

void add_reset_options(CLI::App& cmd, Args& a) {
  cmd.add_option("USER", a.reset.user, "user name")->required();
  cmd.add_flag("--json", a.reset.json, "print JSON for scripts");
}

int run_reset(Global& g, const Args& a) {
  auto r = admin_call(g, api::AccountReset::kMethod, api::AccountReset{a.reset.user}.to_json());
  if (!r) return kExitError;
  if (a.reset.json) {
    print_json(*r);
    return 0;
  }
  auto reply = decoded<api::AccountReset::Reply>(*r);
  if (!reply) return kExitError;
  std::printf("reset %s%s\n", terminal_safe(reply->user).c_str(), reply->was_locked ? " (it was locked)" : "");
  return 0;
}

void add_audit_options(CLI::App& cmd, Args& a) {
  cmd.add_flag("--json", a.audit.json, "print JSON for scripts");
}

int run_audit(Global& g, const Args& a) {
  auto r = read_call(g, api::AdminAudit::kMethod, api::AdminAudit{}.to_json());
  if (!r) return kExitError;
  if (a.audit.json) {
    print_json(*r);
    return 0;
  }
  auto reply = decoded<api::AdminAudit::Reply>(*r);
  if (!reply) return kExitError;
  print_admins(reply->admins);
  print_without_totp(reply->without_totp);
  print_blocked(reply->blocked);
  std::printf("\nOpen requests: %zu (vigilctl requests)\n", reply->requests.size());
  if (!reply->warnings.empty()) std::printf("\n");
  for (const auto& w : reply->warnings) std::printf("WARNING: %s\n", terminal_safe(w).c_str());
  return 0;
}

}  // namespace vigil::ctl
