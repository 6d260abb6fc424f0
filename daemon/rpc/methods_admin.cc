// The administrators' account methods (admin socket): reset a lock, block,
// record a password change, list recovery requests, the prevention audit;
// and what they share with recovery.
#include <set>

#include "daemon/core/log.h"
#include "daemon/os/offload.h"
#include "daemon/rpc/admin.h"
#include "daemon/rpc/handlers.h"
#include "protocol/api.h"

namespace vigil::methods {
namespace json = boost::json;

namespace {

std::set<int64_t> blocked_uids(const Overview& ov) {
  std::set<int64_t> blocked;
  for (const auto& [uid, b] : ov.blocks) blocked.insert(uid);
  return blocked;
}

json::array admins_json(const AdminPicture& pic, const std::set<int64_t>& factor,
                        const std::set<int64_t>& blocked) {
  json::array admins;
  for (const auto& a : pic.dir.admins) {
    json::object o;
    o["user"] = a.name;
    o["uid"] = static_cast<int64_t>(a.uid);
    o["totp"] = factor.count(a.uid) > 0;
    o["blocked"] = blocked.count(a.uid) > 0;
    admins.push_back(std::move(o));
  }
  return admins;
}

json::array without_factor_json(const Config& cfg, const AdminPicture& pic, const std::set<int64_t>& factor) {
  json::array without;
  for (const auto& u : pic.dir.users) {
    if (factor.count(u.uid)) continue;
    json::object o;
    o["user"] = u.name;
    o["uid"] = static_cast<int64_t>(u.uid);
    o["admin"] = is_admin(cfg, u);
    without.push_back(std::move(o));
  }
  return without;
}

boost::asio::awaitable<json::array> blocks_json(Services& sv, const Overview& ov) {
  json::array blocks;
  for (const auto& [uid, b] : ov.blocks) {
    json::object o;
    auto who = co_await sv.resolver->by_uid(static_cast<uid_t>(uid));
    o["user"] = who.found() ? who.id.name : "uid " + std::to_string(uid);
    o["uid"] = uid;
    o["reason"] = b.reason;
    o["since"] = to_epoch(b.since);
    o["by"] = b.by;
    blocks.push_back(std::move(o));
  }
  co_return blocks;
}

}  // namespace

boost::asio::awaitable<Result<std::optional<BlockRecord>>> block_of(Services& sv, uid_t uid) {
  std::optional<int64_t> u = uid;
  auto start = [&](auto deliver) { sv.engine->get(account_key(uid), u, std::move(deliver)); };
  auto view = co_await await_callback<Result<AccountView>>(start);
  if (!view) co_return view.error();
  co_return view->block;
}

boost::asio::awaitable<Result<Overview>> overview(Services& sv) {
  auto start = [&](auto deliver) { sv.engine->overview(std::move(deliver)); };
  co_return co_await await_callback<Result<Overview>>(start);
}

boost::asio::awaitable<Result<AdminPicture>> admin_picture(Services& sv) {
  AdminPicture pic;
  auto dir = co_await sv.resolver->directory(sv.config->roles.admin_groups);
  if (dir.status != Lookup::Status::kFound) co_return Error::Nss("cannot list the administrators (NSS error)");
  auto ov = co_await overview(sv);
  if (!ov) co_return ov.error();
  const std::set<int64_t> blocked = blocked_uids(*ov);
  for (const auto& a : dir.dir.admins)
    pic.admins.push_back(recovery::Admin{a.uid, a.name, blocked.count(a.uid) > 0});
  pic.dir = std::move(dir.dir);
  pic.ov = std::move(*ov);
  co_return pic;
}

Answer password_changed_reply(Services& sv, const Identity& id, std::string by) {
  auto start = [&](auto deliver) { sv.engine->password_changed(id.uid, id.name, std::move(by), std::move(deliver)); };
  auto res = co_await await_callback<PasswordChangedResult>(start);
  if (!res.status) co_return unavailable("the change could not be recorded");
  co_return Reply::success(proto::api::PasswordChangedReply{id.name, res.changed}.to_json());
}

std::optional<Reply> validate_admin_user(const Params& p) {
  if (auto r = admin_params(p, {"user"})) return r;
  return need_user(p);
}

std::optional<Reply> validate_admin_user_reason(const Params& p) {
  if (auto r = admin_params(p, {"user", "reason"})) return r;
  if (auto r = need_user(p)) return r;
  return need_reason(p);
}

Answer reset(Request& r) {
  auto t = co_await named_account(r.sv, r.params);
  if (!t) co_return lookup_error_reply(t.error());
  const Identity id = *t;
  auto start = [&](auto deliver) { r.sv.engine->reset(account_key(id.uid), id.uid, id.name, std::move(deliver)); };
  auto res = co_await await_callback<ResetResult>(start);
  if (!res.status) co_return unavailable("the reset could not be recorded");
  log::event(log::Priority::kNotice, log::kMsgReset, "reset " + id.name + (res.was_locked ? " (was locked)" : ""),
             {{"VIGIL_USER", id.name}, {"VIGIL_ACTOR", r.actor.name},
              {"VIGIL_ACTOR_UID", std::to_string(r.actor.uid)}, {"VIGIL_REASON", "vigilctl reset"}});
  json::object out;
  out["user"] = id.name;
  out["was_locked"] = res.was_locked;
  co_return Reply::success(std::move(out));
}

Answer block(Request& r) {
  auto t = co_await named_account(r.sv, r.params);
  if (!t) co_return lookup_error_reply(t.error());
  const Identity id = *t;
  std::string reason = "administrator: " + param(r.params, "reason", 512);
  const bool admin = is_admin(*r.sv.config, id) || id.uid == 0;
  auto start = [&](auto deliver) {
    r.sv.engine->block(id.uid, id.name, reason, r.actor.name, admin, std::move(deliver));
  };
  auto res = co_await await_callback<BlockResult>(start);
  if (!res.status) co_return unavailable("the change could not be recorded");
  r.sv.drop_step_ups(id.uid);
  json::object out;
  out["user"] = id.name;
  out["changed"] = res.changed;
  co_return Reply::success(std::move(out));
}

// A recovered account's password was changed where PAM does not see it (a
// directory's own tool): another administrator records it.
Answer admin_password_changed(Request& r) {
  auto t = co_await named_account(r.sv, r.params);
  if (!t) co_return lookup_error_reply(t.error());
  const Identity id = *t;
  if (id.uid == r.actor.uid)
    co_return refused("you cannot record your own password change: a PAM password change (passwd) "
                      "or another administrator does");
  Reply reply = co_await password_changed_reply(r.sv, id, r.actor.name + ": " + param(r.params, "reason", 512));
  co_return reply;
}

Answer recovery_list(Request& r) {
  auto ov = co_await overview(r.sv);
  if (!ov) co_return unavailable("state unavailable");
  const std::set<int64_t> blocked = blocked_uids(*ov);
  json::array requests, approvals;
  for (const auto& rec : ov->recovery)
    (rec.kind == RecoveryRecord::Kind::kApproval ? approvals : requests).push_back(recovery_json(rec, blocked));
  json::object out;
  out["requests"] = std::move(requests);
  out["approvals"] = std::move(approvals);
  co_return Reply::success(std::move(out));
}

Answer audit(Request& r) {
  auto pic = co_await admin_picture(r.sv);
  if (!pic) co_return unavailable(pic.error().message);
  const std::set<int64_t> factor(pic->ov.with_factor.begin(), pic->ov.with_factor.end());
  const std::set<int64_t> blocked = blocked_uids(pic->ov);
  json::array requests, warnings;
  for (const auto& rec : pic->ov.recovery) requests.push_back(recovery_json(rec, blocked));
  for (auto& w : recovery::audit_warnings(pic->admins, factor)) warnings.push_back(json::string(w));
  json::object out;
  out["admins"] = admins_json(*pic, factor, blocked);
  out["without_totp"] = without_factor_json(*r.sv.config, *pic, factor);
  out["blocked"] = co_await blocks_json(r.sv, pic->ov);
  out["requests"] = std::move(requests);
  out["warnings"] = std::move(warnings);
  co_return Reply::success(std::move(out));
}

}  // namespace vigil::methods

namespace vigil {

boost::asio::awaitable<void> startup_report(Services& sv) {
  auto start = [&](auto deliver) { sv.engine->take_unreported_history(std::move(deliver)); };
  auto hist = co_await await_callback<Result<std::vector<HistoryRecord>>>(start);
  if (hist) {
    for (const auto& h : *hist)
      log::event(log::Priority::kCrit, log::kMsgBreakGlass,
                 "BREAK-GLASS: " + h.name + " was unblocked offline by " + h.by + " at " +
                     std::to_string(to_epoch(h.at)) + " (epoch): " + h.reason,
                 {{"VIGIL_USER", h.name}, {"VIGIL_ACTOR", h.by}, {"VIGIL_REASON", h.reason}});
  }
  auto pic = co_await methods::admin_picture(sv);
  if (!pic) {
    log::warning("cannot check the administrators at start: " + pic.error().message);
    co_return;
  }
  std::set<int64_t> factor(pic->ov.with_factor.begin(), pic->ov.with_factor.end());
  for (const auto& w : recovery::audit_warnings(pic->admins, factor))
    log::event(log::Priority::kWarning, log::kMsgAuditWarning, w);
}

}  // namespace vigil
