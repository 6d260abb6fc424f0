// The per-source throttle: throttles, throttle lift. See commands.h.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "ctl/commands.h"
#include "ctl/output.h"
#include "protocol/api_throttle.h"

namespace vigil::ctl {
namespace api = proto::api;

namespace {

std::string source_state(const api::ThrottleSource& s) {
  if (s.banned) return "BANNED until " + when(s.banned_until) + " (" + left(s.banned_until) + " left)";
  return "counting";
}

}  // namespace

void add_throttles_options(CLI::App& cmd, Args& a) {
  cmd.add_flag("--json", a.throttle.json, "print JSON for scripts");
}

int run_throttles(Global& g, const Args& a) {
  auto r = read_call(g, api::ThrottleList::kMethod, api::ThrottleList{}.to_json());
  if (!r) return kExitError;
  if (a.throttle.json) {
    print_json(*r);
    return 0;
  }
  auto reply = decoded<api::ThrottleList::Reply>(*r);
  if (!reply) return kExitError;
  std::printf("%-28s %9s %5s %8s  %s\n", "SOURCE", "FAILURES", "BANS", "REFUSED", "STATE");
  for (const auto& s : reply->sources) {
    const std::string failures = std::to_string(s.failures) + "/" + std::to_string(s.threshold);
    std::printf("%-28s %9s %5lld %8lld  %s\n", terminal_safe(s.source).c_str(), failures.c_str(),
                (long long)s.bans, (long long)s.refused, source_state(s).c_str());
  }
  if (reply->sources.empty()) std::printf("(no source has failures within the window)\n");
  std::string trusted;
  for (const auto& n : reply->trusted_networks) trusted += (trusted.empty() ? "" : ", ") + terminal_safe(n);
  std::printf("\ntrusted networks (never banned): %s\n", trusted.empty() ? "none" : trusted.c_str());
  return 0;
}

void add_throttle_lift_options(CLI::App& cmd, Args& a) {
  cmd.add_option("SOURCE", a.throttle.source,
                 "a source as 'vigilctl throttles' lists it, or an address (all of its buckets)")
      ->required();
  cmd.add_flag("--json", a.throttle.json, "print JSON for scripts");
}

int run_throttle_lift(Global& g, const Args& a) {
  auto r = admin_call(g, api::ThrottleLift::kMethod, api::ThrottleLift{a.throttle.source}.to_json());
  if (!r) return kExitError;
  if (a.throttle.json) {
    print_json(*r);
    return 0;
  }
  auto reply = decoded<api::ThrottleLift::Reply>(*r);
  if (!reply) return kExitError;
  std::string lifted;
  for (const auto& s : reply->lifted) lifted += (lifted.empty() ? "" : ", ") + terminal_safe(s);
  std::printf("lifted %s%s\n", lifted.c_str(),
              reply->was_banned ? " (it was banned)" : " (it was not banned; its failures are forgotten)");
  return 0;
}

}  // namespace vigil::ctl
