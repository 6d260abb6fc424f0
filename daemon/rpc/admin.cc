#include "daemon/rpc/admin.h"

#include <boost/asio/post.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <sodium.h>

#include <algorithm>
#include <set>
#include <thread>

#include "daemon/os/command.h"
#include "daemon/core/log.h"
#include "daemon/os/offload.h"
#include "daemon/core/config.h"
#include "daemon/core/recovery.h"
#include "daemon/core/tokens.h"
#include "protocol/names.h"

namespace vigil {
namespace json = boost::json;
using proto::Reply;

namespace {

Reply invalid(std::string msg) { return Reply::failure(proto::kErrInvalidParameter, std::move(msg)); }
Reply unavailable(std::string msg) { return Reply::failure(proto::kErrUnavailable, std::move(msg)); }
Reply refused(std::string msg) { return Reply::failure(proto::kErrPermissionDenied, std::move(msg)); }

TimePoint wall_now() { return SystemClock().now(); }

std::string param(const json::object& p, std::string_view k, std::size_t max = 512) {
  auto v = proto::get_optional_string(p, k);
  std::string s = v && *v ? **v : std::string();
  if (s.size() > max) s.resize(max);
  return s;
}

bool flag(const json::object& p, std::string_view k) {
  auto it = p.find(k);
  return it != p.end() && it->value().is_bool() && it->value().as_bool();
}

// A code parameter; the server wipes the request's copy.
std::string take(const json::object& p, std::string_view k) {
  auto v = proto::get_optional_string(p, k);
  if (!v || !*v || (*v)->size() > 64) return {};
  return std::string(**v);
}

std::optional<Reply> only_keys(const json::object& p, std::initializer_list<std::string_view> keys) {
  for (const auto& kv : p) {
    if (kv.key() == "step_up_code") continue;
    if (std::find(keys.begin(), keys.end(), std::string_view(kv.key())) == keys.end())
      return invalid("unknown parameter \"" + std::string(kv.key()) + "\"");
  }
  for (const auto& kv : p) {
    if (!kv.value().is_string() && !kv.value().is_bool() && !(kv.key() == "scopes" && kv.value().is_array()))
      return invalid("parameter \"" + std::string(kv.key()) + "\" has the wrong type");
    if (kv.value().is_string() && kv.value().as_string().size() > 512)
      return invalid("parameter \"" + std::string(kv.key()) + "\" is too long (512 bytes at most)");
  }
  return std::nullopt;
}

std::optional<Reply> need_reason(const json::object& p) {
  auto reason = proto::get_string(p, "reason");
  if (!reason || reason->empty()) return invalid("a \"reason\" is required");
  if (!printable(*reason)) return invalid("the reason must not contain control characters");
  return std::nullopt;
}

std::optional<Reply> need_user(const json::object& p) {
  auto user = proto::get_string(p, "user");
  if (!user || !valid_user_name(*user)) return invalid("a valid \"user\" is required");
  return std::nullopt;
}

// Who acts: resolved once per request.
struct Actor {
  uid_t uid = 0;
  std::string name;
  uint32_t session = 0;  // the caller's login session (peer_session.h); 0: none
};

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

// Every administrator, with whether each is blocked.
struct AdminPicture {
  std::vector<recovery::Admin> admins;
  Directory dir;
  Overview ov;
};

boost::asio::awaitable<Result<AdminPicture>> admin_picture(Services& sv) {
  AdminPicture pic;
  auto dir = co_await sv.resolver->directory(sv.config->roles.admin_groups);
  if (dir.status != Lookup::Status::kFound)
    co_return Error::Nss("cannot list the administrators (NSS error)");
  auto ov = co_await overview(sv);
  if (!ov) co_return ov.error();
  std::set<int64_t> blocked;
  for (const auto& [uid, b] : ov->blocks) blocked.insert(uid);
  for (const auto& a : dir.dir.admins)
    pic.admins.push_back(recovery::Admin{a.uid, a.name, blocked.count(a.uid) > 0});
  pic.dir = std::move(dir.dir);
  pic.ov = std::move(*ov);
  co_return pic;
}

// Expires the password off the I/O thread, before the unblock, for
// pam_unix to ask for a new one (the engine's password change requirement
// is what keeps the old one out). Answers what happened, for the reply; a
// failure stops the unblock.
boost::asio::awaitable<Result<json::object>> expire(Services& sv, const std::string& name) {
  json::object out;
  if (!sv.config->recovery.expire_password) {
    out["outcome"] = "off";
    out["message"] = "[recovery] expire_password is off";
    co_return out;
  }
  auto work = [name] {
    try {
      return expire_password(name);
    } catch (const std::exception& e) {
      return ExpiryResult{ExpiryResult::Outcome::kFailed, std::string("internal error: ") + e.what()};
    }
  };
  ExpiryResult r = co_await offload(*sv.tools, std::move(work));
  out["outcome"] = r.outcome == ExpiryResult::Outcome::kExpired    ? "expired"
                   : r.outcome == ExpiryResult::Outcome::kNotLocal ? "not-local"
                                                                   : "failed";
  out["message"] = r.message;
  log::event(r.outcome == ExpiryResult::Outcome::kFailed ? log::Priority::kErr : log::Priority::kNotice,
             log::kMsgPasswordExpired, r.message, {{"VIGIL_USER", name}});
  if (r.outcome == ExpiryResult::Outcome::kFailed)
    co_return Error::Spawn("the password could not be expired (" + r.message +
                           "); the account stays blocked. Fix that, or set [recovery] expire_password = false");
  co_return out;
}

json::object recovery_json(const RecoveryRecord& r, const std::set<int64_t>& blocked) {
  json::object o;
  o["id"] = r.id;
  o["kind"] = r.kind == RecoveryRecord::Kind::kApproval ? "approval" : "request";
  o["user"] = r.name;
  o["uid"] = r.uid;
  o["requester"] = r.requester;
  o["requester_uid"] = r.requester_uid;
  o["reason"] = r.reason;
  o["created"] = to_epoch(r.created);
  o["expires"] = to_epoch(r.expires);
  o["blocked"] = blocked.count(r.uid) > 0;
  return o;
}

// Files a recovery request or an approval; a refusal or a store failure
// comes back as the reply to send.
boost::asio::awaitable<Result<Engine::Filed>> file_record(Services& sv, RecoveryRecord r) {
  auto start = [&](auto deliver) { sv.engine->file_recovery(std::move(r), std::move(deliver)); };
  co_return co_await await_callback<Result<Engine::Filed>>(start);
}

Reply filing_error(const Error& e) {
  return e.is_refused() ? refused(e.message) : unavailable("the request could not be recorded");
}

// ---- handlers ----

using Handler = boost::asio::awaitable<Reply> (*)(Services&, const Actor&, const json::object&);
using Validator = std::optional<Reply> (*)(const json::object&);

// What a method needs from the acting administrator's second factor.
enum class StepUp {
  kNone,    // read-only
  kHeld,    // a change: a code, or a step-up held in this login session
  kFresh,   // always a code given with this very request (Token.Issue)
};

struct AdminMethod {
  std::string_view name;
  StepUp step_up;
  Validator validate;
  Handler handle;
  SecretFields secrets = {{"step_up_code"}, {}};  // every request may carry one
};

boost::asio::awaitable<Result<Identity>> target_of(Services& sv, const json::object& p) {
  auto l = co_await sv.resolver->by_name(param(p, "user", 256));
  if (l.status == Lookup::Status::kError) co_return Error::Nss("user lookup failed (NSS error)");
  if (!l.found()) co_return Error::NotFound("no such user: " + param(p, "user", 256));
  co_return l.id;
}

Reply target_error(const Error& e) {
  return e.is_not_found() ? Reply::failure(proto::kErrNotFound, e.message) : unavailable(e.message);
}

boost::asio::awaitable<Reply> handle_status(Services& sv, const Actor&, const json::object& p) {
  if (!p.contains("user")) co_return co_await status_list_reply(sv);
  auto t = co_await target_of(sv, p);
  if (!t) co_return target_error(t.error());
  co_return co_await status_reply(sv, *t);
}

boost::asio::awaitable<Reply> handle_reset(Services& sv, const Actor& actor, const json::object& p) {
  auto t = co_await target_of(sv, p);
  if (!t) co_return target_error(t.error());
  const Identity id = *t;
  auto start = [&](auto deliver) { sv.engine->reset(account_key(id.uid), id.uid, id.name, std::move(deliver)); };
  auto res = co_await await_callback<ResetResult>(start);
  if (!res.status) co_return unavailable("the reset could not be recorded");
  log::event(log::Priority::kNotice, log::kMsgReset,
             "reset " + id.name + (res.was_locked ? " (was locked)" : ""),
             {{"VIGIL_USER", id.name}, {"VIGIL_ACTOR", actor.name},
              {"VIGIL_ACTOR_UID", std::to_string(actor.uid)}, {"VIGIL_REASON", "vigilctl reset"}});
  json::object out;
  out["user"] = id.name;
  out["was_locked"] = res.was_locked;
  co_return Reply::success(std::move(out));
}

boost::asio::awaitable<Reply> handle_block(Services& sv, const Actor& actor, const json::object& p) {
  auto t = co_await target_of(sv, p);
  if (!t) co_return target_error(t.error());
  const Identity id = *t;
  std::string reason = "administrator: " + param(p, "reason");
  const bool admin = is_admin(*sv.config, id) || id.uid == 0;
  auto start = [&](auto deliver) {
    sv.engine->block(id.uid, id.name, reason, actor.name, admin, std::move(deliver));
  };
  auto res = co_await await_callback<BlockResult>(start);
  if (!res.status) co_return unavailable("the change could not be recorded");
  sv.drop_step_ups(id.uid);
  json::object out;
  out["user"] = id.name;
  out["changed"] = res.changed;
  co_return Reply::success(std::move(out));
}

// Runs the unblock, after the password was expired.
boost::asio::awaitable<Reply> run_recover(Services& sv, RecoverRequest req, json::object password) {
  auto start = [&](auto deliver) { sv.engine->recover(std::move(req), std::move(deliver)); };
  auto res = co_await await_callback<RecoverResult>(start);
  if (!res.status)
    co_return error_reply(res.status.error(), "the unblock could not be recorded; the account stays blocked");
  json::object out;
  out["user"] = res.name;
  out["changed"] = res.changed;
  if (res.changed) {
    // A step-up made before the block does not outlive it.
    sv.drop_step_ups(static_cast<uid_t>(res.uid));
    out["devices_forgotten"] = res.devices_forgotten;
    out["suspicious_since"] = to_epoch(res.suspicious_since);
    out["password"] = std::move(password);
    out["password_change_required"] = res.password_change;
  }
  co_return Reply::success(std::move(out));
}

boost::asio::awaitable<Reply> handle_unblock(Services& sv, const Actor& actor, const json::object& p) {
  const bool approval = flag(p, "approval");
  std::string code = take(p, "verify_code");
  struct Wipe {
    std::string& s;
    ~Wipe() { wipe(s); }
  } wipe_code{code};
  if (approval && !code.empty()) co_return invalid("give either a verify_code or approval, not both");
  auto t = co_await target_of(sv, p);
  if (!t) co_return target_error(t.error());
  const Identity id = *t;
  auto pic = co_await admin_picture(sv);
  if (!pic) co_return unavailable(pic.error().message);
  const bool blocked = std::any_of(pic->ov.blocks.begin(), pic->ov.blocks.end(),
                                   [&](const auto& b) { return b.first == id.uid; });
  recovery::UnblockCase c;
  c.actor_uid = actor.uid;
  c.target_uid = id.uid;
  c.target_name = id.name;
  // root's account is treated as an administrator's: it needs verification.
  c.target_admin = is_admin(*sv.config, id) || id.uid == 0;
  c.how = approval ? recovery::Verification::kApproval
          : !code.empty() ? recovery::Verification::kCode
                          : recovery::Verification::kNone;
  c.admins = pic->admins;
  // Not blocked: nothing to verify, nothing to do (but never for oneself).
  if (!blocked && actor.uid != id.uid) {
    json::object out;
    out["user"] = id.name;
    out["changed"] = false;
    co_return Reply::success(std::move(out));
  }
  if (auto why = recovery::unblock_refusal(c)) co_return refused(*why);

  if (approval) {
    RecoveryRecord r;
    r.kind = RecoveryRecord::Kind::kApproval;
    r.uid = id.uid;
    r.name = id.name;
    r.requester_uid = actor.uid;
    r.requester = actor.name;
    r.reason = param(p, "reason");
    r.created = wall_now();
    r.expires = r.created + sv.config->recovery.approval_ttl;
    auto filing = file_record(sv, std::move(r));  // named: GCC 12 and co_await temporaries
    auto result = co_await std::move(filing);
    if (!result) co_return filing_error(result.error());
    const RecoveryRecord* filed = &result->record;
    log::event(log::Priority::kNotice, log::kMsgApprovalFiled,
               "unblock of " + id.name + " by " + actor.name + " waits for approval: " + filed->id,
               {{"VIGIL_USER", id.name}, {"VIGIL_ACTOR", actor.name}, {"VIGIL_REQUEST", filed->id},
                {"VIGIL_REASON", filed->reason}});
    json::object out;
    out["user"] = id.name;
    out["changed"] = false;
    out["pending"] = true;
    out["id"] = filed->id;
    out["expires"] = to_epoch(filed->expires);
    co_return Reply::success(std::move(out));
  }
  // The password goes first (a wrong code read out then leaves it expired on a
  // blocked account: the stricter side).
  auto expiring = expire(sv, id.name);  // named: GCC 12 and co_await temporaries
  auto password = co_await std::move(expiring);
  if (!password) co_return unavailable(password.error().message);
  RecoverRequest req;
  req.uid = id.uid;
  req.name = id.name;
  req.actor_uid = actor.uid;
  req.by = actor.name;
  req.reason = param(p, "reason");
  req.verify_code = code;
  co_return co_await run_recover(sv, std::move(req), std::move(*password));
}

boost::asio::awaitable<Reply> handle_approve(Services& sv, const Actor& actor, const json::object& p) {
  const std::string id = param(p, "id", 64);
  // The account named in the request, for the password; the engine checks
  // the request itself again when it acts.
  auto ov = co_await overview(sv);
  if (!ov) co_return unavailable("state unavailable");
  auto it = std::find_if(ov->recovery.begin(), ov->recovery.end(),
                         [&](const RecoveryRecord& r) { return r.id == id; });
  if (it == ov->recovery.end()) co_return refused("no pending request " + id);
  if (auto why = recovery::approve_refusal(*it, actor.uid, wall_now())) co_return refused(*why);
  // The account is the stored uid; its name is looked up again, so that a
  // name given to another account since the filing never gets its password
  // expired (and the unblock acts on the uid alone).
  auto now_named = co_await sv.resolver->by_uid(static_cast<uid_t>(it->uid));
  if (now_named.status == Lookup::Status::kError) co_return unavailable("user lookup failed (NSS error)");
  if (!now_named.found())
    co_return refused("the account of " + it->id + " (uid " + std::to_string(it->uid) +
                      ") no longer exists");
  auto expiring = expire(sv, now_named.id.name);
  auto password = co_await std::move(expiring);
  if (!password) co_return unavailable(password.error().message);
  RecoverRequest req;
  req.approval_id = id;
  req.actor_uid = actor.uid;
  req.by = actor.name;
  co_return co_await run_recover(sv, std::move(req), std::move(*password));
}

// A recovered account's password was changed where PAM does not see it (a
// directory's own tool): another administrator records it.
boost::asio::awaitable<Reply> handle_password_changed(Services& sv, const Actor& actor,
                                                      const json::object& p) {
  auto t = co_await target_of(sv, p);
  if (!t) co_return target_error(t.error());
  const Identity id = *t;
  if (id.uid == actor.uid)
    co_return refused("you cannot record your own password change: a PAM password change (passwd) "
                      "or another administrator does");
  Reply r = co_await password_changed_reply(sv, id, actor.name + ": " + param(p, "reason"));
  co_return r;
}

boost::asio::awaitable<Reply> handle_list(Services& sv, const Actor&, const json::object&) {
  auto ov = co_await overview(sv);
  if (!ov) co_return unavailable("state unavailable");
  std::set<int64_t> blocked;
  for (const auto& [uid, b] : ov->blocks) blocked.insert(uid);
  json::array requests, approvals;
  for (const auto& r : ov->recovery)
    (r.kind == RecoveryRecord::Kind::kApproval ? approvals : requests).push_back(recovery_json(r, blocked));
  json::object out;
  out["requests"] = std::move(requests);
  out["approvals"] = std::move(approvals);
  co_return Reply::success(std::move(out));
}

boost::asio::awaitable<Reply> handle_audit(Services& sv, const Actor&, const json::object&) {
  auto pic = co_await admin_picture(sv);
  if (!pic) co_return unavailable(pic.error().message);
  std::set<int64_t> factor(pic->ov.with_factor.begin(), pic->ov.with_factor.end());
  std::set<int64_t> blocked;
  for (const auto& [uid, b] : pic->ov.blocks) blocked.insert(uid);
  json::object out;
  json::array admins, without, blocks, requests, warnings;
  for (const auto& a : pic->dir.admins) {
    json::object o;
    o["user"] = a.name;
    o["uid"] = static_cast<int64_t>(a.uid);
    o["totp"] = factor.count(a.uid) > 0;
    o["blocked"] = blocked.count(a.uid) > 0;
    admins.push_back(std::move(o));
  }
  for (const auto& u : pic->dir.users) {
    if (factor.count(u.uid)) continue;
    json::object o;
    o["user"] = u.name;
    o["uid"] = static_cast<int64_t>(u.uid);
    o["admin"] = is_admin(*sv.config, u);
    without.push_back(std::move(o));
  }
  for (const auto& [uid, b] : pic->ov.blocks) {
    json::object o;
    auto who = co_await sv.resolver->by_uid(static_cast<uid_t>(uid));
    o["user"] = who.found() ? who.id.name : "uid " + std::to_string(uid);
    o["uid"] = uid;
    o["reason"] = b.reason;
    o["since"] = to_epoch(b.since);
    o["by"] = b.by;
    blocks.push_back(std::move(o));
  }
  for (const auto& r : pic->ov.recovery) requests.push_back(recovery_json(r, blocked));
  for (auto& w : recovery::audit_warnings(pic->admins, factor)) warnings.push_back(json::string(w));
  out["admins"] = std::move(admins);
  out["without_totp"] = std::move(without);
  out["blocked"] = std::move(blocks);
  out["requests"] = std::move(requests);
  out["warnings"] = std::move(warnings);
  co_return Reply::success(std::move(out));
}

json::object token_json(const tokens::Token& t) {
  json::object o = tokens::describe(t);
  o["created"] = to_epoch(t.created);
  o["expires"] = to_epoch(t.expires);
  o["state"] = tokens::state_name(t.state);
  o["expired"] = t.expires <= wall_now();
  if (!t.state_reason.empty()) o["state_reason"] = t.state_reason;
  if (t.state != tokens::State::kActive) o["state_changed"] = to_epoch(t.state_changed);
  return o;
}

json::array freezes_json(const std::vector<FreezeRecord>& fs) {
  json::array out;
  for (const auto& f : fs) {
    json::object o;
    o["user"] = f.name;
    o["uid"] = f.uid;
    o["since"] = to_epoch(f.since);
    o["reason"] = f.reason;
    out.push_back(std::move(o));
  }
  return out;
}

boost::asio::awaitable<Reply> handle_token_issue(Services& sv, const Actor& actor, const json::object& p) {
  auto owner = co_await sv.resolver->by_name(param(p, "owner", 256));
  if (owner.status == Lookup::Status::kError) co_return unavailable("user lookup failed (NSS error)");
  if (!owner.found()) co_return Reply::failure(proto::kErrNotFound, "no such user: " + param(p, "owner", 256));
  TokenIssueRequest req;
  req.owner_uid = owner.id.uid;
  req.owner = owner.id.name;
  req.name = param(p, "name", 64);
  for (const auto& v : p.at("scopes").as_array()) req.scopes.push_back(std::string(v.as_string()));
  req.by_uid = actor.uid;
  req.by = actor.name;
  req.ttl = sv.config->tokens.default_ttl;
  if (p.contains("ttl")) {
    auto d = parse_duration(param(p, "ttl", 32));
    if (!d || d->count() < 1 || *d > std::chrono::hours(24 * 3660))
      co_return invalid("\"ttl\" must be a duration between 1s and 3660d, such as \"30d\"");
    req.ttl = *d;
  }
  auto start = [&](auto deliver) { sv.engine->token_issue(std::move(req), std::move(deliver)); };
  auto r = co_await await_callback<TokenIssueResult>(start);
  if (!r.status) co_return error_reply(r.status.error(), "the token could not be recorded; none was issued");
  json::object out = token_json(r.token);
  out["user"] = r.token.owner;
  out["token"] = r.secret;  // shown once, here
  wipe(r.secret);
  co_return Reply::success(std::move(out));
}

boost::asio::awaitable<Result<TokenListing>> token_listing(Services& sv) {
  auto start = [&](auto deliver) { sv.engine->token_list(std::move(deliver)); };
  co_return co_await await_callback<Result<TokenListing>>(start);
}

boost::asio::awaitable<Reply> handle_token_list(Services& sv, const Actor&, const json::object& p) {
  auto l = co_await token_listing(sv);
  if (!l) co_return unavailable("token state unavailable");
  const std::string owner = param(p, "owner", 256);
  json::array list;
  for (const auto& t : l->tokens)
    if (owner.empty() || t.owner == owner) list.push_back(token_json(t));
  json::object out;
  out["tokens"] = std::move(list);
  out["frozen"] = !l->freezes.empty();
  out["freezes"] = freezes_json(l->freezes);
  co_return Reply::success(std::move(out));
}

boost::asio::awaitable<Reply> handle_token_show(Services& sv, const Actor&, const json::object& p) {
  auto l = co_await token_listing(sv);
  if (!l) co_return unavailable("token state unavailable");
  const std::string acc = param(p, "accessor", 64);
  for (const auto& t : l->tokens)
    if (t.accessor == acc) {
      json::object out = token_json(t);
      out["frozen"] = !l->freezes.empty();
      co_return Reply::success(std::move(out));
    }
  co_return Reply::failure(proto::kErrNotFound, "no token " + acc);
}

boost::asio::awaitable<Reply> handle_token_revoke(Services& sv, const Actor& actor, const json::object& p) {
  std::string acc = param(p, "accessor", 64), reason = param(p, "reason");
  auto start = [&](auto deliver) {
    sv.engine->token_revoke(std::move(acc), std::move(reason), actor.name, std::move(deliver));
  };
  auto r = co_await await_callback<TokenRevokeResult>(start);
  if (!r.status) co_return error_reply(r.status.error(), "the revocation could not be recorded");
  json::object out = token_json(r.token);
  out["changed"] = r.changed;
  co_return Reply::success(std::move(out));
}

std::optional<Reply> v_token_issue(const json::object& p) {
  if (auto r = only_keys(p, {"owner", "name", "scopes", "ttl"})) return r;
  auto owner = proto::get_string(p, "owner");
  if (!owner || !valid_user_name(*owner)) return invalid("a valid \"owner\" is required");
  auto name = proto::get_string(p, "name");
  if (!name || name->empty() || name->size() > 64 || !printable(*name))
    return invalid("a \"name\" of 1 to 64 printable characters is required");
  auto it = p.find("scopes");
  if (it == p.end() || !it->value().is_array() || it->value().as_array().empty() ||
      it->value().as_array().size() > 32)
    return invalid("\"scopes\" must list 1 to 32 scopes");
  for (const auto& v : it->value().as_array())
    if (!v.is_string() || !tokens::valid_scope(v.as_string()))
      return invalid("a scope is 1 to 64 of a-z 0-9 . _ - (starting with a letter or digit)");
  return std::nullopt;
}
std::optional<Reply> v_token_list(const json::object& p) {
  if (auto r = only_keys(p, {"owner"})) return r;
  return std::nullopt;
}
std::optional<Reply> v_accessor(const json::object& p) {
  if (auto r = only_keys(p, {"accessor"})) return r;
  auto a = proto::get_string(p, "accessor");
  if (!a || a->empty() || a->size() > 64) return invalid("an \"accessor\" is required");
  return std::nullopt;
}
std::optional<Reply> v_token_revoke(const json::object& p) {
  if (auto r = only_keys(p, {"accessor", "reason"})) return r;
  auto a = proto::get_string(p, "accessor");
  if (!a || a->empty() || a->size() > 64) return invalid("an \"accessor\" is required");
  return need_reason(p);
}

std::optional<Reply> v_status(const json::object& p) {
  if (auto r = only_keys(p, {"user"})) return r;
  if (p.contains("user")) return need_user(p);
  return std::nullopt;
}
std::optional<Reply> v_user(const json::object& p) {
  if (auto r = only_keys(p, {"user"})) return r;
  return need_user(p);
}
std::optional<Reply> v_user_reason(const json::object& p) {
  if (auto r = only_keys(p, {"user", "reason"})) return r;
  if (auto r = need_user(p)) return r;
  return need_reason(p);
}
std::optional<Reply> v_unblock(const json::object& p) {
  if (auto r = only_keys(p, {"user", "reason", "verify_code", "approval"})) return r;
  if (auto r = need_user(p)) return r;
  return need_reason(p);
}
std::optional<Reply> v_approve(const json::object& p) {
  if (auto r = only_keys(p, {"id"})) return r;
  auto id = proto::get_string(p, "id");
  if (!id || id->empty() || id->size() > 64) return invalid("a request \"id\" is required");
  return std::nullopt;
}
std::optional<Reply> v_empty(const json::object& p) { return only_keys(p, {}); }

const AdminMethod kAdminMethods[] = {
    {proto::kStatusGet, StepUp::kNone, v_status, handle_status},
    {proto::kStatusList, StepUp::kNone, v_empty, handle_status},
    {proto::kRecoveryList, StepUp::kNone, v_empty, handle_list},
    {proto::kAdminAudit, StepUp::kNone, v_empty, handle_audit},
    {proto::kAccountReset, StepUp::kHeld, v_user, handle_reset},
    {proto::kAccountBlock, StepUp::kHeld, v_user_reason, handle_block},
    {proto::kAccountUnblock, StepUp::kHeld, v_unblock, handle_unblock, {{"step_up_code", "verify_code"}, {}}},
    {proto::kAccountPasswordChanged, StepUp::kHeld, v_user_reason, handle_password_changed},
    {proto::kRecoveryApprove, StepUp::kHeld, v_approve, handle_approve},
    {proto::kTokenIssue, StepUp::kFresh, v_token_issue, handle_token_issue, {{"step_up_code"}, {"token"}}},
    {proto::kTokenRevoke, StepUp::kHeld, v_token_revoke, handle_token_revoke},
    {proto::kTokenList, StepUp::kNone, v_token_list, handle_token_list},
    {proto::kTokenShow, StepUp::kNone, v_accessor, handle_token_show},
};

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
boost::asio::awaitable<std::optional<Reply>> step_up(Services& sv, const Actor& actor,
                                                     const json::object& p, StepUp need) {
  const auto& rc = sv.config->recovery;
  if (!rc.step_up || actor.uid == 0) co_return std::nullopt;
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
  auto start = [&](auto deliver) {
    sv.engine->prove(uid, std::move(name), std::move(code), true, std::move(deliver));
  };
  ProofResult r = co_await await_callback<ProofResult>(start);
  wipe(code);
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

}  // namespace

const SecretFields& admin_secret_fields(std::string_view method) {
  for (const auto& m : kAdminMethods)
    if (m.name == method) return m.secrets;
  static const SecretFields kUnknown{{"step_up_code", "verify_code"}, {}};
  return kUnknown;
}

boost::asio::awaitable<Reply> dispatch_admin(Services& sv, const Peer& peer, const proto::Call& call) {
  const AdminMethod* m = nullptr;
  for (const auto& candidate : kAdminMethods)
    if (candidate.name == call.method) m = &candidate;
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
    std::string reason = r.ok() ? param(call.params, "reason") : r.message();
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
    auto b = co_await block_of(sv, peer.uid);
    if (!b) co_return finish(unavailable("state unavailable"));
    blocked = b->has_value();
  }
  if (auto why = recovery::admin_refusal(peer.uid, admin, blocked, sv.config->recovery.allow_root))
    co_return finish(refused(*why));
  if (auto bad = m->validate(call.params)) co_return finish(*bad);
  if (m->step_up != StepUp::kNone) {
    if (auto no = co_await step_up(sv, actor, call.params, m->step_up)) co_return finish(*no);
  }
  Reply r = co_await m->handle(sv, actor, call.params);
  co_return finish(std::move(r));
}

boost::asio::awaitable<Reply> file_recovery_request(Services& sv, const Peer& peer,
                                                    const json::object& p, const Lookup& target) {
  if (!target.found()) co_return Reply::failure(proto::kErrNotFound, "no such user");
  const Identity id = target.id;
  auto me = co_await sv.resolver->by_uid(peer.uid);
  if (me.status == Lookup::Status::kError) co_return unavailable("cannot resolve your account (NSS error)");
  if (!me.found()) co_return refused("your uid has no account name");
  auto mine = co_await block_of(sv, peer.uid);
  if (!mine) co_return unavailable("state unavailable");
  auto pic = co_await admin_picture(sv);
  if (!pic) co_return unavailable(pic.error().message);
  if (auto why = recovery::request_refusal(peer.uid, mine->has_value(), id.uid, pic->admins)) {
    log::event(log::Priority::kWarning, log::kMsgRecoveryRefused,
               "recovery request by " + me.id.name + " for " + id.name + " refused: " + *why,
               {{"VIGIL_USER", id.name}, {"VIGIL_ACTOR", me.id.name}, {"VIGIL_REASON", *why}});
    co_return refused(*why);
  }
  RecoveryRecord r;
  r.kind = RecoveryRecord::Kind::kRequest;
  r.uid = id.uid;
  r.name = id.name;
  r.requester_uid = peer.uid;
  r.requester = me.id.name;
  r.reason = param(p, "reason");
  r.created = wall_now();
  r.expires = r.created + std::chrono::days(7);
  auto filing = file_record(sv, std::move(r));  // named: GCC 12 and co_await temporaries
  auto result = co_await std::move(filing);
  if (!result) co_return filing_error(result.error());
  const RecoveryRecord* filed = &result->record;
  json::object out;
  out["id"] = filed->id;
  out["user"] = id.name;
  out["repeated"] = result->repeated;
  // A repeated request is the open one: no new event, no new notification.
  if (result->repeated) co_return Reply::success(std::move(out));
  log::event(log::Priority::kNotice, log::kMsgRecoveryRequest,
             "recovery request " + filed->id + " by " + me.id.name + " for " + id.name,
             {{"VIGIL_USER", id.name}, {"VIGIL_ACTOR", me.id.name}, {"VIGIL_REQUEST", filed->id},
              {"VIGIL_REASON", filed->reason}});
  if (const std::string& cmd = sv.config->recovery.notify_command; !cmd.empty()) {
    json::object o = recovery_json(*filed, std::set<int64_t>{id.uid});  // filed only when blocked
    std::string input = json::serialize(o) + "\n";
    std::string rid = filed->id;
    boost::asio::post(*sv.notify, [cmd, input, rid]() noexcept {
     try {
      auto res = run_command(outside_sandbox({"/bin/sh", "-c", cmd}, std::chrono::seconds(30)), input,
                             std::chrono::seconds(30));
      if (res.ok())
        log::info("notify_command for " + rid + " done");
      else
        log::warning("notify_command for " + rid + " failed: " +
                         (!res.started ? res.error
                          : res.timed_out ? std::string("killed after 30s")
                                          : "exit " + std::to_string(res.exit_status)) +
                         (res.output.empty() ? "" : ": " + res.output),
                     {{"VIGIL_REQUEST", rid}});
     } catch (const std::exception& e) {
      log::error(std::string("notify_command: ") + e.what());
     }
    });
  }
  co_return Reply::success(std::move(out));
}

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
  auto pic = co_await admin_picture(sv);
  if (!pic) {
    log::warning("cannot check the administrators at start: " + pic.error().message);
    co_return;
  }
  std::set<int64_t> factor(pic->ov.with_factor.begin(), pic->ov.with_factor.end());
  for (const auto& w : recovery::audit_warnings(pic->admins, factor))
    log::event(log::Priority::kWarning, log::kMsgAuditWarning, w);
}

}  // namespace vigil
