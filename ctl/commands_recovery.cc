// Blocks and recovery: block, unblock, password-changed, approve, requests,
// request-unblock. See commands.h.
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

// What an unblock (or its approval) did: filed for approval, nothing, or
// the recovery, with what the user has to do about the password.
int print_unblocked(const json::object& r, bool as_json) {
  if (as_json) {
    print_json(r);
    return 0;
  }
  auto reply = decoded<api::UnblockReply>(r);
  if (!reply) return kExitError;
  const std::string user = terminal_safe(reply->user);
  if (reply->pending) {
    const std::string id = terminal_safe(reply->id);
    std::printf("unblock of %s filed for approval as %s (expires %s)\n"
                "a third active administrator, neither you nor %s, completes it with: vigilctl approve %s\n",
                user.c_str(), id.c_str(), when(reply->expires).c_str(), user.c_str(), id.c_str());
    return 0;
  }
  if (!reply->changed) {
    std::printf("%s is not blocked; nothing changed\n", user.c_str());
    return 0;
  }
  std::printf("unblocked %s: block, locks and failures cleared\n", user.c_str());
  std::printf("forgot %lld device(s) first seen since %s\n", (long long)reply->devices_forgotten,
              when(reply->suspicious_since).c_str());
  if (reply->password) std::printf("password: %s\n", terminal_safe(reply->password->message).c_str());
  if (reply->password_change_required)
    std::printf("%s's password opens nothing until it is changed: %s changes it (passwd) after a key\n"
                "or console login, or an administrator sets a new one (passwd %s) and hands it\n"
                "over; a password changed outside PAM: vigilctl password-changed %s --reason TEXT\n",
                user.c_str(), user.c_str(), user.c_str(), user.c_str());
  return 0;
}

void print_recovery(const api::RecoveryEntry& r) {
  std::printf("%-9s %-16s %-16s %-25s %-8s %s\n", terminal_safe(r.id).c_str(), terminal_safe(r.user).c_str(),
              terminal_safe(r.requester).c_str(), when(r.created).c_str(), r.blocked ? "BLOCKED" : "no",
              terminal_safe(r.reason).c_str());
}

}  // namespace

void add_block_options(CLI::App& cmd, Args& a) {
  cmd.add_option("USER", a.account.user, "user name")->required();
  cmd.add_option("--reason", a.account.reason, "why (recorded and logged)")->required();
  cmd.add_flag("--json", a.account.json, "print JSON for scripts");
}

int run_block(Global& g, const Args& a) {
  const api::AccountBlock request{a.account.user, a.account.reason};
  auto r = admin_call(g, api::AccountBlock::kMethod, request.to_json());
  if (!r) return kExitError;
  if (a.account.json) {
    print_json(*r);
    return 0;
  }
  auto reply = decoded<api::AccountBlock::Reply>(*r);
  if (!reply) return kExitError;
  const std::string user = terminal_safe(reply->user);
  if (!reply->changed) {
    std::printf("%s was already blocked\n", user.c_str());
    return 0;
  }
  std::printf("blocked %s: every login is refused, except a local console login while [lockout] "
              "console_exempt is on (the default)\n"
              "lift it with: vigilctl unblock %s --reason TEXT (another administrator, for an "
              "administrator)\n",
              user.c_str(), user.c_str());
  return 0;
}

void add_unblock_options(CLI::App& cmd, Args& a) {
  cmd.add_option("USER", a.account.user, "user name")->required();
  cmd.add_option("--reason", a.account.reason, "why (recorded and logged)")->required();
  auto* vc = cmd.add_flag("--verify-code", a.account.verify_code,
                          "verify USER's identity with a current code or recovery code that USER "
                          "reads out (terminal prompt or VIGIL_VERIFY_CODE)");
  cmd.add_flag("--approval", a.account.approval,
               "file the unblock for approval by a third active administrator "
               "(vigilctl approve ID)")
      ->excludes(vc);
  cmd.add_flag("--json", a.account.json, "print JSON for scripts");
}

