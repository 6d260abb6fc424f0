// An account's state, and every account's: for its owner, root and the
// administrators.
#include <boost/json/parse.hpp>

#include <algorithm>
#include <map>
#include <set>

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

std::string device_of(const std::string& bucket_key) {
  auto at = bucket_key.find(":dev:");
  return at == std::string::npos ? std::string() : bucket_key.substr(at + 5);
}

std::string failures_text(size_t n) {
  return std::to_string(n) + (n == 1 ? " wrong password" : " wrong passwords");
}

// The source of the newest failure from an unknown device, "" for none.
std::string latest_source(const LockState& s) {
  const std::pair<std::string, TimePoint>* latest = nullptr;
  for (const auto& p : s.sources)
    if (!latest || p.second > latest->second) latest = &p;
  return latest ? latest->first : std::string();
}

// The account's verdict: blocked, locked (its own bucket, the unknown
// devices', or known devices' buckets), or open. `account` is its own
// bucket's state, `locked_devices` its known devices' locked buckets.
api::Verdict verdict(const std::optional<BlockRecord>& block, const LockState& account,
                     const std::vector<BucketRecord>& locked_devices, TimePoint now) {
  if (block) return api::Verdict{"blocked", block->reason, 0, "", ""};
  if (account.locked_at(now)) {
    std::string why = failures_text(account.failures.size()) + " from unknown devices";
    why += locked_devices.empty() ? "; known devices stay open" : " and on " + std::to_string(locked_devices.size()) +
                                                                     " known device(s)";
    return api::Verdict{"locked", why, to_epoch(account.locked_until), "", latest_source(account)};
  }
  if (!locked_devices.empty()) {
    const BucketRecord* last = &locked_devices.front();
    for (const auto& d : locked_devices)
      if (d.state.locked_until > last->state.locked_until) last = &d;
    const std::string device = device_of(last->key);
    std::string why = failures_text(last->state.failures.size()) + " on known device " + device;
    if (locked_devices.size() > 1) why += " (and " + std::to_string(locked_devices.size() - 1) + " more)";
    return api::Verdict{"locked", why + "; other devices stay open", to_epoch(last->state.locked_until), device, ""};
  }
  return api::Verdict{"open", "", 0, "", ""};
}

// The account is locked while any of its buckets is, until the last ends.
void account_lock(api::LockStatus& lock, const std::vector<BucketRecord>& locked_devices, TimePoint now) {
  for (const auto& d : locked_devices) {
    if (!d.state.locked_at(now)) continue;
    lock.locked = true;
    lock.locked_until = std::max<int64_t>(lock.locked_until, to_epoch(d.state.locked_until));
  }
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

// The failures on record, newest first; one counts while its bucket still
// holds a failure of that second (within fail_interval, since the last reset).
std::vector<api::FailureEntry> recent_failures(const AccountView& view) {
  std::map<std::string, std::multiset<int64_t>> counted;
  auto add = [&](const BucketRecord& b) {
    for (auto f : b.state.failures) counted[b.key].insert(to_epoch(f));
  };
  if (view.bucket) add(*view.bucket);
  for (const auto& k : view.known_buckets) add(k);
  std::vector<api::FailureEntry> out;
  for (const auto& f : view.recent_failures) {
    auto& left = counted[f.bucket];
    auto it = left.find(to_epoch(f.at));
    const bool counts = it != left.end();
    if (counts) left.erase(it);
    out.push_back(api::FailureEntry{to_epoch(f.at), f.source, f.service, device_of(f.bucket), counts});
  }
  return out;
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
  const LockState own = view->bucket ? view->bucket->state : LockState{};
  std::vector<BucketRecord> locked_devices;
  for (const auto& k : view->known_buckets)
    if (k.state.locked_at(now)) locked_devices.push_back(k);
  out.lock = lock_status(own, now);
  account_lock(out.lock, locked_devices, now);
  out.user = id.name;
  out.uid = static_cast<int64_t>(id.uid);
  out.admin = is_admin(*sv.config, id);
  out.verdict = verdict(view->block, own, locked_devices, now);
  out.recent_failures = recent_failures(*view);
  for (const auto& b : view->banned_sources)
    out.throttled_sources.push_back(api::ThrottledSource{b.source, b.bucket, to_epoch(b.until)});
  out.known_devices = known_devices_status(*view, id.uid, now);
  out.password_change_required = view->password_change.has_value();
  if (view->password_change)
    out.password_change = api::PasswordChangeStatus{to_epoch(view->password_change->since), view->password_change->by};
  out.blocked = view->block.has_value();
  if (view->block) out.block = block_status(*view->block);
  out.devices = static_cast<int64_t>(view->devices.size());
  out.totp = api::TotpStatus{view->totp_active, view->totp_pending, totp_required(*sv.config, id),
                             view->recovery_codes, view->otp_failures};
  out.report_mode = sv.config->daemon.mode == DaemonMode::kReport;
  co_return Reply::success(out.to_json());
}

Answer status_list_reply(Services& sv) {
  auto start = [&](auto deliver) { sv.engine->list(std::move(deliver)); };
  auto rows = co_await await_callback<Result<std::vector<AccountSummary>>>(start);
  if (!rows) co_return unavailable("state unavailable");
  api::StatusListReply out;
  out.report_mode = sv.config->daemon.mode == DaemonMode::kReport;
  auto now = wall_now();
  for (const auto& a : *rows) {
    std::string name = a.account.name;
    if (name.empty()) {  // a block without recorded state: the name from NSS
      auto found = co_await sv.resolver->by_uid(static_cast<uid_t>(*a.account.uid));
      name = found.found() ? found.id.name : "uid " + std::to_string(*a.account.uid);
    }
    api::StatusListAccount row{lock_status(a.account.state, now), name, *a.account.uid, a.block.has_value(),
                               verdict(a.block, a.account.state, a.locked_devices, now)};
    account_lock(row.lock, a.locked_devices, now);
    out.accounts.push_back(std::move(row));
  }
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
