// The administrators' account methods (admin socket): reset a lock, block,
// record a password change, list recovery requests, the prevention audit;
// and what they share with recovery.
#include <algorithm>
#include <set>

#include "daemon/core/log.h"
#include "daemon/os/offload.h"
#include "daemon/rpc/admin.h"
#include "daemon/rpc/fleet_replica.h"
#include "daemon/rpc/handlers.h"
#include "protocol/api_admin.h"

namespace vigil::methods {
namespace json = boost::json;
namespace api = proto::api;

namespace {

std::set<int64_t> blocked_uids(const Overview& ov) {
  std::set<int64_t> blocked;
  for (const auto& [uid, b] : ov.blocks) blocked.insert(uid);
  return blocked;
}

api::RecoveryEntry recovery_entry(const RecoveryRecord& r, const std::set<int64_t>& blocked) {
  return api::RecoveryEntry{r.id,
                            r.kind == RecoveryRecord::Kind::kApproval ? "approval" : "request",
                            r.name,
                            r.uid,
                            r.requester,
                            r.requester_uid,
                            r.reason,
                            to_epoch(r.created),
                            to_epoch(r.expires),
                            blocked.count(r.uid) > 0};
}

std::vector<api::AuditAdmin> audit_admins(const AdminPicture& pic, const std::set<int64_t>& factor,
                                          const std::set<int64_t>& blocked) {
  const auto& codes = pic.ov.recovery_codes;
  std::vector<api::AuditAdmin> admins;
  for (const auto& a : pic.dir.admins)
    admins.push_back({a.name, static_cast<int64_t>(a.uid), factor.count(a.uid) > 0, blocked.count(a.uid) > 0,
                      codes.count(a.uid) ? codes.at(a.uid) : 0});
  return admins;
}

std::vector<api::AuditAccount> without_factor(const Config& cfg, const AdminPicture& pic,
                                              const std::set<int64_t>& factor) {
  std::vector<api::AuditAccount> without;
  for (const auto& u : pic.dir.users)
    if (!factor.count(u.uid)) without.push_back({u.name, static_cast<int64_t>(u.uid), is_admin(cfg, u)});
  return without;
}

boost::asio::awaitable<std::vector<api::AuditBlock>> audit_blocks(Services& sv, const Overview& ov) {
  std::vector<api::AuditBlock> blocks;
  for (const auto& [uid, b] : ov.blocks) {
    auto who = co_await sv.resolver->by_uid(static_cast<uid_t>(uid));
    std::string name = who.found() ? who.id.name : "uid " + std::to_string(uid);
    blocks.push_back({std::move(name), uid, b.reason, to_epoch(b.since), b.by});
  }
  co_return blocks;
}

// Report mode's section: present while vigild runs in report mode, and
// after a reload to enforce for what it counted before.
std::optional<api::AuditReportMode> audit_report_mode(const Config& cfg, const NotEnforcedLog& log) {
  const bool active = cfg.daemon.mode == DaemonMode::kReport;
  if (!active && log.counts.empty()) return std::nullopt;
  api::AuditReportMode m;
  m.active = active;
  m.since = to_epoch(log.since);
  for (const auto& [reason, n] : log.counts) m.counts.push_back({reason, n});
  std::stable_sort(m.counts.begin(), m.counts.end(), [](const auto& a, const auto& b) { return a.count > b.count; });
  for (auto it = log.latest.rbegin(); it != log.latest.rend(); ++it)
    m.latest.push_back({it->user, it->reason, it->source, it->service, to_epoch(it->at)});
  return m;
}

}  // namespace

json::object recovery_json(const RecoveryRecord& r, const std::set<int64_t>& blocked) {
  return recovery_entry(r, blocked).to_json();
}

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
  co_return Reply::success(api::PasswordChangedReply{id.name, res.changed}.to_json());
}

std::optional<Reply> validate_admin_user(const Params& p) {
  if (auto r = admin_params(p, {api::key::kUser})) return r;
  auto req = api::AccountReset::from_json(p);
  if (!req) return invalid(req.error().message);
  return need_user(p);
}

// Account.Block's and Account.PasswordChanged's: their requests have the
// same members.
std::optional<Reply> validate_admin_user_reason(const Params& p) {
  if (auto r = admin_params(p, {api::key::kUser, api::key::kReason})) return r;
  auto req = api::AccountBlock::from_json(p);
  if (!req) return invalid(req.error().message);
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
  co_return Reply::success(api::AccountResetReply{id.name, res.was_locked}.to_json());
}

