// The per-source throttle, as administrators see it: the list of sources
// (admin socket; root on the public socket too) and lifting a ban (admin
// socket, step-up, audited).
#include "daemon/core/device.h"
#include "daemon/core/log.h"
#include "daemon/os/offload.h"
#include "daemon/rpc/handlers.h"
#include "protocol/api_throttle.h"

namespace vigil::methods {
namespace api = proto::api;

namespace {

api::ThrottleSource source_row(const BucketRecord& b, const ThrottleConfig& cfg, TimePoint now) {
  api::ThrottleSource s;
  s.source = b.key.substr(4);  // "src:"
  s.failures = static_cast<int64_t>(b.state.failures.size());
  int scale = 1;
  if (s.source.ends_with("/56")) scale = 4;
  if (s.source.ends_with("/48")) scale = 16;
  s.threshold = static_cast<int64_t>(cfg.deny) * scale;
  s.banned = b.state.locked_at(now);
  s.banned_until = s.banned ? to_epoch(b.state.locked_until) : 0;
  s.bans = b.state.lock_count;
  s.refused = b.state.refused;
  s.last_failure = to_epoch(b.state.last_failure);
  return s;
}

std::vector<std::string> bucket_keys(const std::string& source) {
  std::vector<std::string> keys;
  for (auto& k : device::throttle_keys_named(source)) keys.push_back("src:" + k);
  return keys;
}

}  // namespace

std::optional<Reply> validate_throttle_lift(const Params& p) {
  if (auto r = admin_params(p, {api::key::kSource})) return r;
  auto req = api::ThrottleLift::from_json(p);
  if (!req) return invalid(req.error().message);
  if (req->source.empty()) return invalid("a \"source\" is required");
  if (bucket_keys(req->source).empty())
    return invalid("\"" + req->source + "\" is not a source: give an address, an IPv6 prefix /64, /56 or /48, "
                   "or host:* (as vigilctl throttles lists them)");
  return std::nullopt;
}

Answer throttle_list(Request& r) {
  auto start = [&](auto deliver) { r.sv.engine->sources(std::move(deliver)); };
  auto rows = co_await await_callback<Result<std::vector<BucketRecord>>>(start);
  if (!rows) co_return unavailable("state unavailable");
  const ThrottleConfig& cfg = r.sv.config->throttle;
  api::ThrottleListReply out;
  const auto now = wall_now();
  for (const auto& b : *rows) out.sources.push_back(source_row(b, cfg, now));
  out.trusted_networks = cfg.trusted_networks_text;
  co_return Reply::success(out.to_json());
}

Answer throttle_lift(Request& r) {
  auto in = api::ThrottleLift::from_json(r.params);
  if (!in) co_return invalid(in.error().message);
  std::vector<std::string> keys = bucket_keys(in->source);
  auto start = [&](auto deliver) { r.sv.engine->lift(keys, std::move(deliver)); };
  auto banned = co_await await_callback<Result<int64_t>>(start);
  if (!banned) co_return unavailable("the lift could not be recorded");
  api::ThrottleLiftReply out;
  for (const auto& k : keys) out.lifted.push_back(k.substr(4));
  out.was_banned = *banned > 0;
  log::event(log::Priority::kNotice, log::kMsgThrottleLifted,
             "lifted the throttle of " + in->source + (out.was_banned ? " (it was banned)" : " (it was not banned)"),
             {{"VIGIL_RHOST", in->source}, {"VIGIL_ACTOR", r.actor.name},
              {"VIGIL_ACTOR_UID", std::to_string(r.actor.uid)}, {"VIGIL_REASON", "vigilctl throttle lift"}});
  co_return Reply::success(out.to_json());
}

}  // namespace vigil::methods