int run_unblock(Global& g, const Args& a) {
  const std::string& user = a.account.user;
  api::AccountUnblock request{user, a.account.reason, a.account.approval, {}};
  if (a.account.verify_code) {
    auto c = read_code(user + "'s code (read out by " + user + "): ", "VIGIL_VERIFY_CODE");
    if (!c || c->empty()) {
      std::cerr << "vigilctl: --verify-code needs " << user
                << "'s code: set VIGIL_VERIFY_CODE or run on a terminal\n";
      return kExitError;
    }
    request.verify_code = std::move(*c);
    wipe(*c);  // a short code moved out leaves its characters behind
  }
  // admin_call wipes the JSON's verify_code once sent; the struct's is ours.
  auto r = admin_call(g, api::AccountUnblock::kMethod, request.to_json());
  wipe(request.verify_code);
  if (!r) return kExitError;
  return print_unblocked(*r, a.account.json);
}

void add_password_changed_options(CLI::App& cmd, Args& a) {
  cmd.add_option("USER", a.account.user, "user name")->required();
  cmd.add_option("--reason", a.account.reason, "how it was changed (recorded and logged)")->required();
  cmd.add_flag("--json", a.account.json, "print JSON for scripts");
}

int run_password_changed(Global& g, const Args& a) {
  const api::AccountPasswordChanged request{a.account.user, a.account.reason};
  auto r = admin_call(g, api::AccountPasswordChanged::kMethod, request.to_json());
  if (!r) return kExitError;
  if (a.account.json) {
    print_json(*r);
    return 0;
  }
  auto reply = decoded<api::AccountPasswordChanged::Reply>(*r);
  if (!reply) return kExitError;
  const std::string user = terminal_safe(reply->user);
  if (reply->changed)
    std::printf("recorded: %s's password was changed; password logins work again\n", user.c_str());
  else
    std::printf("%s needed no password change; nothing changed\n", user.c_str());
  return 0;
}

void add_approve_options(CLI::App& cmd, Args& a) {
  cmd.add_option("ID", a.approve.id, "request id, as 'vigilctl requests' shows it")->required();
  cmd.add_flag("--json", a.approve.json, "print JSON for scripts");
}

int run_approve(Global& g, const Args& a) {
  auto r = admin_call(g, api::RecoveryApprove::kMethod, api::RecoveryApprove{a.approve.id}.to_json());
  if (!r) return kExitError;
  return print_unblocked(*r, a.approve.json);
}

void add_requests_options(CLI::App& cmd, Args& a) {
  cmd.add_flag("--json", a.requests.json, "print JSON for scripts");
}

int run_requests(Global& g, const Args& a) {
  auto r = read_call(g, api::RecoveryList::kMethod, api::RecoveryList{}.to_json());
  if (!r) return kExitError;
  if (a.requests.json) {
    print_json(*r);
    return 0;
  }
  auto reply = decoded<api::RecoveryList::Reply>(*r);
  if (!reply) return kExitError;
  std::printf("Recovery requests:\n");
  std::printf("%-9s %-16s %-16s %-25s %-8s %s\n", "ID", "USER", "FILED BY", "FILED", "BLOCKED", "REASON");
  for (const auto& e : reply->requests) print_recovery(e);
  if (reply->requests.empty()) std::printf("(none)\n");
  std::printf("\nUnblocks waiting for approval (vigilctl approve ID):\n");
  std::printf("%-9s %-16s %-16s %-25s %-8s %s\n", "ID", "USER", "REQUESTED BY", "FILED", "BLOCKED", "REASON");
  for (const auto& e : reply->approvals) print_recovery(e);
  if (reply->approvals.empty()) std::printf("(none)\n");
  return 0;
}

void add_request_unblock_options(CLI::App& cmd, Args& a) {
  cmd.add_option("USER", a.request.user, "the colleague's user name")->required();
  cmd.add_option("--reason", a.request.reason, "what happened (shown to administrators)")->required();
  cmd.add_flag("--json", a.request.json, "print JSON for scripts");
}

int run_request_unblock(Global& g, const Args& a) {
  const api::RecoveryRequest request{a.request.user, a.request.reason};
  auto r = call(g, api::RecoveryRequest::kMethod, request.to_json());
  if (!r) return kExitError;
  if (a.request.json) {
    print_json(*r);
    return 0;
  }
  auto reply = decoded<api::RecoveryRequest::Reply>(*r);
  if (!reply) return kExitError;
  const std::string id = terminal_safe(reply->id), user = terminal_safe(reply->user);
  if (reply->repeated)
    std::printf("you already filed recovery request %s for %s; it is still open\n", id.c_str(), user.c_str());
  else
    std::printf("recovery request %s filed for %s; the administrators see it with 'vigilctl requests'\n",
                id.c_str(), user.c_str());
  return 0;
}

}  // namespace vigil::ctl
