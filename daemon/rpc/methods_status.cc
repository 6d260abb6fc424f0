// An account's state, and every account's: for its owner, root and the
// administrators.
#include <boost/json/parse.hpp>

#include <algorithm>

#include "daemon/os/offload.h"
#include "daemon/rpc/handlers.h"

namespace vigil::methods {
namespace json = boost::json;

namespace {

json::object state_json(const LockState& s, TimePoint now) {
  json::object o;
  o["failures"] = static_cast<int64_t>(s.failures.size());
  o["locked"] = s.locked_at(now);
  o["locked_until"] = s.locked_at(now) ? to_epoch(s.locked_until) : 0;
  o["lock_count"] = s.lock_count;
  o["refused"] = s.refused;
  o["last_failure"] = to_epoch(s.last_failure);
  o["last_success"] = to_epoch(s.last_success);
  return o;
}

// Each known device has a bucket: their summary, then the locked ones.
json::object known_devices_json(const AccountView& view, uid_t uid, TimePoint now) {
  LockState ks;
  json::array locked_devices;
  const std::string prefix = account_key(uid) + ":dev:";
  for (const auto& k : view.known_buckets) {
    ks.failures.insert(ks.failures.end(), k.state.failures.begin(), k.state.failures.end());
    ks.locked_until = std::max(ks.locked_until, k.state.locked_until);
    ks.lock_count = std::max(ks.lock_count, k.state.lock_count);
    ks.refused += k.state.refused;
    ks.last_failure = std::max(ks.last_failure, k.state.last_failure);
    ks.last_success = std::max(ks.last_success, k.state.last_success);
    if (k.state.locked_at(now)) {
      json::object d;
      d["device"] = k.key.substr(prefix.size());
      d["locked_until"] = to_epoch(k.state.locked_until);
      locked_devices.push_back(std::move(d));
    }
  }
  json::object kj = state_json(ks, now);
  kj["locked_devices"] = std::move(locked_devices);
  return kj;
}

json::object block_json(const BlockRecord& block) {
  json::object b;
  b["reason"] = block.reason;
  b["since"] = to_epoch(block.since);
  b["by"] = block.by;
  boost::system::error_code ec;
  auto details = json::parse(block.details, ec);
  if (!ec) b["details"] = std::move(details);
  return b;
}

}  // namespace

std::optional<Reply> validate_user_only(const Params& p) { return only_keys(p, {"user"}); }
std::optional<Reply> validate_empty(const Params& p) { return only_keys(p, {}); }

std::optional<Reply> validate_admin_status(const Params& p) {
  if (auto r = admin_params(p, {"user"})) return r;
  if (p.contains("user")) return need_user(p);
  return std::nullopt;
}
std::optional<Reply> validate_admin_empty(const Params& p) { return admin_params(p, {}); }

Answer status_reply(Services& sv, const Identity& id) {
  auto view = co_await account_view(sv, id);
  if (!view) co_return unavailable("state unavailable");
  const auto now = wall_now();
  LockState s = view->bucket ? view->bucket->state : LockState{};
  json::object out = state_json(s, now);
  out["user"] = id.name;
  out["uid"] = static_cast<int64_t>(id.uid);
  out["admin"] = is_admin(*sv.config, id);
  out["known_devices"] = known_devices_json(*view, id.uid, now);
  out["password_change_required"] = view->password_change.has_value();
  if (view->password_change) {
    json::object pc;
    pc["since"] = to_epoch(view->password_change->since);
    pc["by"] = view->password_change->by;
    out["password_change"] = std::move(pc);
  }
  out["blocked"] = view->block.has_value();
  if (view->block) out["block"] = block_json(*view->block);
  out["devices"] = static_cast<int64_t>(view->devices.size());
  json::object t;
  t["enrolled"] = view->totp_active;
  t["pending"] = view->totp_pending;
  t["required"] = totp_required(*sv.config, id);
  t["recovery_codes"] = view->recovery_codes;
  t["failures"] = view->otp_failures;
  out["totp"] = std::move(t);
  co_return Reply::success(std::move(out));
}

Answer status_list_reply(Services& sv) {
  auto start = [&](auto deliver) { sv.engine->list(std::move(deliver)); };
  auto rows = co_await await_callback<Result<std::vector<BucketRecord>>>(start);
  if (!rows) co_return unavailable("state unavailable");
  json::array accounts;
  auto now = wall_now();
  for (const auto& r : *rows) {
    json::object o = state_json(r.state, now);
    o["user"] = r.name;
    o["uid"] = r.uid.value_or(-1);
    accounts.push_back(std::move(o));
  }
  json::object out;
  out["accounts"] = std::move(accounts);
  co_return Reply::success(std::move(out));
}

Answer status_get(Request& r) {
  if (!r.target.lookup.found()) co_return not_found("no such user");
  co_return co_await status_reply(r.sv, r.target.lookup.id);
}

Answer status_list(Request& r) { co_return co_await status_list_reply(r.sv); }

Answer admin_status(Request& r) {
  if (!r.params.contains("user")) co_return co_await status_list_reply(r.sv);
  auto t = co_await named_account(r.sv, r.params);
  if (!t) co_return lookup_error_reply(t.error());
  co_return co_await status_reply(r.sv, *t);
}

}  // namespace vigil::methods
