// An account's known devices: listing them, and forgetting them (which only
// makes logins stricter, so a user may do it too).
#include "daemon/os/offload.h"
#include "daemon/rpc/handlers.h"
#include "protocol/api.h"

namespace vigil::methods {
namespace api = proto::api;

std::optional<Reply> validate_forget(const Params& p) {
  auto req = api::DevicesForget::from_json(p);
  if (!req) return invalid(req.error().message);
  if (req->all == !req->device.empty()) return invalid("give either a device or \"all\": true");
  return std::nullopt;
}

namespace {
Answer devices_reply(Services& sv, const Identity& id) {
  auto view = co_await account_view(sv, id);
  if (!view) co_return unavailable("state unavailable");
  const auto horizon = wall_now() - std::chrono::days(sv.config->devices.trust_days);
  api::DevicesListReply out;
  out.user = id.name;
  out.trust_days = sv.config->devices.trust_days;
  for (const auto& d : view->devices)
    out.devices.push_back(
        api::KnownDevice{d.device, to_epoch(d.first_seen), to_epoch(d.last_seen), d.last_seen > horizon});
  co_return Reply::success(out.to_json());
}
}  // namespace

Answer devices_list(Request& r) {
  if (!r.target.lookup.found()) co_return not_found("no such user");
  co_return co_await devices_reply(r.sv, r.target.lookup.id);
}

// The admin socket's: any account's known devices (read-only, no step-up).
Answer admin_devices_list(Request& r) {
  auto t = co_await named_account(r.sv, r.params);
  if (!t) co_return lookup_error_reply(t.error());
  co_return co_await devices_reply(r.sv, *t);
}

Answer devices_forget(Request& r) {
  if (!r.target.lookup.found()) co_return not_found("no such user");
  const auto& id = r.target.lookup.id;
  auto in = api::DevicesForget::from_json(r.params);
  if (!in) co_return invalid(in.error().message);
  std::string device = in->all ? std::string() : std::move(in->device);
  if (device.size() > 256) device.resize(256);  // as it always was cut
  auto start = [&](auto deliver) { r.sv.engine->forget_devices(id.uid, id.name, device, std::move(deliver)); };
  auto n = co_await await_callback<Result<int64_t>>(start);
  if (!n) co_return unavailable("the change could not be recorded");
  if (*n == 0 && !device.empty()) co_return not_found(id.name + " has no known device " + device);
  co_return Reply::success(api::DevicesForgetReply{id.name, *n}.to_json());
}

}  // namespace vigil::methods
