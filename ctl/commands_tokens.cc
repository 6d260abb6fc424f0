// Service API tokens: token issue, list, show, revoke. See commands.h.
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

// A token's scopes, comma-separated.
std::string token_scopes(const api::TokenInfo& t) {
  std::string out;
  for (const auto& s : t.scopes) out += (out.empty() ? "" : ",") + terminal_safe(s);
  return out;
}

// One token: a line of the list, or every fact about it (and whether the
// token API is frozen).
void print_token(const api::TokenInfo& t, bool full, bool frozen = false) {
  std::string state = terminal_safe(t.state);
  if (state == "active" && t.expired) state = "expired";
  const std::string accessor = terminal_safe(t.accessor), owner = terminal_safe(t.owner),
                    name = terminal_safe(t.name);
  if (!full) {
    std::printf("%-16s %-12s %-20s %-20s %-10s %s\n", accessor.c_str(), owner.c_str(), name.c_str(),
                token_scopes(t).c_str(), state.c_str(), when(t.expires).c_str());
    return;
  }
  std::printf("accessor:    %s\nowner:       %s\nname:        %s\nscopes:      %s\n", accessor.c_str(),
              owner.c_str(), name.c_str(), token_scopes(t).c_str());
  std::printf("created:     %s by %s\nexpires:     %s\nstate:       %s\n", when(t.created).c_str(),
              terminal_safe(t.created_by).c_str(), when(t.expires).c_str(), state.c_str());
  if (!t.state_reason.empty())
    std::printf("why:         %s (%s)\n", terminal_safe(t.state_reason).c_str(), when(t.state_changed).c_str());
  if (frozen) std::printf("NOTE:        the token API is frozen: every check answers 403\n");
}

// Token.Issue's reply, shown once; the caller wipes the token.
void print_issued(const api::TokenIssueReply& reply) {
  const api::TokenInfo& t = reply.info;
  std::string secret = terminal_safe(reply.token);
  std::printf("token for %s (%s), scopes: %s, expires %s\naccessor: %s\n\n  %s\n\n"
              "This is the only time the token is shown: vigil keeps only its hash.\n",
              terminal_safe(t.owner).c_str(), terminal_safe(t.name).c_str(), token_scopes(t).c_str(),
              when(t.expires).c_str(), terminal_safe(t.accessor).c_str(), secret.c_str());
  wipe(secret);
}

}  // namespace

void add_token_issue_options(CLI::App& cmd, Args& a) {
  cmd.add_option("--owner", a.token.owner, "the user the token acts as")->required();
  cmd.add_option("--name", a.token.name, "what it is for, e.g. \"backup-webhook\"")->required();
  cmd.add_option("--scope", a.token.scopes, "a scope it grants (repeat for several)")->required();
  cmd.add_option("--ttl", a.token.ttl, "lifetime, e.g. 30d (default: [tokens] default_ttl)");
  cmd.add_flag("--json", a.token.json, "print JSON for scripts (it holds the token)");
}

int run_token_issue(Global& g, const Args& a) {
  const api::TokenIssue request{a.token.owner, a.token.name, a.token.scopes, a.token.ttl};
  auto r = admin_call(g, api::TokenIssue::kMethod, request.to_json());
  if (!r) return kExitError;
  int status = 0;
  if (a.token.json) {
    print_json(*r);
  } else if (auto reply = api::TokenIssue::Reply::from_json(*r)) {  // decoded in place: one copy
    print_issued(*reply);
    wipe(reply->token);
  } else {  // from_json wiped what it had copied
    std::cerr << "vigilctl: " << terminal_safe(reply.error().message) << "\n";
    status = kExitError;
  }
  wipe_fields(*r, {api::key::kToken});
  return status;
}

void add_token_list_options(CLI::App& cmd, Args& a) {
  cmd.add_option("--owner", a.token.owner, "only this user's tokens");
  cmd.add_flag("--json", a.token.json, "print JSON for scripts");
}

int run_token_list(Global& g, const Args& a) {
  auto r = read_call(g, api::TokenList::kMethod, api::TokenList{a.token.owner}.to_json());
  if (!r) return kExitError;
  if (a.token.json) {
    print_json(*r);
    return 0;
  }
  auto reply = decoded<api::TokenList::Reply>(*r);
  if (!reply) return kExitError;
  if (reply->frozen) {
    for (const auto& f : reply->freezes)
      std::printf("TOKEN API FROZEN since %s: %s is blocked\n", when(f.since).c_str(),
                  terminal_safe(f.user).c_str());
    std::printf("\n");
  }
  std::printf("%-16s %-12s %-20s %-20s %-10s %s\n", "ACCESSOR", "OWNER", "NAME", "SCOPES", "STATE", "EXPIRES");
  for (const auto& t : reply->tokens) print_token(t, false);
  if (reply->tokens.empty()) std::printf("(no token)\n");
  return 0;
}

void add_token_show_options(CLI::App& cmd, Args& a) {
  cmd.add_option("ACCESSOR", a.token.accessor, "its accessor (acc_...)")->required();
  cmd.add_flag("--json", a.token.json, "print JSON for scripts");
}

int run_token_show(Global& g, const Args& a) {
  auto r = admin_call(g, api::TokenShow::kMethod, api::TokenShow{a.token.accessor}.to_json());
  if (!r) return kExitError;
  if (a.token.json) {
    print_json(*r);
    return 0;
  }
  auto reply = decoded<api::TokenShow::Reply>(*r);
  if (!reply) return kExitError;
  print_token(reply->info, true, reply->frozen);
  return 0;
}

void add_token_revoke_options(CLI::App& cmd, Args& a) {
  cmd.add_option("ACCESSOR", a.token.accessor, "its accessor (acc_...)")->required();
  cmd.add_option("--reason", a.token.reason, "why (recorded, logged, given to the revoke hooks)")->required();
  cmd.add_flag("--json", a.token.json, "print JSON for scripts");
}

int run_token_revoke(Global& g, const Args& a) {
  const api::TokenRevoke request{a.token.accessor, a.token.reason};
  auto r = admin_call(g, api::TokenRevoke::kMethod, request.to_json());
  if (!r) return kExitError;
  if (a.token.json) {
    print_json(*r);
    return 0;
  }
  auto reply = decoded<api::TokenRevoke::Reply>(*r);
  if (!reply) return kExitError;
  const api::TokenInfo& t = reply->info;
  std::printf(reply->changed ? "revoked %s (%s of %s)\n" : "%s (%s of %s) was already revoked\n",
              terminal_safe(t.accessor).c_str(), terminal_safe(t.name).c_str(), terminal_safe(t.owner).c_str());
  return 0;
}

}  // namespace vigil::ctl
