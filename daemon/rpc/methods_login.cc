// The module's calls: a password's outcome, the account phase, the second
// factor, a session's start, a password change; and the liveness ping.
#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "daemon/core/device.h"
#include "daemon/core/log.h"
#include "daemon/core/secrets.h"
#include "daemon/os/offload.h"
#include "daemon/rpc/handlers.h"
#include "protocol/api.h"
#include "protocol/login.h"
#include "protocol/names.h"
#include "vigil_build_config.h"

namespace vigil::methods {
namespace api = proto::api;

namespace {

// A failure report is never lost to its metadata: over-long optional strings
// are cut to this, not refused. (auth_info has its own bound: login_device.)
constexpr std::size_t kMaxText = 256;

// The module's request, as its handler reads it: decoded (the row's
// validator accepted the same parameters, so this cannot fail but for
// memory), with the login's over-long strings cut.
template <class T>
Result<T> request_of(const Params& p) {
  Result<T> req = T::from_json(p);
  if constexpr (requires(T& t) { t.login; }) {
    if (req)
      for (std::string* s : {&req->login.service, &req->login.rhost, &req->login.tty, &req->login.ruser})
        if (s->size() > kMaxText) s->resize(kMaxText);
  }
  return req;
}

// A validator's decoding: the first error, as a reply.
template <class T>
std::optional<Reply> refusal(const Result<T>& req) {
  if (!req) return invalid(req.error().message);
  return std::nullopt;
}

std::string quoted(std::string_view key) { return "\"" + std::string(key) + "\""; }

std::string grace_warning(TimePoint ends) {
  return "A second factor will be required for this account from " + utc_text(ends) +
         ". Enrol now: vigilctl totp enroll";
}

// The device of a login (device.h). A terminal name never identifies a
// device for a remote service (one with an rhost, or in [devices]
// remote_services): every user shares it, and pts numbers are reused.
std::string login_device(const Config& cfg, const api::Login& l) {
  std::optional<std::string> fp;
  if (l.auth_info.size() <= 16384) fp = device::ssh_fingerprint(l.auth_info);
  std::string id = device::device_id(l.service, l.rhost, l.tty, fp);
  const auto& remote = cfg.devices.remote_services;
  const bool is_remote = !l.rhost.empty() || std::find(remote.begin(), remote.end(), l.service) != remote.end();
  if (is_remote && device::strength(id) < device::Strength::kAddress) id.clear();
  return id;
}

// Only root callers (login, getty) vouch for a console login, and not a
// setuid one (su, sudo run by a local user on a console).
bool console_login(const Request& r, const api::Login& l, const std::string& rhost, const std::string& tty) {
  return r.sv.config->lockout.console_exempt && r.peer.root() && !l.setuid && proto::is_console_login(rhost, tty);
}

// The request to the engine for a report.
ReportRequest report_request(const Request& r, const api::AuthReport& in) {
  const auto& cfg = *r.sv.config;
  // Only root callers (sshd, login, sudo, su) vouch for where a login comes
  // from. A local user's own process may report only for itself, and what it
  // says about the source, service, terminal or key is not taken into any
  // decision: its reports count toward its own lock and nothing else (no
  // source bucket, no device, no block).
  const bool trusted = r.peer.root();
  const std::string rhost = trusted ? in.login.rhost : std::string();
  const std::string tty = trusted ? in.login.tty : std::string();
  ReportRequest req;
  req.outcome = in.outcome == proto::kOutcomeSuccess ? Outcome::kSuccess : Outcome::kFailure;
  req.nonce = in.nonce;
  req.root_caller = r.peer.root();
  // The source counts for every attempt, unknown user names included.
  req.source = device::source_key(device::parse_source(rhost));
  req.rhost = rhost;
  if (!r.target.lookup.found()) {
    req.key = unknown_name_key(r.sv.name_key, r.target.given_name);
    return req;
  }
  const auto& id = r.target.lookup.id;
  req.key = account_key(id.uid);
  req.uid = id.uid;
  req.name = id.name;
  const bool root_exempt = id.uid == 0 && !cfg.lockout.even_deny_root;
  const bool console_exempt = console_login(r, in.login, rhost, tty);
  req.exempt = root_exempt || console_exempt;
  req.console = console_exempt;
  req.totp_required = totp_required(cfg, id);
  req.admin = is_admin(cfg, id) || id.uid == 0;
  if (trusted) {
    req.device = login_device(cfg, in.login);
    req.audit_session = in.login.audit_session;
    req.service = in.login.service;
  }
  req.groups = id.groups;
  req.tty = tty;
  return req;
}

}  // namespace

// Each validator decodes its request (api.h: unknown keys, then types and
// bounds) and adds its method's own rules. Over-long optional strings pass:
// the handlers cut them (request_of).
std::optional<Reply> validate_report(const Params& p) {
  auto req = api::AuthReport::from_json(p);
  if (!req) return refusal(req);
  if (req->outcome != proto::kOutcomeFailure && req->outcome != proto::kOutcomeSuccess)
    return invalid(quoted(api::key::kOutcome) + " must be " + quoted(proto::kOutcomeFailure) + " or " +
                   quoted(proto::kOutcomeSuccess));
  return std::nullopt;
}

std::optional<Reply> validate_account(const Params& p) { return refusal(api::AccountCheck::from_json(p)); }

std::optional<Reply> validate_verify(const Params& p) {
  auto req = api::AuthVerify::from_json(p);
  if (req) wipe(req->code);
  return refusal(req);
}

std::optional<Reply> validate_session(const Params& p) {
  auto req = api::SessionOpen::from_json(p);
  if (!req) return refusal(req);
  if (req->login.audit_session == 0) return invalid("a valid " + quoted(api::key::kAuditSession) + " is required");
  return std::nullopt;
}

std::optional<Reply> validate_password_changed(const Params& p) {
  return refusal(api::PasswordChanged::from_json(p));
}

// The fleet's account of the report's target, when fleet mode decides it
// (fleet.h: account_of); "" for a name that resolves to no account, whose
// source still counts fleet-wide.
std::optional<std::string> fleet_account(const Request& r) {
  if (!r.sv.fleet) return std::nullopt;
  if (!r.target.lookup.found()) return std::string();
  return r.sv.fleet->account_of(r.target.lookup.id.uid, r.target.lookup.id.name);
}

Reply database_unreachable(const Error& e) {
  return Reply::failure(proto::kErrDatabaseUnreachable, "no decision: " + e.message);
}

// Fleet degraded mode (fleet.h): the report of a fleet account decided on
// this host alone, by the engine with [fleet] deny_offline, against its own
// view (the replica's blocks, its own counters), journaled in the
// transaction that records it. A right password is refused where a code
// would be needed and cannot be checked ([fleet] offline_totp), and for an
// administrator ([fleet] offline_admins); the console excepted. Every
// answer prompts, as a fleet host's always do: an allowed login takes any
// answer to the prompt (Challenge::decided).
Answer fleet_offline_report(Request& r, ReportRequest req, std::string account) {
  const auto& fc = r.sv.config->fleet;
  const bool found = r.target.lookup.found();
  const bool failure = req.outcome == Outcome::kFailure;
  std::string refuse;
  if (!failure && found && !req.console) {
    // What the database said of the account in the last kKnownFor; an
    // account it was not asked about may have a factor, and may be one of
    // the fleet's administrators (vigil.admin).
    const std::optional<fleet::Fleet::Known> known = r.sv.fleet->known(account);
    const bool admin = req.admin || !known || known->admin;
    const bool factor = !known || known->factor;
    if (admin && !fc.offline_admins_allow)
      refuse = std::string(req.admin || known ? "an administrator" : "possibly an administrator (not asked lately)") +
               ", while the fleet's database is unreachable ([fleet] offline_admins = \"deny\")";
    else if (!fc.offline_totp_password_only && (req.totp_required || factor))
      refuse = std::string(known ? "the account has a second factor" : "the account may have a second factor") +
               ", and no code can be checked while the fleet's database is unreachable ([fleet] offline_totp = "
               "\"deny\")";
  }
  const device::Source src = device::parse_source(req.rhost);
  boost::json::array keys, scales;
  if (!r.sv.config->throttle.trusted(src))
    for (const auto& k : device::throttle_keys(src)) {
      keys.emplace_back(k.key);
      scales.emplace_back(k.scale);
    }
  boost::json::object entry{{"source", req.source},           {"device", req.device},
                            {"service", req.service},         {"throttle_keys", std::move(keys)},
                            {"throttle_scales", std::move(scales)}, {"root_caller", req.root_caller},
                            {"exempt", req.exempt},           {"console", req.console}};
  req.offline = ReportRequest::Offline{fc.deny_offline, account, boost::json::serialize(entry),
                                       !fc.offline_totp_password_only, std::move(refuse)};
  req.totp_required = false;  // decided above
  const std::string nonce = req.nonce;
  auto start = [&](auto deliver) { r.sv.engine->report(std::move(req), std::move(deliver)); };
  ReportResult res = co_await await_callback<ReportResult>(start);
  if (!res.status) co_return unavailable("the decision could not be recorded");
  if (!res.duplicate) r.sv.fleet->journaled();
  std::string verdict = found && res.decision.allow && !failure ? "verify" : "deny";
  if (verdict == "verify") {
    fleet::Challenge c;
    c.decided = true;
    if (nonce.empty() || !r.sv.fleet->add_challenge(account + '\n' + nonce, std::move(c))) verdict = "deny";
  }
  api::AuthReportReply out;
  out.verdict = verdict == "verify" ? proto::kVerdictVerify : proto::kVerdictDeny;
  out.prompt = true;
  co_return Reply::success(out.to_json());
}

// Fleet mode: the decision is vigil.report()'s (fleet.h). A block made on
// this host alone (break-glass, an older single-host block) still refuses.
// In degraded mode, or when the database is lost during the call, the host
// decides alone (fleet_offline_report).
Answer fleet_report(Request& r, ReportRequest req, std::string account) {
  if (r.sv.fleet->degraded()) {
    auto deciding = fleet_offline_report(r, std::move(req), std::move(account));  // named: GCC 12
    Reply reply = co_await std::move(deciding);
    co_return reply;
  }
  const ReportRequest kept = req;  // for a decision made here after all
  const auto& cfg = *r.sv.config;
  const bool found = r.target.lookup.found();
  if (found && !req.console) {
    const auto& id = r.target.lookup.id;
    RuleInput in{id.name, id.groups, req.service, device::parse_source(req.rhost), req.tty, false};
    auto start = [&](auto deliver) {
      r.sv.engine->account(id.uid, req.device, 0, std::move(in), false, std::move(deliver));
    };
    auto local = co_await await_callback<Result<AccountVerdict>>(start);
    if (!local) co_return unavailable("state unavailable");
    if (local->blocked && cfg.daemon.mode != DaemonMode::kReport)
      co_return Reply::success(api::AuthReportReply{proto::kVerdictDeny, false, {}}.to_json());
  }
  // A fleet host always prompts for a code: any fleet account may have a
  // factor (enrolled on another host, or migrated), and the prompt is the
  // host's, never the account's. Every right password is "password_ok" and
  // answered "verify", so the prompt tells nothing about the password
  // (engine.h, second factor); an account that needs no code takes any
  // answer.
  const bool prompt = true;
  const bool failure = req.outcome == Outcome::kFailure;
  fleet::ReportIn f;
  f.account = std::move(account);
  f.outcome = failure ? "failure" : prompt ? "password_ok" : "success";
  f.source = req.source;
  f.device = req.device;
  f.service = req.service;
  f.nonce = req.nonce;
  f.exempt = req.exempt;
  f.root_caller = req.root_caller;
  f.console = req.console;
  const device::Source src = device::parse_source(req.rhost);
  if (!cfg.throttle.trusted(src)) f.throttle = device::throttle_keys(src);
  // Whether this account needs a code: its factor in the database, or the
  // policy's requirement (fleet mode keeps no grace period).
  bool has_factor = false;
  bool lost = false;  // the database was lost during this call: decided here
  if (!failure && found && !f.account.empty()) {
    auto fstart = [&](auto deliver) { r.sv.fleet->factor(f.account, std::move(deliver)); };
    auto fa = co_await await_callback<Result<bool>>(fstart);
    if (!fa && r.sv.fleet->degraded()) lost = true;
    else if (!fa) co_return database_unreachable(fa.error());
    else has_factor = *fa;
  }
  if (lost) {
    auto deciding = fleet_offline_report(r, kept, f.account);  // named: GCC 12
    Reply reply = co_await std::move(deciding);
    co_return reply;
  }
  const bool required = found && req.totp_required;
  f.needs_code = has_factor || required;
  fleet::ReportIn success = f;  // completes the login once the code is good
  success.outcome = "success";
  success.nonce.clear();
  auto start = [&](auto deliver) { r.sv.fleet->report(std::move(f), std::move(deliver)); };
  auto res = co_await await_callback<Result<fleet::ReportOut>>(start);
  if (!res && res.error().code == Error::Code::kRefused) {
    log::error("the fleet database refused this host's report: " + res.error().message,
               {{"VIGIL_REASON", "fleet role refused"}});
    co_return database_unreachable(res.error());
  }
  // Lost during the call (the deadline dropped the connection: degraded
  // now): decided here and journaled. The report may have committed there
  // too; a failure then counts twice, never less.
  if (!res && r.sv.fleet->degraded()) {
    auto deciding = fleet_offline_report(r, kept, success.account);  // named: GCC 12
    Reply reply = co_await std::move(deciding);
    co_return reply;
  }
  if (!res) co_return database_unreachable(res.error());
  const std::string name = found ? r.target.lookup.id.name : std::string("(unresolved name)");
  if (res->locked_now)
    log::event(log::Priority::kWarning, log::kMsgLocked,
               "locked " + name + " fleet-wide after " + std::to_string(res->lock_count) + " lock(s)",
               {{"VIGIL_USER", name}, {"VIGIL_RHOST", req.source}, {"VIGIL_SERVICE", req.service},
                {"VIGIL_REASON", "too many failures"},
                {"VIGIL_UNLOCK_TIME", std::to_string(res->locked_until)}});
  if (res->blocked_now)
    log::event(log::Priority::kCrit, log::kMsgBlocked,
               "blocked " + name + " fleet-wide: the right password from an unknown device after failures from "
               "several unknown sources (credential stuffing)",
               {{"VIGIL_USER", name}, {"VIGIL_RHOST", req.source}, {"VIGIL_SERVICE", req.service},
                {"VIGIL_REASON", "credential stuffing"}});
  if (res->reason == "auto_block_cap")
    log::event(log::Priority::kWarning, log::kMsgBlocked,
               "refused " + name + ": credential stuffing, but this host's automatic blocks are at the fleet's "
               "cap (max_auto_blocks_per_host); no block was made",
               {{"VIGIL_USER", name}, {"VIGIL_REASON", "auto block cap"}});
  std::string verdict = found ? res->verdict : std::string("deny");
  if (verdict == "deny" && found && !failure && cfg.daemon.mode == DaemonMode::kReport) {
    // Report mode: recorded as decided, not enforced (engine.h).
    log::event(log::Priority::kWarning, log::kMsgNotEnforced,
               "report mode: not enforced: refused " + name + " (" + res->reason + ")",
               {{"VIGIL_USER", name}, {"VIGIL_RHOST", req.source}, {"VIGIL_SERVICE", req.service},
                {"VIGIL_REASON", res->reason}});
    verdict = prompt ? "verify" : "allow";
  }
  if (verdict == "verify") {
    const std::string key = success.account + '\n' + req.nonce;
    fleet::Challenge c{std::move(success), has_factor || required, required && !has_factor && !req.console, {}};
    if (req.nonce.empty() || !r.sv.fleet->add_challenge(key, std::move(c)))
      verdict = "deny";  // no code can follow
  }
  api::AuthReportReply out;
  out.verdict = verdict == "allow" ? proto::kVerdictAllow : verdict == "verify" ? proto::kVerdictVerify
                                                                                 : proto::kVerdictDeny;
  out.prompt = prompt;
  co_return Reply::success(out.to_json());
}

// Fleet mode: the code of a right password (fleet_report's challenge),
// checked in the database (vigil.verify: a step used on any host is refused
// on every host; wrong codes count there), then the login's success
// reported (it resets the counters and trusts the device, as on one host).
Answer fleet_verify(Request& r, std::string account, std::string nonce, std::string code) {
  struct Wipe {
    std::string& s;
    ~Wipe() { wipe(s); }
  } wipe_code{code};
  const auto deny = [] { return Reply::success(api::AuthVerifyReply{proto::kVerdictDeny, {}}.to_json()); };
  auto c = r.sv.fleet->take_challenge(account + '\n' + nonce);
  if (!c) co_return deny();
  if (c->decided) co_return Reply::success(api::AuthVerifyReply{proto::kVerdictAllow, {}}.to_json());
  const std::string& name = r.target.lookup.id.name;
  if (c->no_factor) {
    log::event(log::Priority::kWarning, log::kMsgTotpMissing,
               "refused " + name + ": a second factor is required ([totp] require) and the account has none "
               "in the fleet",
               {{"VIGIL_USER", name}, {"VIGIL_REASON", "totp required, none enrolled"}});
    co_return deny();
  }
  if (c->needs_code) {
    if (code.empty()) co_return deny();
    auto vstart = [&](auto deliver) { r.sv.fleet->verify(account, std::move(code), std::move(deliver)); };
    auto checked = co_await await_callback<Result<std::string>>(vstart);
    // A code cannot be checked without the database: refused (the next
    // attempt is decided in degraded mode).
    if (!checked && r.sv.fleet->degraded()) co_return deny();
    if (!checked) co_return database_unreachable(checked.error());
    if (*checked != "ok" && *checked != "recovery_code") {
      log::event(log::Priority::kWarning, log::kMsgCodeRefused, "refused a code of " + name + " (" + *checked + ")",
                 {{"VIGIL_USER", name}, {"VIGIL_REASON", *checked}});
      co_return deny();
    }
  }
  auto start = [&](auto deliver) { r.sv.fleet->report(std::move(c->success), std::move(deliver)); };
  auto res = co_await await_callback<Result<fleet::ReportOut>>(start);
  if (!res && r.sv.fleet->degraded()) co_return deny();
  if (!res) co_return database_unreachable(res.error());
  co_return Reply::success(
      api::AuthVerifyReply{res->verdict == "allow" ? proto::kVerdictAllow : proto::kVerdictDeny, {}}.to_json());
}

Answer report(Request& r) {
  auto in = request_of<api::AuthReport>(r.params);
  if (!in) co_return invalid(in.error().message);
  ReportRequest req = report_request(r, *in);
  std::optional<std::string> account = fleet_account(r);  // not in the if: GCC 12 across co_await
  if (account) {
    auto reporting = fleet_report(r, std::move(req), std::move(*account));  // named: GCC 12 and co_await temporaries
    Reply reply = co_await std::move(reporting);
    co_return reply;
  }
  auto start = [&](auto deliver) { r.sv.engine->report(std::move(req), std::move(deliver)); };
  ReportResult res = co_await await_callback<ReportResult>(start);
  if (!res.status) co_return unavailable("the decision could not be recorded");
  const bool found = r.target.lookup.found();
  const bool allow = res.decision.allow && found;
  const bool verify = res.verify && found;
  api::AuthReportReply out;
  out.verdict = verify ? proto::kVerdictVerify : allow ? proto::kVerdictAllow : proto::kVerdictDeny;
  // Whether a code prompt follows depends on the account only, never on
  // the password: the module prompts on both paths.
  out.prompt = res.prompt;
  if (allow && res.in_grace) out.warning = grace_warning(res.grace_ends);
  co_return Reply::success(out.to_json());
}

Answer account(Request& r) {
  // The account phase denies blocks (and deny rules) only, never a temporary
  // lock, so that password noise cannot cut off key logins.
  if (!r.target.lookup.found()) co_return Reply::success(api::AccountCheckReply{proto::kVerdictDeny}.to_json());
  auto req = request_of<api::AccountCheck>(r.params);
  if (!req) co_return invalid(req.error().message);
  const api::Login& l = req->login;
  const bool console = console_login(r, l, l.rhost, l.tty);
  const auto& id = r.target.lookup.id;
  RuleInput in{id.name, id.groups, l.service, device::parse_source(l.rhost), l.tty, false};
  std::string dev = login_device(*r.sv.config, l);
  const uint32_t sid = r.peer.root() ? l.audit_session : 0;
  auto start = [&](auto deliver) {
    r.sv.engine->account(id.uid, std::move(dev), sid, std::move(in), console, std::move(deliver));
  };
  auto v = co_await await_callback<Result<AccountVerdict>>(start);
  if (!v) co_return unavailable("state unavailable");
  // Degraded mode: the replica's blocks (the engine's) decide.
  const std::optional<std::string> account = fleet_account(r);  // not in the if: GCC 12 across co_await
  if (account && !console && !v->blocked && !r.sv.fleet->degraded()) {
    auto fstart = [&](auto deliver) { r.sv.fleet->block_of(*account, std::move(deliver)); };
    auto blocked = co_await await_callback<Result<std::optional<std::string>>>(fstart);
    if (!blocked && !r.sv.fleet->degraded()) co_return database_unreachable(blocked.error());
    if (blocked) v->blocked = blocked->has_value() && r.sv.config->daemon.mode != DaemonMode::kReport;
  }
  if (v->denied_by_rule)
    log::info("account phase: " + id.name + " denied by the rule at line " + std::to_string(v->denied_by_rule),
              {{"VIGIL_USER", id.name}, {"VIGIL_SERVICE", l.service}, {"VIGIL_REASON", "deny rule"}});
  const bool deny = v->blocked || v->denied_by_rule;
  co_return Reply::success(api::AccountCheckReply{deny ? proto::kVerdictDeny : proto::kVerdictAllow}.to_json());
}

Answer verify(Request& r) {
  auto in = api::AuthVerify::from_json(r.params);
  if (!in) co_return invalid(in.error().message);
  // An unknown name goes through the engine too (it never has a challenge),
  // so that it is answered as late as a known one.
  const bool found = r.target.lookup.found();
  const auto& id = r.target.lookup.id;
  std::optional<std::string> account = fleet_account(r);  // not in the if: GCC 12 across co_await
  if (account && !account->empty()) {
    auto verifying = fleet_verify(r, std::move(*account), in->nonce, std::move(in->code));  // named: GCC 12
    wipe(in->code);
    Reply reply = co_await std::move(verifying);
    co_return reply;
  }
  // The engine wipes its copy of the code; this one is wiped at once.
  VerifyRequest req{found ? account_key(id.uid) : unknown_name_key(r.sv.name_key, r.target.given_name),
                    found ? int64_t(id.uid) : int64_t(-1), found ? id.name : std::string(),
                    in->nonce, in->code, r.peer.root(), in->no_prompt};
  wipe(in->code);
  auto start = [&](auto deliver) { r.sv.engine->verify(std::move(req), std::move(deliver)); };
  VerifyResult res = co_await await_callback<VerifyResult>(start);
  if (!res.status) co_return unavailable("the decision could not be recorded");
  api::AuthVerifyReply out;
  out.verdict = res.allow ? proto::kVerdictAllow : proto::kVerdictDeny;
  if (res.allow && res.in_grace) out.warning = grace_warning(res.grace_ends);
  co_return Reply::success(out.to_json());
}

Answer session_open(Request& r) {
  auto in = request_of<api::SessionOpen>(r.params);
  if (!in) co_return invalid(in.error().message);
  // Only a new login session names a device: a setuid caller's (su, sudo
  // run by a user) or one with PAM_RUSER (su, sudo) is another login's.
  const bool nested = in->login.setuid || !in->login.ruser.empty();
  if (r.target.lookup.found() && !nested)
    r.sv.engine->session_open(in->login.audit_session, r.target.lookup.id.uid,
                              login_device(*r.sv.config, in->login));
  co_return Reply::success(api::SessionOpenReply{}.to_json());
}

// The module's password phase, placed after the password module: reached
// only when that module changed the password. Ends the password change a
// recovery required. (Its reply, api::PasswordChangedReply, is the admin
// socket's too: password_changed_reply.)
Answer password_changed(Request& r) {
  if (!r.target.lookup.found()) co_return not_found("no such user");
  auto in = request_of<api::PasswordChanged>(r.params);
  if (!in) co_return invalid(in.error().message);
  auto recording = password_changed_reply(r.sv, r.target.lookup.id,
                                          "PAM password change (" + in->login.service + ")");  // named: GCC 12
  Reply reply = co_await std::move(recording);
  co_return reply;
}

Answer ping(Request&) { co_return Reply::success(api::PingReply{VIGIL_VERSION}.to_json()); }

}  // namespace vigil::methods
