#include "daemon/rpc/admin.h"

#include "daemon/core/log.h"
#include "daemon/core/recovery.h"
#include "daemon/core/secrets.h"
#include "daemon/os/offload.h"
#include "daemon/rpc/handlers.h"
#include "protocol/names.h"

namespace vigil {
namespace json = boost::json;
using proto::Reply;

namespace {

void audit(const Actor& actor, std::string_view method, const std::string& target,
           const std::string& outcome, const std::string& reason) {
  // A refused recovery has a MESSAGE_ID of its own, so that it can be watched for.
  const bool recovery = method == proto::kAccountUnblock || method == proto::kRecoveryApprove;
  const char* id = recovery && outcome != "ok" ? log::kMsgRecoveryRefused : log::kMsgAdminAction;
  log::event(outcome == "ok" ? log::Priority::kNotice : log::Priority::kWarning, id,
             "admin " + actor.name + " (uid " + std::to_string(actor.uid) + "): " + std::string(method) +
                 (target.empty() ? "" : " " + target) + ": " + outcome +
                 (reason.empty() ? "" : " (" + reason + ")"),
             {{"VIGIL_ACTOR", actor.name},
              {"VIGIL_ACTOR_UID", std::to_string(actor.uid)},
              {"VIGIL_METHOD", std::string(method)},
              {"VIGIL_USER", target},
              {"VIGIL_OUTCOME", outcome},
              {"VIGIL_REASON", reason}});
}

// nullopt: the caller may go on (a step-up holds, or the code was good).
// A step-up holds for the uid in the login session it was given in (never
// in a process outside any session), for [recovery] step_up_ttl; a kFresh
// method ignores it.
// Fleet mode: an administrator who is a fleet account proves a step-up with
// a code checked in the database (vigil.verify), since the secret lives
// there. A recovery of a fleet account needs the code fresh: vigil.recover
// checks it itself, in the transaction that recovers.
boost::asio::awaitable<std::optional<Reply>> step_up(Services& sv, const Actor& actor, const json::object& p,
                                                     StepUp need, std::string_view method) {
  const auto& rc = sv.config->recovery;
  if (!rc.step_up || actor.uid == 0) co_return std::nullopt;
  const std::optional<std::string> fleet_actor =
      sv.fleet ? sv.fleet->account_of(actor.uid, actor.name) : std::nullopt;
  // Only where the database checks the code itself: a quarantine, and the
  // recovery of a fleet account (a local account's is this host's own).
  bool in_database = fleet_actor && method == proto::kFleetQuarantine;
  if (fleet_actor && method == proto::kAccountUnblock) {
    auto target = sv.resolver->by_name(param(p, "user", 256));  // named: GCC 12 and co_await temporaries
    const Lookup l = co_await std::move(target);
    in_database = l.found() && sv.fleet->account_of(l.id.uid, l.id.name).has_value();
  }
  if (in_database) {
    std::string given = take(p, "step_up_code");
    const bool none = given.empty();
    wipe(given);
    if (none)
      co_return Reply::failure(proto::kErrStepUpRequired,
                               "step-up required: this always needs your own current code "
                               "(VIGIL_CODE, or the terminal prompt), checked by the fleet's database");
    co_return std::nullopt;
  }
  const auto now = std::chrono::steady_clock::now();
  const auto held_key = std::make_pair(actor.uid, actor.session);
  if (auto it = sv.step_ups.find(held_key); it != sv.step_ups.end()) {
    if (it->second > now && need == StepUp::kHeld) co_return std::nullopt;
    if (it->second <= now) sv.step_ups.erase(it);
  }
  std::string code = take(p, "step_up_code");
  if (code.empty())
    co_return Reply::failure(proto::kErrStepUpRequired,
                             need == StepUp::kFresh
                                 ? "step-up required: this always needs your own current code "
                                   "(VIGIL_CODE, or the terminal prompt)"
                                 : "step-up required: give your own current code (VIGIL_CODE, or "
                                   "the terminal prompt)");
  const uid_t uid = actor.uid;
  std::string name = actor.name;
  ProofResult r;
  if (fleet_actor) {
    auto start = [&](auto deliver) { sv.fleet->verify(*fleet_actor, std::move(code), std::move(deliver)); };
    auto checked = co_await await_callback<Result<std::string>>(start);
    wipe(code);
    if (!checked) co_return unavailable("the fleet database could not check the code: " + checked.error().message);
    r.outcome = *checked == "ok" || *checked == "recovery_code" ? ProofOutcome::kOk
                : *checked == "no_factor"                       ? ProofOutcome::kNoFactor
                : *checked == "too_many"                        ? ProofOutcome::kTooMany
                : *checked == "replay"                          ? ProofOutcome::kReplay
                                                                : ProofOutcome::kWrong;
  } else {
    auto start = [&](auto deliver) {
      sv.engine->prove(uid, std::move(name), std::move(code), true, std::move(deliver));
    };
    r = co_await await_callback<ProofResult>(start);
    wipe(code);
  }
  if (!r.status) co_return unavailable("the code could not be checked");
  switch (r.outcome) {
    case ProofOutcome::kOk:
      if (rc.step_up_ttl.count() > 0 && actor.session != 0)
        sv.step_ups[held_key] = std::chrono::steady_clock::now() + rc.step_up_ttl;
      co_return std::nullopt;
    case ProofOutcome::kNoFactor:
      co_return refused("step-up needs your second factor, and you have none: enrol one first "
                        "(vigilctl totp enroll)");
    case ProofOutcome::kTooMany:
      co_return refused("too many wrong codes within [lockout] fail_interval: step-up is refused "
                        "until they age out");
    case ProofOutcome::kReplay:
      co_return refused("step-up refused: that code was already used; wait for the next one");
    case ProofOutcome::kWrong:
      break;
  }
  co_return refused("step-up refused: wrong code");
}

// The account a request names ("user", or a token's "owner") must exist
// before a step-up code is asked for: a typo costs no code.
boost::asio::awaitable<std::optional<Reply>> unknown_subject(Services& sv, const json::object& p) {
  for (const char* key : {"user", "owner"}) {
    const std::string name = param(p, key, 256);
    if (!valid_user_name(name)) continue;
    auto looking = sv.resolver->by_name(name);  // named: GCC 12 and co_await temporaries
    auto l = co_await std::move(looking);
    if (l.status == Lookup::Status::kError) co_return unavailable("user lookup failed (NSS error)");
    if (!l.found()) co_return not_found("no such user: " + name);
  }
  co_return std::nullopt;
}

}  // namespace

boost::asio::awaitable<Reply> admin_call(Services& sv, const Peer& peer, const proto::Call& call,
                                         const Method* m) {
  Actor actor{peer.uid, "uid " + std::to_string(peer.uid), peer.login_session};
  auto who = co_await sv.resolver->by_uid(peer.uid);
  if (who.found()) actor.name = who.id.name;
  const std::string method = m ? std::string(m->name) : std::string("unknown method");
  std::string target = valid_user_name(param(call.params, "user", 256))    ? param(call.params, "user", 256)
                       : valid_user_name(param(call.params, "owner", 256)) ? param(call.params, "owner", 256)
                       : !param(call.params, "accessor", 64).empty()       ? param(call.params, "accessor", 64)
                                                                           : param(call.params, "id", 64);
  auto finish = [&](Reply r) {
    std::string outcome = r.ok() ? "ok" : r.error == proto::kErrPermissionDenied ||
                                                  r.error == proto::kErrStepUpRequired
                                              ? "refused"
                                              : "error";
    std::string reason = r.ok() ? param(call.params, "reason", 512) : r.message();
    if (r.ok()) {
      if (auto it = r.params.find("user"); it != r.params.end() && it->value().is_string())
        target = std::string(it->value().as_string());
    }
    audit(actor, method, target, outcome, reason);
    return r;
  };
  if (!m) co_return finish(Reply::failure(proto::kErrMethodNotFound, "unknown method"));
  if (who.status == Lookup::Status::kError)
    co_return finish(unavailable("cannot resolve your account (NSS error); refused"));
  bool admin = who.found() && is_admin(*sv.config, who.id);
  bool blocked = false;
  if (peer.uid != 0 && admin) {
    auto b = co_await methods::block_of(sv, peer.uid);
    if (!b) co_return finish(unavailable("state unavailable"));
    blocked = b->has_value();
  }
  if (auto why = recovery::admin_refusal(peer.uid, admin, blocked, sv.config->recovery.allow_root))
    co_return finish(refused(*why));
  if (auto bad = m->validate(call.params)) co_return finish(*bad);
  if (auto missing = co_await unknown_subject(sv, call.params)) co_return finish(*missing);
  if (sv.fleet && sv.fleet->degraded()) {
    std::optional<bool> fleet_subject;
    const std::string user = param(call.params, "user", 256);
    if (valid_user_name(user)) {
      auto looking = sv.resolver->by_name(user);  // named: GCC 12 and co_await temporaries
      const Lookup l = co_await std::move(looking);
      if (l.found()) fleet_subject = sv.fleet->account_of(l.id.uid, l.id.name).has_value();
    }
    if (auto no = fleet_degraded_refusal(sv, m->name, fleet_subject)) co_return finish(*no);
  }
  if (m->step_up != StepUp::kNone) {
    if (auto no = co_await step_up(sv, actor, call.params, m->step_up, m->name)) co_return finish(*no);
  }
  Request request{sv, peer, call.params, {}, actor};
  Reply r = co_await m->handle(request);
  co_return finish(std::move(r));
}

}  // namespace vigil
