// Account state: status. See commands.h.
#include <CLI/CLI.hpp>
#include <boost/json/serialize.hpp>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "ctl/commands.h"
#include "ctl/output.h"
#include "protocol/api_self.h"
#include "protocol/names.h"

namespace vigil::ctl {
namespace api = proto::api;

namespace {

// A verdict in a few words: "open", "LOCKED until TIME (LEFT left)",
// "BLOCKED until recovered".
constexpr char kReportModeLine[] =
    "vigild runs in REPORT MODE: the locks and blocks below are recorded, not enforced "
    "(vigilctl audit lists what was not enforced)\n";

std::string verdict_words(const api::Verdict& v) {
  if (v.state == "blocked") return "BLOCKED until recovered";
  if (v.state == "locked") return "LOCKED until " + when(v.until) + " (" + left(v.until) + " left)";
  return v.state;
}

// A bucket's lock in a few words.
std::string lock_words(const api::LockStatus& s) {
  if (s.locked) return "locked until " + when(s.locked_until) + " (" + left(s.locked_until) + " left)";
  return "not locked";
}

// Every account with recorded state, one line each (root, public socket).
int print_all_accounts(Global& g, bool as_json) {
  auto r = call(g, api::StatusList::kMethod, api::StatusList{}.to_json());
  if (!r) return kExitError;
  if (as_json) {
    print_json(*r);
    return 0;
  }
  auto reply = api::StatusList::Reply::from_json(*r);
  if (!reply) return unreadable(reply.error().message);
  if (reply->report_mode) std::printf("%s", kReportModeLine);
  std::printf("%-20s %8s %8s %6s %8s  %s\n", "USER", "UID", "FAILURES", "LOCKS", "REFUSED", "STATE");
  for (const auto& a : reply->accounts) {
    std::string state = verdict_words(a.verdict);
    if (!a.verdict.why.empty()) state += ": " + terminal_safe(a.verdict.why);
    std::printf("%-20s %8lld %8lld %6lld %8lld  %s\n", terminal_safe(a.user).c_str(), (long long)a.uid,
                (long long)a.lock.failures, (long long)a.lock.lock_count, (long long)a.lock.refused, state.c_str());
  }
  if (reply->accounts.empty()) std::printf("(no account has recorded state)\n");
  return 0;
}

void print_second_factor(const api::TotpStatus& t) {
  std::string f = t.enrolled  ? "enrolled, " + std::to_string(t.recovery_codes) + " recovery codes left"
                  : t.pending ? "enrolment waiting for its first code"
                              : "none";
  if (t.required) f += t.enrolled ? " (required by policy)" : " (REQUIRED by policy)";
  std::printf("second factor: %s\n", f.c_str());
  if (t.failures) std::printf("wrong codes:   %lld within fail_interval\n", (long long)t.failures);
}

void print_known_devices(int64_t devices, const api::KnownDevicesStatus& k) {
  std::printf("known devices: %lld, each with its own bucket: %s, %lld failures\n", (long long)devices,
              lock_words(k.lock).c_str(), (long long)k.lock.failures);
  for (const auto& d : k.locked_devices)
    std::printf("               %s locked until %s\n", terminal_safe(d.device).c_str(), when(d.locked_until).c_str());
}

void print_block(const api::BlockStatus& b) {
  std::printf("blocked:       since %s by %s\n", when(b.since).c_str(), terminal_safe(b.by).c_str());
  if (const std::string evidence = plain_text(b.details); !evidence.empty())
    std::printf("evidence:      %s\n", evidence.c_str());
}

// The failures on record, newest first, as faillock --user lists them.
void print_failures(const std::vector<api::FailureEntry>& failures) {
  if (failures.empty()) return;
  std::printf("recent failures, newest first:\n");
  std::printf("  %-23s %-10s %-28s %-22s %s\n", "WHEN", "SERVICE", "SOURCE", "DEVICE", "COUNTS");
  for (const auto& f : failures)
    std::printf("  %-23s %-10s %-28s %-22s %s\n", when(f.at).c_str(), terminal_safe(f.service).c_str(),
                f.source.empty() ? "(local)" : terminal_safe(f.source).c_str(),
                f.device.empty() ? "(unknown device)" : terminal_safe(f.device).c_str(), f.counts ? "yes" : "no");
}

// One account's state, one fact a line.
void print_one(const api::StatusGetReply& a) {
  if (a.report_mode) std::printf("%s", kReportModeLine);
  std::printf("user:          %s (uid %lld)\n", terminal_safe(a.user).c_str(), (long long)a.uid);
  std::printf("state:         %s\n", verdict_words(a.verdict).c_str());
  if (!a.verdict.why.empty()) std::printf("why:           %s\n", terminal_safe(a.verdict.why).c_str());
  if (a.block) print_block(*a.block);
  for (const auto& t : a.throttled_sources)
    std::printf("throttled:     source %s (bucket %s) is banned until %s: every attempt from there is refused\n",
                terminal_safe(t.source).c_str(),
                terminal_safe(t.bucket).c_str(), when(t.until).c_str());
  std::printf("failures:      %lld within fail_interval, from unknown devices\n", (long long)a.lock.failures);
  std::printf("locks:         %lld since the last successful login\n", (long long)a.lock.lock_count);
  std::printf("refused:       %lld attempts while locked\n", (long long)a.lock.refused);
  std::printf("last failure:  %s\n", when(a.lock.last_failure).c_str());
  std::printf("last success:  %s\n", when(a.lock.last_success).c_str());
  if (a.totp) print_second_factor(*a.totp);
  if (a.known_devices) print_known_devices(a.devices, *a.known_devices);
  if (a.password_change)
    std::printf("password:      CHANGE REQUIRED since the recovery of %s by %s: the old one opens "
                "nothing\n", when(a.password_change->since).c_str(), terminal_safe(a.password_change->by).c_str());
  if (a.admin) std::printf("role:          administrator\n");
  print_failures(a.recent_failures);
}

}  // namespace

void add_status_options(CLI::App& cmd, Args& a) {
  cmd.add_option("USER", a.status.user, "user name");
  cmd.add_flag("--json", a.status.json, "print JSON for scripts");
}

int run_status(Global& g, const Args& a) {
  const auto& user = a.status.user;
  if (user.empty() && ::geteuid() == 0) return print_all_accounts(g, a.status.json);
  // Someone else's account: administrators read it through the admin socket.
  auto r = own_or_admin_call(g, api::StatusGet::kMethod, api::StatusGet{user}.to_json(), user);
  if (!r) return kExitError;
  if (a.status.json) {
    print_json(*r);
    return 0;
  }
  auto reply = api::StatusGet::Reply::from_json(*r);
  if (!reply) return unreadable(reply.error().message);
  print_one(*reply);
  return 0;
}

}  // namespace vigil::ctl
