// Recovery: a user's request for a blocked colleague (public socket), and
// the unblock and its approval (admin socket). The rules are pure
// (daemon/core/recovery.h); this file gathers their inputs and acts.
#include <boost/asio/post.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <set>

#include "daemon/core/log.h"
#include "daemon/os/command.h"
#include "daemon/os/offload.h"
#include "daemon/rpc/fleet_replica.h"
#include "daemon/rpc/handlers.h"
#include "protocol/api_admin.h"

namespace vigil::methods {
namespace json = boost::json;
namespace api = proto::api;

namespace {

// Expires the password off the I/O thread, before the unblock, for
// pam_unix to ask for a new one (the engine's password change requirement
// is what keeps the old one out). Answers what happened, for the reply; a
// failure stops the unblock.
boost::asio::awaitable<Result<api::PasswordExpiry>> expire(Services& sv, const std::string& name) {
  if (!sv.config->recovery.expire_password)
    co_return api::PasswordExpiry{"off", "[recovery] expire_password is off"};
  auto work = [name] {
    try {
      return expire_password(name);
    } catch (const std::exception& e) {
      return ExpiryResult{ExpiryResult::Outcome::kFailed, std::string("internal error: ") + e.what()};
    }
  };
  ExpiryResult r = co_await offload(*sv.tools, std::move(work));
  log::event(r.outcome == ExpiryResult::Outcome::kFailed ? log::Priority::kErr : log::Priority::kNotice,
             log::kMsgPasswordExpired, r.message, {{"VIGIL_USER", name}});
  if (r.outcome == ExpiryResult::Outcome::kFailed)
    co_return Error::Spawn("the password could not be expired (" + r.message +
                           "); the account stays blocked. Fix that, or set [recovery] expire_password = false");
  co_return api::PasswordExpiry{r.outcome == ExpiryResult::Outcome::kExpired ? "expired" : "not-local", r.message};
}

// Files a recovery request or an approval.
boost::asio::awaitable<Result<Engine::Filed>> file_record(Services& sv, RecoveryRecord r) {
  auto start = [&](auto deliver) { sv.engine->file_recovery(std::move(r), std::move(deliver)); };
  co_return co_await await_callback<Result<Engine::Filed>>(start);
}

Reply filing_error(const Error& e) {
  return e.is_refused() ? refused(e.message) : unavailable("the request could not be recorded");
}

// Runs the unblock, after the password was expired.
Answer run_recover(Services& sv, RecoverRequest req, api::PasswordExpiry password) {
  auto start = [&](auto deliver) { sv.engine->recover(std::move(req), std::move(deliver)); };
  auto res = co_await await_callback<RecoverResult>(start);
  if (!res.status)
    co_return error_reply(res.status.error(), "the unblock could not be recorded; the account stays blocked");
  api::UnblockReply out;
  out.user = res.name;
  out.changed = res.changed;
  if (res.changed) {
    // A step-up made before the block does not outlive it.
    sv.drop_step_ups(static_cast<uid_t>(res.uid));
    out.devices_forgotten = res.devices_forgotten;
    out.suspicious_since = to_epoch(res.suspicious_since);
    out.password = std::move(password);
    out.password_change_required = res.password_change;
  }
  co_return Reply::success(out.to_json());
}

// An unblock that waits for a second administrator: files the approval.
Answer file_approval(Request& r, const Identity& id, std::string reason) {
  RecoveryRecord rec;
  rec.kind = RecoveryRecord::Kind::kApproval;
  rec.uid = id.uid;
  rec.name = id.name;
  rec.requester_uid = r.actor.uid;
  rec.requester = r.actor.name;
  rec.reason = std::move(reason);
  rec.created = wall_now();
  rec.expires = rec.created + r.sv.config->recovery.approval_ttl;
  auto filing = file_record(r.sv, std::move(rec));  // named: GCC 12 and co_await temporaries
  auto result = co_await std::move(filing);
  if (!result) co_return filing_error(result.error());
  const RecoveryRecord* filed = &result->record;
  log::event(log::Priority::kNotice, log::kMsgApprovalFiled,
             "unblock of " + id.name + " by " + r.actor.name + " waits for approval: " + filed->id,
             {{"VIGIL_USER", id.name}, {"VIGIL_ACTOR", r.actor.name}, {"VIGIL_REQUEST", filed->id},
              {"VIGIL_REASON", filed->reason}});
  api::UnblockReply out;
  out.user = id.name;
  out.pending = true;
  out.id = filed->id;
  out.expires = to_epoch(filed->expires);
  co_return Reply::success(out.to_json());
}

// Runs [recovery] notify_command for a new request, off the I/O thread.
void notify(Services& sv, const RecoveryRecord& filed) {
  const std::string& cmd = sv.config->recovery.notify_command;
  if (cmd.empty()) return;
  json::object o = recovery_json(filed, std::set<int64_t>{filed.uid});  // filed only when blocked
  std::string input = json::serialize(o) + "\n";
  std::string rid = filed.id;
  boost::asio::post(*sv.notify, [cmd, input, rid]() noexcept {
    try {
      auto res = run_command(outside_sandbox({"/bin/sh", "-c", cmd}, std::chrono::seconds(30)), input,
                             std::chrono::seconds(30));
      if (res.ok()) {
        log::info("notify_command for " + rid + " done");
        return;
      }
      log::warning("notify_command for " + rid + " failed: " +
                       (!res.started    ? res.error
                        : res.timed_out ? std::string("killed after 30s")
                                        : "exit " + std::to_string(res.exit_status)) +
                       (res.output.empty() ? "" : ": " + res.output),
                   {{"VIGIL_REQUEST", rid}});
    } catch (const std::exception& e) {
      log::error(std::string("notify_command: ") + e.what());
    }
  });
}

}  // namespace

std::optional<Reply> validate_request(const Params& p) {
  auto req = proto::api::RecoveryRequest::from_json(p);
  if (!req) return invalid(req.error().message);
  const std::string& reason = req->reason;  // a wrong type reads as ""
  if (reason.empty()) return invalid("a \"reason\" is required");
  if (reason.size() > 512) return invalid("the reason is too long (512 bytes at most)");
  if (!printable(reason)) return invalid("the reason must not contain control characters");
  return std::nullopt;
}

std::optional<Reply> validate_unblock(const Params& p) {
  namespace key = api::key;
  if (auto r = admin_params(p, {key::kUser, key::kReason, key::kVerifyCode, key::kApproval})) return r;
  auto req = api::AccountUnblock::from_json(p);
  if (!req) return invalid(req.error().message);
  wipe(req->verify_code);  // the handler decodes it again
  if (auto r = need_user(p)) return r;
  return need_reason(p);
}

std::optional<Reply> validate_approve(const Params& p) {
  if (auto r = admin_params(p, {api::key::kId})) return r;
  auto req = api::RecoveryApprove::from_json(p);
  if (!req) return invalid(req.error().message);
  if (req->id.empty() || req->id.size() > 64) return invalid("a request \"id\" is required");
  return std::nullopt;
}

// Any active user files a request for a blocked colleague.
Answer recovery_request(Request& r) {
  if (!r.target.lookup.found()) co_return not_found("no such user");
  auto in = proto::api::RecoveryRequest::from_json(r.params);
  if (!in) co_return invalid(in.error().message);
  const Identity id = r.target.lookup.id;
  Services& sv = r.sv;
  auto me = co_await sv.resolver->by_uid(r.peer.uid);
  if (me.status == Lookup::Status::kError) co_return unavailable("cannot resolve your account (NSS error)");
  if (!me.found()) co_return refused("your uid has no account name");
  auto mine = co_await block_of(sv, r.peer.uid);
  if (!mine) co_return unavailable("state unavailable");
  auto pic = co_await admin_picture(sv);
  if (!pic) co_return unavailable(pic.error().message);
  if (auto why = recovery::request_refusal(r.peer.uid, mine->has_value(), id.uid, pic->admins)) {
    log::event(log::Priority::kWarning, log::kMsgRecoveryRefused,
               "recovery request by " + me.id.name + " for " + id.name + " refused: " + *why,
               {{"VIGIL_USER", id.name}, {"VIGIL_ACTOR", me.id.name}, {"VIGIL_REASON", *why}});
    co_return refused(*why);
  }
  RecoveryRecord rec;
  rec.kind = RecoveryRecord::Kind::kRequest;
  rec.uid = id.uid;
  rec.name = id.name;
  rec.requester_uid = r.peer.uid;
  rec.requester = me.id.name;
  rec.reason = std::move(in->reason);  // validated: at most 512 bytes
  rec.created = wall_now();
  rec.expires = rec.created + std::chrono::days(7);
  auto filing = file_record(sv, std::move(rec));  // named: GCC 12 and co_await temporaries
  auto result = co_await std::move(filing);
  if (!result) co_return filing_error(result.error());
  const RecoveryRecord* filed = &result->record;
  const json::object out = proto::api::RecoveryRequestReply{filed->id, id.name, result->repeated}.to_json();
  // A repeated request is the open one: no new event, no new notification.
  if (result->repeated) co_return Reply::success(out);
  log::event(log::Priority::kNotice, log::kMsgRecoveryRequest,
             "recovery request " + filed->id + " by " + me.id.name + " for " + id.name,
             {{"VIGIL_USER", id.name}, {"VIGIL_ACTOR", me.id.name}, {"VIGIL_REQUEST", filed->id},
              {"VIGIL_REASON", filed->reason}});
  notify(sv, *filed);
  co_return Reply::success(out);
}

namespace {

// What vigil.recover's refusals mean, for the administrator.
std::string fleet_refusal(const std::string& reason, const std::string& user) {
  if (reason == "self") return "you cannot lift your own block: another active administrator must recover your account";
  if (reason == "not_admin")
    return "you are not an administrator in the fleet's database (vigil.admin): the fleet's owner adds "
           "administrators";
  if (reason == "actor_blocked")
    return "your account is blocked: you cannot act as an administrator until another administrator recovers it";
  if (reason.starts_with("actor_code_")) {
    const std::string why = reason.substr(11);
    if (why == "no_factor") return "step-up needs your second factor in the fleet, and you have none: enrol one";
    if (why == "too_many") return "too many wrong codes: step-up is refused until they age out";
    if (why == "replay") return "step-up refused: that code was already used; wait for the next one";
    return "step-up refused: wrong code";
  }
  if (reason.starts_with("proof_")) {
    const std::string why = reason.substr(6);
    if (why == "no_factor") return user + " has no second factor to verify with: use --approval";
    if (why == "too_many") return "too many wrong codes for " + user + ": wait, or use --approval";
    if (why == "replay") return "that code of " + user + " was already used: ask for the next one";
    return "the code is not a current code or an unused recovery code of " + user;
  }
  return "the fleet's database refused the recovery (" + reason + ")";
}

}  // namespace

// Fleet mode: the recovery is checked and made in the database, in one
// transaction (vigil.recover: the actor's fresh code, and the blocked
// user's code or another administrator's approval); every host, this one
// too, then lifts the block from the event log. Answered once applied here.
static Answer fleet_unblock(Request& r, const Identity& id, const std::string& account, std::optional<std::string> proof,
                     std::string reason) {
  Services& sv = r.sv;
  auto actor = sv.fleet->account_of(r.actor.uid, r.actor.name);
  if (!actor || r.actor.uid == 0)
    co_return refused(id.name + " is a fleet account: a fleet administrator recovers it (root and system "
                      "accounts are this host's own)");
  std::string actor_code = take(r.params, "step_up_code");
  auto start = [&](auto deliver) {
    sv.fleet->recover(account, *actor, std::move(actor_code), std::move(proof), reason, std::move(deliver));
  };
  auto res = co_await await_callback<Result<fleet::RecoverOut>>(start);
  wipe(actor_code);
  if (!res && res.error().code == Error::Code::kRefused) co_return refused(res.error().message);
  if (!res) co_return unavailable("the fleet database is unreachable: nothing was recovered (" + res.error().message + ")");
  api::UnblockReply out;
  out.user = id.name;
  if (res->reason == "not_blocked") co_return Reply::success(out.to_json());
  if (res->reason == "approval_filed") {
    out.pending = true;
    out.id = "fleet";
    out.expires = to_epoch(wall_now() + std::chrono::hours(24));
    co_return Reply::success(out.to_json());
  }
  if (!res->ok) co_return refused(fleet_refusal(res->reason, id.name));
  const bool applied = co_await fleet_applied(sv, res->seq);
  if (!applied) log::warning("the fleet recovery of " + id.name + " is not applied on this host yet");
  out.changed = true;
  sv.drop_step_ups(id.uid);
  co_return Reply::success(out.to_json());
}

Answer unblock(Request& r) {
  Services& sv = r.sv;
  auto in = api::AccountUnblock::from_json(r.params);
  if (!in) co_return invalid(in.error().message);  // wiped by from_json
  std::string& code = in->verify_code;
  struct Wipe {
    std::string& s;
    ~Wipe() { wipe(s); }
  } wipe_code{code};
  if (code.size() > 64) wipe(code);  // no code, as vigild always read one this long
  const bool approval = in->approval;
  if (approval && !code.empty()) co_return invalid("give either a verify_code or approval, not both");
  auto t = co_await named_account(sv, r.params);
  if (!t) co_return lookup_error_reply(t.error());
  const Identity id = *t;
  if (auto account = sv.fleet ? sv.fleet->account_of(id.uid, id.name) : std::nullopt) {
    std::optional<std::string> proof;
    if (!approval) proof = code;
    auto unblocking = fleet_unblock(r, id, *account, std::move(proof), in->reason);  // named: GCC 12
    Reply reply = co_await std::move(unblocking);
    co_return reply;
  }
  auto pic = co_await admin_picture(sv);
  if (!pic) co_return unavailable(pic.error().message);
  const bool blocked = std::any_of(pic->ov.blocks.begin(), pic->ov.blocks.end(),
                                   [&](const auto& b) { return b.first == id.uid; });
  recovery::UnblockCase c;
  c.actor_uid = r.actor.uid;
  c.target_uid = id.uid;
  c.target_name = id.name;
  // root's account is treated as an administrator's: it needs verification.
  c.target_admin = is_admin(*sv.config, id) || id.uid == 0;
  c.how = approval         ? recovery::Verification::kApproval
          : !code.empty() ? recovery::Verification::kCode
                          : recovery::Verification::kNone;
  c.admins = pic->admins;
  // Not blocked: nothing to verify, nothing to do (but never for oneself).
  if (!blocked && r.actor.uid != id.uid) {
    api::UnblockReply out;
    out.user = id.name;  // changed: false
    co_return Reply::success(out.to_json());
  }
  if (auto why = recovery::unblock_refusal(c)) co_return refused(*why);
  if (approval) co_return co_await file_approval(r, id, std::move(in->reason));
  // The password goes first (a wrong code read out then leaves it expired on a
  // blocked account: the stricter side).
  auto expiring = expire(sv, id.name);  // named: GCC 12 and co_await temporaries
  auto password = co_await std::move(expiring);
  if (!password) co_return unavailable(password.error().message);
  RecoverRequest req;
  req.uid = id.uid;
  req.name = id.name;
  req.actor_uid = r.actor.uid;
  req.by = r.actor.name;
  req.reason = std::move(in->reason);  // at most 512 bytes (admin_params)
  req.verify_code = code;
  co_return co_await run_recover(sv, std::move(req), std::move(*password));
}

Answer approve(Request& r) {
  Services& sv = r.sv;
  auto in = api::RecoveryApprove::from_json(r.params);
  if (!in) co_return invalid(in.error().message);
  const std::string id = std::move(in->id);  // 1 to 64 bytes (validate_approve)
  // The account named in the request, for the password; the engine checks
  // the request itself again when it acts.
  auto ov = co_await overview(sv);
  if (!ov) co_return unavailable("state unavailable");
  auto it = std::find_if(ov->recovery.begin(), ov->recovery.end(),
                         [&](const RecoveryRecord& rec) { return rec.id == id; });
  if (it == ov->recovery.end()) co_return refused("no pending request " + id);
  if (auto why = recovery::approve_refusal(*it, r.actor.uid, wall_now())) co_return refused(*why);
  // The account is the stored uid; its name is looked up again, so that a
  // name given to another account since the filing never gets its password
  // expired (and the unblock acts on the uid alone).
  auto now_named = co_await sv.resolver->by_uid(static_cast<uid_t>(it->uid));
  if (now_named.status == Lookup::Status::kError) co_return unavailable("user lookup failed (NSS error)");
  if (!now_named.found())
    co_return refused("the account of " + it->id + " (uid " + std::to_string(it->uid) + ") no longer exists");
  auto expiring = expire(sv, now_named.id.name);
  auto password = co_await std::move(expiring);
  if (!password) co_return unavailable(password.error().message);
  RecoverRequest req;
  req.approval_id = id;
  req.actor_uid = r.actor.uid;
  req.by = r.actor.name;
  co_return co_await run_recover(sv, std::move(req), std::move(*password));
}

}  // namespace vigil::methods
