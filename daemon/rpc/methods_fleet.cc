// Fleet mode, as administrators see it: this host's connection and replica,
// and every host's row (admin socket; root on the public socket too).
#include "daemon/core/log.h"
#include "daemon/os/offload.h"
#include "daemon/rpc/handlers.h"
#include "protocol/api_fleet.h"

namespace vigil::methods {
namespace api = proto::api;

Answer fleet_status(Request& r) {
  if (!r.sv.fleet) co_return not_found("fleet mode is off: vigil.conf sets no [fleet] server");
  fleet::Fleet& f = *r.sv.fleet;
  api::FleetStatusReply out;
  out.host = f.host_name();
  out.connected = f.ready();
  out.why = f.ready() ? std::string() : f.status_text();
  const fleet::Position& pos = f.position();
  out.applied = pos.applied;
  out.max_seq = pos.max_seen;
  out.lag = std::max<int64_t>(0, pos.max_seen - pos.applied);
  if (f.ready()) {
    auto start = [&](auto deliver) { f.hosts(std::move(deliver)); };
    auto rows = co_await await_callback<Result<std::vector<fleet::HostRow>>>(start);
    if (rows) {
      const int64_t now = to_epoch(wall_now());
      const int64_t stale_after = 3 * r.sv.config->fleet.propagation.count();
      for (const auto& h : *rows) {
        out.max_seq = std::max(out.max_seq, h.max_seq);
        out.hosts.push_back(api::FleetHost{h.name, h.trust_group, h.quarantined, h.applied,
                                           std::max<int64_t>(0, h.max_seq - h.applied), h.last_seen,
                                           h.last_seen == 0 || now - h.last_seen > stale_after, h.auto_blocks});
      }
      out.lag = std::max<int64_t>(0, out.max_seq - out.applied);
    } else {
      out.connected = false;
      out.why = rows.error().message;
    }
  }
  out.latency_us = f.latency_us();
  const fleet::DegradedState& st = f.degraded_state();
  auto epoch = [](std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  };
  out.degraded = f.degraded();
  out.degraded_since = out.degraded ? epoch(st.since) : 0;
  out.degraded_why = out.degraded ? st.why : std::string();
  out.refused = st.refused;
  out.catch_up = st.phase;
  out.replayed = st.replayed;
  out.reasserted = st.reasserted;
  out.healed_at = epoch(st.healed);
  auto jstart = [&](auto deliver) { r.sv.engine->journal_info(std::move(deliver)); };
  auto journal = co_await await_callback<Result<std::pair<std::string, int64_t>>>(jstart);
  if (!journal) co_return unavailable("the journal cannot be read: " + journal.error().message);
  out.journal = journal->second;
  co_return Reply::success(out.to_json());
}

std::optional<Reply> validate_quarantine(const Params& p) {
  if (auto r = admin_params(p, {api::key::kHost, api::key::kLift, api::key::kReason})) return r;
  auto req = api::FleetQuarantine::from_json(p);
  if (!req) return invalid(req.error().message);
  if (req->host.empty() || req->host.size() > 63) return invalid("a \"host\" (a fleet host's name) is required");
  return need_reason(p);
}

// The database checks the actor (an administrator in vigil.admin, not
// blocked) and their fresh code, and refuses a quarantined host's calls.
Answer fleet_quarantine(Request& r) {
  if (!r.sv.fleet) co_return not_found("fleet mode is off: vigil.conf sets no [fleet] server");
  auto in = api::FleetQuarantine::from_json(r.params);
  if (!in) co_return invalid(in.error().message);
  auto actor = r.sv.fleet->account_of(r.actor.uid, r.actor.name);
  if (!actor || r.actor.uid == 0)
    co_return refused("a fleet administrator quarantines hosts (root and system accounts are this host's own)");
  std::string code = take(r.params, "step_up_code");
  auto start = [&](auto deliver) {
    r.sv.fleet->quarantine(in->host, *actor, std::move(code), !in->lift, in->reason, std::move(deliver));
  };
  auto res = co_await await_callback<Result<fleet::RecoverOut>>(start);
  wipe(code);
  if (!res && res.error().code == Error::Code::kRefused) co_return refused(res.error().message);
  if (!res) co_return unavailable("the fleet database is unreachable: nothing was changed (" + res.error().message + ")");
  const std::string& why = res->reason;
  if (!res->ok) {
    if (why == "no_such_host") co_return not_found("no host " + in->host + " in the fleet");
    if (why == "not_admin") co_return refused("you are not an administrator in the fleet's database (vigil.admin)");
    if (why == "actor_blocked") co_return refused("your account is blocked");
    if (why == "actor_code_replay") co_return refused("step-up refused: that code was already used; wait for the next one");
    if (why == "actor_code_too_many") co_return refused("too many wrong codes: step-up is refused until they age out");
    if (why == "actor_code_no_factor") co_return refused("step-up needs your second factor in the fleet, and you have none");
    if (why.starts_with("actor_code_")) co_return refused("step-up refused: wrong code");
    co_return refused("the fleet's database refused (" + why + ")");
  }
  log::event(log::Priority::kWarning, log::kMsgAdminAction,
             (in->lift ? "lifted the quarantine of fleet host " : "quarantined fleet host ") + in->host + " (" +
                 why + ")",
             {{"VIGIL_HOST", in->host}, {"VIGIL_ACTOR", r.actor.name}, {"VIGIL_REASON", in->reason}});
  api::FleetQuarantineReply out{in->host, !in->lift, why != "unchanged"};
  co_return Reply::success(out.to_json());
}

}  // namespace vigil::methods
