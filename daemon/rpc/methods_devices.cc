// An account's known devices: listing them, and forgetting them (which only
// makes logins stricter, so a user may do it too).
#include "daemon/os/offload.h"
#include "daemon/rpc/handlers.h"

namespace vigil::methods {
namespace json = boost::json;

std::optional<Reply> validate_forget(const Params& p) {
  if (auto r = only_keys(p, {"user", "device", "all"})) return r;
  if (auto r = check_strings(p, {"device"}, 512)) return r;
  bool all = flag(p, "all");
  auto dev = proto::get_optional_string(p, "device");
  if (all == (dev && *dev && !(*dev)->empty())) return invalid("give either a device or \"all\": true");
  return std::nullopt;
}

Answer devices_list(Request& r) {
  if (!r.target.lookup.found()) co_return not_found("no such user");
  const auto& id = r.target.lookup.id;
  auto view = co_await account_view(r.sv, id);
  if (!view) co_return unavailable("state unavailable");
  const auto horizon = wall_now() - std::chrono::days(r.sv.config->devices.trust_days);
  json::array list;
  for (const auto& d : view->devices) {
    json::object o;
    o["device"] = d.device;
    o["first_seen"] = to_epoch(d.first_seen);
    o["last_seen"] = to_epoch(d.last_seen);
    o["known"] = d.last_seen > horizon;
    list.push_back(std::move(o));
  }
  json::object out;
  out["user"] = id.name;
  out["trust_days"] = r.sv.config->devices.trust_days;
  out["devices"] = std::move(list);
  co_return Reply::success(std::move(out));
}

Answer devices_forget(Request& r) {
  if (!r.target.lookup.found()) co_return not_found("no such user");
  const auto& id = r.target.lookup.id;
  std::string device = flag(r.params, "all") ? std::string() : param(r.params, "device");
  auto start = [&](auto deliver) { r.sv.engine->forget_devices(id.uid, id.name, device, std::move(deliver)); };
  auto n = co_await await_callback<Result<int64_t>>(start);
  if (!n) co_return unavailable("the change could not be recorded");
  if (*n == 0 && !device.empty()) co_return not_found(id.name + " has no known device " + device);
  json::object out;
  out["user"] = id.name;
  out["forgotten"] = *n;
  co_return Reply::success(std::move(out));
}

}  // namespace vigil::methods
