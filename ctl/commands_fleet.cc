// Fleet mode: fleet status. See commands.h.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "ctl/commands.h"
#include "ctl/output.h"
#include "protocol/api_fleet.h"

namespace vigil::ctl {
namespace api = proto::api;

void add_fleet_status_options(CLI::App& cmd, Args& a) {
  cmd.add_flag("--json", a.fleet.json, "print JSON for scripts");
}

int run_fleet_status(Global& g, const Args& a) {
  auto r = read_call(g, api::FleetStatus::kMethod, api::FleetStatus{}.to_json());
  if (!r) return kExitError;
  if (a.fleet.json) {
    print_json(*r);
    return 0;
  }
  auto reply = decoded<api::FleetStatus::Reply>(*r);
  if (!reply) return kExitError;
  std::printf("this host:  %s\n", terminal_safe(reply->host).c_str());
  if (reply->connected)
    std::printf("database:   connected, %.1f ms per call\n", static_cast<double>(reply->latency_us) / 1000.0);
  else
    std::printf("database:   UNREACHABLE: %s\n", terminal_safe(reply->why).c_str());
  std::printf("replica:    applied %lld of %lld (lag %lld)\n", (long long)reply->applied,
              (long long)reply->max_seq, (long long)reply->lag);
  if (!reply->refused.empty()) {
    std::printf("mode:       REFUSED by the database: %s\n", terminal_safe(reply->refused).c_str());
    std::printf("            fleet accounts get the module's failmode; nothing is decided here alone\n");
  } else if (reply->degraded) {
    const std::string since = reply->degraded_since ? "since " + when(reply->degraded_since) : "since vigild started";
    std::printf("mode:       DEGRADED %s: %s\n", since.c_str(), terminal_safe(reply->degraded_why).c_str());
    std::printf("            fleet accounts are decided on this host alone and journaled%s\n",
                reply->catch_up.empty() ? "" : ("; catching up: " + terminal_safe(reply->catch_up)).c_str());
  } else {
    std::printf("mode:       deciding in the database%s\n",
                reply->healed_at ? (" (caught up " + when(reply->healed_at) + ")").c_str() : "");
  }
  std::printf("journal:    %lld decision(s) waiting; %lld replayed, %lld block(s) re-asserted since vigild started\n\n",
              (long long)reply->journal, (long long)reply->replayed, (long long)reply->reasserted);
  if (!reply->connected) {
    std::printf("(the other hosts are listed while the database answers)\n");
    return 0;
  }
  std::printf("%-24s %-12s %8s %6s %6s  %s\n", "HOST", "TRUST GROUP", "APPLIED", "LAG", "BLOCKS", "STATE");
  for (const auto& h : reply->hosts) {
    std::string state = h.quarantined ? "QUARANTINED" : h.stale ? "STALE" : "ok";
    state += h.last_seen ? ", last seen " + when(h.last_seen) : ", never seen";
    std::printf("%-24s %-12s %8lld %6lld %6lld  %s\n", terminal_safe(h.name).c_str(),
                terminal_safe(h.trust_group).c_str(), (long long)h.applied, (long long)h.lag,
                (long long)h.auto_blocks, state.c_str());
  }
  return 0;
}

void add_fleet_quarantine_options(CLI::App& cmd, Args& a) {
  cmd.add_option("HOST", a.fleet.host, "the fleet host's name (as vigilctl fleet status lists it)")->required();
  cmd.add_option("--reason", a.fleet.reason, "why (recorded in the fleet's event log)")->required();
  cmd.add_flag("--lift", a.fleet.lift, "lift the quarantine instead");
  cmd.add_flag("--json", a.fleet.json, "print JSON for scripts");
}

int run_fleet_quarantine(Global& g, const Args& a) {
  auto r = admin_call(g, api::FleetQuarantine::kMethod,
                      api::FleetQuarantine{a.fleet.host, a.fleet.lift, a.fleet.reason}.to_json());
  if (!r) return kExitError;
  if (a.fleet.json) {
    print_json(*r);
    return 0;
  }
  auto reply = decoded<api::FleetQuarantine::Reply>(*r);
  if (!reply) return kExitError;
  const std::string host = terminal_safe(reply->host);
  if (!reply->changed)
    std::printf("%s was already %s\n", host.c_str(), reply->quarantined ? "quarantined" : "not quarantined");
  else if (reply->quarantined)
    std::printf("quarantined %s: the fleet's database refuses its calls; its fleet logins get the module's "
                "failmode\n", host.c_str());
  else
    std::printf("lifted the quarantine of %s\n", host.c_str());
  return 0;
}

}  // namespace vigil::ctl
