// Service API tokens: token issue, list, show, revoke. See commands.h.
#include <CLI/CLI.hpp>
#include <boost/json/array.hpp>

#include <cstdio>

#include "ctl/commands.h"
#include "ctl/output.h"
#include "protocol/names.h"

namespace vigil::ctl {

namespace {

// A token's scopes, comma-separated.
std::string token_scopes(const json::object& t) {
  std::string out;
  if (auto it = t.find("scopes"); it != t.end() && it->value().is_array())
    for (const auto& v : it->value().as_array())
      if (v.is_string()) out += (out.empty() ? "" : ",") + text(v);
  return out;
}

// One token: a line of the list, or every fact about it.
void print_token(const json::object& t, bool full) {
  std::string state = str(t, "state");
  if (state == "active" && flag(t, "expired")) state = "expired";
  if (!full) {
    std::printf("%-16s %-12s %-20s %-20s %-10s %s\n", str(t, "accessor").c_str(), str(t, "owner").c_str(),
                str(t, "name").c_str(), token_scopes(t).c_str(), state.c_str(), when(num(t, "expires")).c_str());
    return;
  }
  std::printf("accessor:    %s\nowner:       %s\nname:        %s\nscopes:      %s\n", str(t, "accessor").c_str(),
              str(t, "owner").c_str(), str(t, "name").c_str(), token_scopes(t).c_str());
  std::printf("created:     %s by %s\nexpires:     %s\nstate:       %s\n", when(num(t, "created")).c_str(),
              str(t, "created_by").c_str(), when(num(t, "expires")).c_str(), state.c_str());
  if (!str(t, "state_reason").empty())
    std::printf("why:         %s (%s)\n", str(t, "state_reason").c_str(), when(num(t, "state_changed")).c_str());
  if (flag(t, "frozen")) std::printf("NOTE:        the token API is frozen: every check answers 403\n");
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
  json::object p;
  p["owner"] = a.token.owner;
  p["name"] = a.token.name;
  json::array scopes;
  for (const auto& x : a.token.scopes) scopes.push_back(json::string(x));
  p["scopes"] = std::move(scopes);
  if (!a.token.ttl.empty()) p["ttl"] = a.token.ttl;
  auto r = admin_call(g, proto::kTokenIssue, std::move(p));
  if (!r) return kExitError;
  std::string secret = str(*r, "token");
  if (a.token.json) {
    print_json(*r);
  } else {
    std::printf("token for %s (%s), scopes: %s, expires %s\naccessor: %s\n\n  %s\n\n"
                "This is the only time the token is shown: vigil keeps only its hash.\n",
                str(*r, "owner").c_str(), str(*r, "name").c_str(), token_scopes(*r).c_str(),
                when(num(*r, "expires")).c_str(), str(*r, "accessor").c_str(), secret.c_str());
  }
  wipe(secret);
  wipe_fields(*r, {"token"});
  return 0;
}

void add_token_list_options(CLI::App& cmd, Args& a) {
  cmd.add_option("--owner", a.token.owner, "only this user's tokens");
  cmd.add_flag("--json", a.token.json, "print JSON for scripts");
}

int run_token_list(Global& g, const Args& a) {
  json::object p;
  if (!a.token.owner.empty()) p["owner"] = a.token.owner;
  auto r = admin_call(g, proto::kTokenList, std::move(p));
  if (!r) return kExitError;
  if (a.token.json) {
    print_json(*r);
    return 0;
  }
  if (flag(*r, "frozen")) {
    for (const auto& v : (*r)["freezes"].as_array())
      std::printf("TOKEN API FROZEN since %s: administrator %s is blocked\n",
                  when(num(v.as_object(), "since")).c_str(), str(v.as_object(), "user").c_str());
    std::printf("\n");
  }
  std::printf("%-16s %-12s %-20s %-20s %-10s %s\n", "ACCESSOR", "OWNER", "NAME", "SCOPES", "STATE", "EXPIRES");
  for (const auto& v : (*r)["tokens"].as_array()) print_token(v.as_object(), false);
  if ((*r)["tokens"].as_array().empty()) std::printf("(no token)\n");
  return 0;
}

void add_token_show_options(CLI::App& cmd, Args& a) {
  cmd.add_option("ACCESSOR", a.token.accessor, "its accessor (acc_...)")->required();
  cmd.add_flag("--json", a.token.json, "print JSON for scripts");
}

int run_token_show(Global& g, const Args& a) {
  json::object p;
  p["accessor"] = a.token.accessor;
  auto r = admin_call(g, proto::kTokenShow, std::move(p));
  if (!r) return kExitError;
  if (a.token.json) print_json(*r);
  else print_token(*r, true);
  return 0;
}

void add_token_revoke_options(CLI::App& cmd, Args& a) {
  cmd.add_option("ACCESSOR", a.token.accessor, "its accessor (acc_...)")->required();
  cmd.add_option("--reason", a.token.reason, "why (recorded, logged, given to the revoke hooks)")->required();
  cmd.add_flag("--json", a.token.json, "print JSON for scripts");
}

int run_token_revoke(Global& g, const Args& a) {
  json::object p;
  p["accessor"] = a.token.accessor;
  p["reason"] = a.token.reason;
  auto r = admin_call(g, proto::kTokenRevoke, std::move(p));
  if (!r) return kExitError;
  if (a.token.json) print_json(*r);
  else
    std::printf(flag(*r, "changed") ? "revoked %s (%s of %s)\n" : "%s (%s of %s) was already revoked\n",
                str(*r, "accessor").c_str(), str(*r, "name").c_str(), str(*r, "owner").c_str());
  return 0;
}

}  // namespace vigil::ctl
