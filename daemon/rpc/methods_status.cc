// An account's state, and every account's: for its owner, root and the
// administrators.
#include <boost/json/parse.hpp>

#include <algorithm>

#include "daemon/os/offload.h"
#include "daemon/rpc/handlers.h"
#include "protocol/api_self.h"

namespace vigil::methods {
namespace api = proto::api;
namespace json = boost::json;

namespace {

// A validator's decoding: the first error, as a reply.
template <class T>
std::optional<Reply> refusal(const Result<T>& req) {
  if (!req) return invalid(req.error().message);
  return std::nullopt;
}

api::LockStatus lock_status(const LockState& s, TimePoint now) {
  const bool locked = s.locked_at(now);
  return api::LockStatus{static_cast<int64_t>(s.failures.size()), locked, locked ? to_epoch(s.locked_until) : 0,
                         s.lock_count, s.refused, to_epoch(s.last_failure), to_epoch(s.last_success)};
}

// Each known device has a bucket: their summary, then the locked ones.
api::KnownDevicesStatus known_devices_status(const AccountView& view, uid_t uid, TimePoint now) {
  LockState ks;
  std::vector<api::LockedDevice> locked_devices;
  const std::string prefix = account_key(uid) + ":dev:";
  for (const auto& k : view.known_buckets) {
    ks.failures.insert(ks.failures.end(), k.state.failures.begin(), k.state.failures.end());
    ks.locked_until = std::max(ks.locked_until, k.state.locked_until);
    ks.lock_count = std::max(ks.lock_count, k.state.lock_count);
    ks.refused += k.state.refused;
    ks.last_failure = std::max(ks.last_failure, k.state.last_failure);
    ks.last_success = std::max(ks.last_success, k.state.last_success);
    if (k.state.locked_at(now))
      locked_devices.push_back(api::LockedDevice{k.key.substr(prefix.size()), to_epoch(k.state.locked_until)});
  }
  return api::KnownDevicesStatus{lock_status(ks, now), std::move(locked_devices)};
}

// The evidence is recorded as JSON text, and shown as JSON when it parses.
api::BlockStatus block_status(const BlockRecord& block) {
  api::BlockStatus b{block.reason, to_epoch(block.since), block.by, {}};
  boost::system::error_code ec;
  auto details = json::parse(block.details, ec);
  if (!ec) b.details = std::move(details);
  return b;
}

}  // namespace

// Status.Get's; Devices.List has the same one member, a "user" that the
// dispatcher's subject lookup checks, and shares this row validator.
std::optional<Reply> validate_user_only(const Params& p) { return refusal(api::StatusGet::from_json(p)); }
// Status.List's; Daemon.Ping takes no parameter either, and shares it.
std::optional<Reply> validate_empty(const Params& p) { return refusal(api::StatusList::from_json(p)); }

// The admin socket's rules come after the decoding (which lets the gate's
// step_up_code through): every value a string or a boolean of at most 512
// bytes, step_up_code's too; and a "user" that is there, "" or a boolean
// included, must be a valid name.
std::optional<Reply> validate_admin_status(const Params& p) {
  if (auto r = refusal(api::AdminStatusGet::from_json(p))) return r;
  if (auto r = admin_params(p, {api::key::kUser})) return r;
  if (p.contains(api::key::kUser)) return need_user(p);
  return std::nullopt;
}
// Status.List's on the admin socket; Recovery.List and Admin.Audit take no
// parameter either, and share it.
std::optional<Reply> validate_admin_empty(const Params& p) {
  if (auto r = refusal(api::AdminStatusList::from_json(p))) return r;
  return admin_params(p, {});
}

Answer status_reply(Services& sv, const Identity& id) {
  auto view = co_await account_view(sv, id);
  if (!view) co_return unavailable("state unavailable");
  const auto now = wall_now();
  api::StatusGetReply out;
  out.lock = lock_status(view->bucket ? view->bucket->state : LockState{}, now);
  out.user = id.name;
  out.uid = static_cast<int64_t>(id.uid);
  out.admin = is_admin(*sv.config, id);
  out.known_devices = known_devices_status(*view, id.uid, now);
  out.password_change_required = view->password_change.has_value();
  if (view->password_change)
    out.password_change = api::PasswordChangeStatus{to_epoch(view->password_change->since), view->password_change->by};
  out.blocked = view->block.has_value();
  if (view->block) out.block = block_status(*view->block);
  out.devices = static_cast<int64_t>(view->devices.size());
  out.totp = api::TotpStatus{view->totp_active, view->totp_pending, totp_required(*sv.config, id),
                             view->recovery_codes, view->otp_failures};
  co_return Reply::success(out.to_json());
}

Answer status_list_reply(Services& sv) {
  auto start = [&](auto deliver) { sv.engine->list(std::move(deliver)); };
  auto rows = co_await await_callback<Result<std::vector<BucketRecord>>>(start);
  if (!rows) co_return unavailable("state unavailable");
  api::StatusListReply out;
  auto now = wall_now();
  for (const auto& r : *rows)
    out.accounts.push_back(api::StatusListAccount{lock_status(r.state, now), r.name, r.uid.value_or(-1)});
  co_return Reply::success(out.to_json());
}

Answer status_get(Request& r) {
  if (!r.target.lookup.found()) co_return not_found("no such user");
  co_return co_await status_reply(r.sv, r.target.lookup.id);
}

Answer status_list(Request& r) { co_return co_await status_list_reply(r.sv); }

// Both admin rows: Status.List's parameters decode as a Status.Get without a
// user. A user that is there is a valid name (validate_admin_status), so ""
// means none.
Answer admin_status(Request& r) {
  auto in = api::AdminStatusGet::from_json(r.params);
  if (!in) co_return invalid(in.error().message);
  if (in->user.empty()) co_return co_await status_list_reply(r.sv);
  auto t = co_await named_account(r.sv, r.params);
  if (!t) co_return lookup_error_reply(t.error());
  co_return co_await status_reply(r.sv, *t);
}

}  // namespace vigil::methods
