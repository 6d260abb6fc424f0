// Administrators' account actions on the admin socket: reset, audit. See
// commands.h.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <optional>
#include <string>

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
    std::printf("  %-16s uid %-8lld second factor: %-4s recovery codes: %-3lld %s\n", terminal_safe(a.user).c_str(),
                (long long)a.uid, a.totp ? "yes" : "NO", (long long)a.recovery_codes,
                a.blocked ? "BLOCKED" : "active");
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

// Report mode: the banner first, the section last.
void print_report_banner(const std::optional<api::AuditReportMode>& m) {
  if (!m || !m->active) return;
  std::printf("vigild runs in REPORT MODE ([daemon] mode = \"report\"): it records and logs the refusals\n"
              "below but enforces none of them.\n\n");
}

void print_report_mode(const std::optional<api::AuditReportMode>& m) {
  if (!m) return;
  std::printf("\nReport mode: refusals not enforced, since %s%s:\n", when(m->since).c_str(),
              m->active ? "" : " (vigild enforces again now)");
  for (const auto& c : m->counts)
    std::printf("  %6lld  %s\n", (long long)c.count, terminal_safe(c.reason).c_str());
  if (m->counts.empty()) std::printf("  (none)\n");
  if (!m->latest.empty()) std::printf("Latest:\n");
  for (const auto& e : m->latest) {
    std::string where = e.source.empty() ? "" : " from " + terminal_safe(e.source);
    if (!e.service.empty()) where += " (" + terminal_safe(e.service) + ")";
    std::printf("  %s  %-16s %s%s\n", when(e.at).c_str(), terminal_safe(e.user).c_str(),
                terminal_safe(e.reason).c_str(), where.c_str());
  }
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
  print_report_banner(reply->report_mode);
  print_admins(reply->admins);
  print_without_totp(reply->without_totp);
  print_blocked(reply->blocked);
  std::printf("\nOpen requests: %zu (vigilctl requests)\n", reply->requests.size());
  print_report_mode(reply->report_mode);
  if (!reply->warnings.empty()) std::printf("\n");
  for (const auto& w : reply->warnings) std::printf("WARNING: %s\n", terminal_safe(w).c_str());
  return 0;
}

}  // namespace vigil::ctl