Answer block(Request& r) {
  auto in = api::AccountBlock::from_json(r.params);
  if (!in) co_return invalid(in.error().message);
  auto t = co_await named_account(r.sv, r.params);
  if (!t) co_return lookup_error_reply(t.error());
  const Identity id = *t;
  std::string reason = "administrator: " + in->reason;  // at most 512 bytes (admin_params)
  const bool admin = is_admin(*r.sv.config, id) || id.uid == 0;
  std::optional<std::string> journal;  // fleet degraded mode: blocked here, journaled for the fleet
  // (Declared out here, not in the if: GCC 12 and variables of an if's
  // initializer across a co_await.)
  const std::optional<std::string> account = r.sv.fleet ? r.sv.fleet->account_of(id.uid, id.name) : std::nullopt;
  if (account && !r.sv.fleet->degraded()) {
    // Fleet mode: the block is the fleet's (vigil.block_account, attributed
    // to this host and the actor); every host, this one too, applies it from
    // the event log (rpc/fleet_replica.h). Answered once applied here.
    auto start = [&](auto deliver) { r.sv.fleet->block(*account, reason, r.actor.name, std::move(deliver)); };
    auto res = co_await await_callback<Result<fleet::BlockOut>>(start);
    if (!res && res.error().code == Error::Code::kRefused) co_return refused(res.error().message);
    if (!res && !r.sv.fleet->degraded())
      co_return unavailable("the fleet database is unreachable: nothing was blocked (" + res.error().message + ")");
    if (res) {
      if (res->changed) {
        const bool applied = co_await fleet_applied(r.sv, res->seq);
        if (!applied) log::warning("the fleet block of " + id.name + " is not applied on this host yet");
      }
      r.sv.drop_step_ups(id.uid);
      co_return Reply::success(api::AccountBlockReply{id.name, res->changed}.to_json());
    }
    journal = *account;  // lost during the call (degraded now): blocked here
  } else if (account) {
    journal = *account;
  }
  // A single host's block, or fleet degraded mode's: enforced here at once
  // (tokens, freeze, sessions), journaled in the same transaction, and
  // made the fleet's by vigil.replay() once the database answers.
  auto start = [&](auto deliver) {
    r.sv.engine->block(id.uid, id.name, reason, r.actor.name, admin, std::move(deliver), journal);
  };
  auto res = co_await await_callback<BlockResult>(start);
  if (!res.status) co_return unavailable("the change could not be recorded");
  if (journal && res.changed) {
    r.sv.fleet->journaled();
    log::warning("blocked " + id.name + " on this host only for now: the fleet's database is unreachable; the block "
                 "is journaled and made fleet-wide when it answers",
                 {{"VIGIL_USER", id.name}, {"VIGIL_REASON", "fleet degraded mode"}});
  }
  r.sv.drop_step_ups(id.uid);
  co_return Reply::success(api::AccountBlockReply{id.name, res.changed}.to_json());
}

// A recovered account's password was changed where PAM does not see it (a
// directory's own tool): another administrator records it.
Answer admin_password_changed(Request& r) {
  auto in = api::AccountPasswordChanged::from_json(r.params);
  if (!in) co_return invalid(in.error().message);
  auto t = co_await named_account(r.sv, r.params);
  if (!t) co_return lookup_error_reply(t.error());
  const Identity id = *t;
  if (id.uid == r.actor.uid)
    co_return refused("you cannot record your own password change: a PAM password change (passwd) "
                      "or another administrator does");
  auto recording = password_changed_reply(r.sv, id, r.actor.name + ": " + in->reason);  // named: GCC 12
  Reply reply = co_await std::move(recording);
  co_return reply;
}

Answer recovery_list(Request& r) {
  auto ov = co_await overview(r.sv);
  if (!ov) co_return unavailable("state unavailable");
  const std::set<int64_t> blocked = blocked_uids(*ov);
  api::RecoveryListReply out;
  for (const auto& rec : ov->recovery)
    (rec.kind == RecoveryRecord::Kind::kApproval ? out.approvals : out.requests)
        .push_back(recovery_entry(rec, blocked));
  co_return Reply::success(out.to_json());
}

Answer audit(Request& r) {
  auto pic = co_await admin_picture(r.sv);
  if (!pic) co_return unavailable(pic.error().message);
  const std::set<int64_t> factor(pic->ov.with_factor.begin(), pic->ov.with_factor.end());
  const std::set<int64_t> blocked = blocked_uids(pic->ov);
  api::AdminAuditReply out;
  out.admins = audit_admins(*pic, factor, blocked);
  out.without_totp = without_factor(*r.sv.config, *pic, factor);
  out.blocked = co_await audit_blocks(r.sv, pic->ov);
  for (const auto& rec : pic->ov.recovery) out.requests.push_back(recovery_entry(rec, blocked));
  out.warnings = recovery::audit_warnings(pic->admins, factor, pic->ov.recovery_codes);
  out.report_mode = audit_report_mode(*r.sv.config, pic->ov.not_enforced);
  co_return Reply::success(out.to_json());
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
                     utc_text(h.at) + ": " + h.reason,
                 {{"VIGIL_USER", h.name}, {"VIGIL_ACTOR", h.by}, {"VIGIL_REASON", h.reason}});
  }
  auto pic = co_await methods::admin_picture(sv);
  if (!pic) {
    log::warning("cannot check the administrators at start: " + pic.error().message);
    co_return;
  }
  std::set<int64_t> factor(pic->ov.with_factor.begin(), pic->ov.with_factor.end());
  for (const auto& w : recovery::audit_warnings(pic->admins, factor, pic->ov.recovery_codes))
    log::event(log::Priority::kWarning, log::kMsgAuditWarning, w);
}

}  // namespace vigil
