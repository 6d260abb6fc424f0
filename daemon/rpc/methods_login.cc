// The module's calls: a password's outcome, the account phase, the second
// factor, a session's start, a password change; and the liveness ping.
#include <algorithm>

#include "daemon/core/device.h"
#include "daemon/core/log.h"
#include "daemon/os/offload.h"
#include "daemon/rpc/handlers.h"
#include "protocol/login.h"
#include "protocol/names.h"
#include "vigil_build_config.h"

namespace vigil::methods {
namespace json = boost::json;

namespace {

std::string grace_warning(TimePoint ends) {
  return "A second factor will be required for this account from " + std::to_string(to_epoch(ends)) +
         " (epoch). Enrol now: vigilctl totp enroll";
}

// The device of a login (device.h), from the report's parameters. A
// terminal name never identifies a device for a remote service (one with an
// rhost, or in [devices] remote_services): every user shares it, and pts
// numbers are reused.
std::string login_device(const Config& cfg, const Params& p) {
  auto info = proto::get_optional_string(p, "auth_info");
  std::optional<std::string> fp;
  if (info && *info && (*info)->size() <= 16384) fp = device::ssh_fingerprint(**info);
  const std::string service = param(p, "service"), rhost = param(p, "rhost");
  std::string id = device::device_id(service, rhost, param(p, "tty"), fp);
  const auto& remote = cfg.devices.remote_services;
  const bool is_remote = !rhost.empty() || std::find(remote.begin(), remote.end(), service) != remote.end();
  if (is_remote && device::strength(id) < device::Strength::kAddress) id.clear();
  return id;
}

// Only root callers (login, getty) vouch for a console login, and not a
// setuid one (su, sudo run by a local user on a console).
bool console_login(const Request& r, const std::string& rhost, const std::string& tty) {
  return r.sv.config->lockout.console_exempt && r.peer.root() && !flag(r.params, "setuid") &&
         proto::is_console_login(rhost, tty);
}

// The request to the engine for a report.
ReportRequest report_request(const Request& r) {
  const auto& cfg = *r.sv.config;
  const auto& p = r.params;
  // Only root callers (sshd, login, sudo, su) vouch for where a login comes
  // from. A local user's own process may report only for itself, and what it
  // says about the source, service, terminal or key is not taken into any
  // decision: its reports count toward its own lock and nothing else (no
  // source bucket, no device, no block).
  const bool trusted = r.peer.root();
  const std::string rhost = trusted ? param(p, "rhost") : std::string();
  const std::string tty = trusted ? param(p, "tty") : std::string();
  ReportRequest req;
  req.outcome = param(p, "outcome") == proto::kOutcomeSuccess ? Outcome::kSuccess : Outcome::kFailure;
  req.nonce = param(p, "nonce");
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
  const bool console_exempt = console_login(r, rhost, tty);
  req.exempt = root_exempt || console_exempt;
  req.console = console_exempt;
  req.totp_required = totp_required(cfg, id);
  req.admin = is_admin(cfg, id) || id.uid == 0;
  if (trusted) {
    req.device = login_device(cfg, p);
    req.audit_session = audit_session(p);
    req.service = param(p, "service");
  }
  req.groups = id.groups;
  req.tty = tty;
  return req;
}

}  // namespace

// A failure report is never lost to its metadata: over-long optional strings
// are truncated by the handler, not refused. Types are still checked.
std::optional<Reply> validate_report(const Params& p) {
  if (auto r = only_keys(p, {"user", "outcome", "nonce", "service", "rhost", "tty", "ruser", "setuid",
                             "auth_info", "audit_session"}))
    return r;
  if (auto it = p.find("audit_session"); it != p.end() && !it->value().is_int64())
    return invalid("parameter \"audit_session\" must be an integer");
  if (auto r = check_strings(p, {"auth_info"}, SIZE_MAX)) return r;
  if (auto r = check_strings(p, {"service", "rhost", "tty", "ruser"}, SIZE_MAX)) return r;
  if (auto it = p.find("setuid"); it != p.end() && !it->value().is_bool())
    return invalid("parameter \"setuid\" must be a boolean");
  if (auto r = check_strings(p, {"nonce"}, 128)) return r;
  auto outcome = proto::get_string(p, "outcome");
  if (!outcome) return invalid(outcome.error().message);
  if (*outcome != proto::kOutcomeFailure && *outcome != proto::kOutcomeSuccess)
    return invalid("\"outcome\" must be \"failure\" or \"success\"");
  return std::nullopt;
}

std::optional<Reply> validate_account(const Params& p) {
  if (auto r = only_keys(p, {"user", "service", "rhost", "tty", "ruser", "setuid", "auth_info",
                             "audit_session"}))
    return r;
  return check_strings(p, {"service", "rhost", "tty", "ruser"}, SIZE_MAX);
}

std::optional<Reply> validate_verify(const Params& p) {
  if (auto r = only_keys(p, {"user", "nonce", "code", "no_prompt"})) return r;
  if (auto r = check_strings(p, {"nonce"}, 128)) return r;
  if (auto r = check_strings(p, {"code"}, 64)) return r;
  if (auto it = p.find("no_prompt"); it != p.end() && !it->value().is_bool())
    return invalid("parameter \"no_prompt\" must be a boolean");
  return std::nullopt;
}

std::optional<Reply> validate_session(const Params& p) {
  if (auto r = only_keys(p, {"user", "service", "rhost", "tty", "ruser", "setuid", "auth_info", "audit_session"}))
    return r;
  if (auto r = check_strings(p, {"service", "rhost", "tty", "ruser", "auth_info"}, SIZE_MAX)) return r;
  if (audit_session(p) == 0) return invalid("a valid \"audit_session\" is required");
  return std::nullopt;
}

std::optional<Reply> validate_password_changed(const Params& p) {
  if (auto r = only_keys(p, {"user", "service", "rhost", "tty", "ruser", "setuid", "audit_session"})) return r;
  return check_strings(p, {"service", "rhost", "tty", "ruser"}, SIZE_MAX);
}

Answer report(Request& r) {
  ReportRequest req = report_request(r);
  auto start = [&](auto deliver) { r.sv.engine->report(std::move(req), std::move(deliver)); };
  ReportResult res = co_await await_callback<ReportResult>(start);
  if (!res.status) co_return unavailable("the decision could not be recorded");
  const bool found = r.target.lookup.found();
  const bool allow = res.decision.allow && found;
  const bool verify = res.verify && found;
  json::object out;
  out["verdict"] = verify ? proto::kVerdictVerify : allow ? proto::kVerdictAllow : proto::kVerdictDeny;
  // Whether a code prompt follows depends on the account only, never on
  // the password: the module prompts on both paths.
  out["prompt"] = res.prompt;
  if (allow && res.in_grace) out["warning"] = grace_warning(res.grace_ends);
  co_return Reply::success(std::move(out));
}

Answer account(Request& r) {
  // The account phase denies blocks (and deny rules) only, never a temporary
  // lock, so that password noise cannot cut off key logins.
  const auto& p = r.params;
  json::object out;
  if (!r.target.lookup.found()) {
    out["verdict"] = proto::kVerdictDeny;
    co_return Reply::success(std::move(out));
  }
  const bool console = console_login(r, param(p, "rhost"), param(p, "tty"));
  const auto& id = r.target.lookup.id;
  RuleInput in{id.name, id.groups, param(p, "service"), device::parse_source(param(p, "rhost")),
               param(p, "tty"), false};
  std::string dev = login_device(*r.sv.config, p);
  const uint32_t sid = r.peer.root() ? audit_session(p) : 0;
  auto start = [&](auto deliver) {
    r.sv.engine->account(id.uid, std::move(dev), sid, std::move(in), console, std::move(deliver));
  };
  auto v = co_await await_callback<Result<AccountVerdict>>(start);
  if (!v) co_return unavailable("state unavailable");
  if (v->denied_by_rule)
    log::info("account phase: " + id.name + " denied by the rule at line " + std::to_string(v->denied_by_rule),
              {{"VIGIL_USER", id.name}, {"VIGIL_SERVICE", param(p, "service")}, {"VIGIL_REASON", "deny rule"}});
  out["verdict"] = (v->blocked || v->denied_by_rule) ? proto::kVerdictDeny : proto::kVerdictAllow;
  co_return Reply::success(std::move(out));
}

Answer verify(Request& r) {
  std::string code = take(r.params, "code");
  json::object out;
  // An unknown name goes through the engine too (it never has a challenge),
  // so that it is answered as late as a known one.
  const bool found = r.target.lookup.found();
  const auto& id = r.target.lookup.id;
  VerifyRequest req{found ? account_key(id.uid) : unknown_name_key(r.sv.name_key, r.target.given_name),
                    found ? int64_t(id.uid) : int64_t(-1), found ? id.name : std::string(),
                    param(r.params, "nonce"), std::move(code), r.peer.root(), flag(r.params, "no_prompt")};
  auto start = [&](auto deliver) { r.sv.engine->verify(std::move(req), std::move(deliver)); };
  VerifyResult res = co_await await_callback<VerifyResult>(start);
  if (!res.status) co_return unavailable("the decision could not be recorded");
  out["verdict"] = res.allow ? proto::kVerdictAllow : proto::kVerdictDeny;
  if (res.allow && res.in_grace) out["warning"] = grace_warning(res.grace_ends);
  co_return Reply::success(std::move(out));
}

Answer session_open(Request& r) {
  // Only a new login session names a device: a setuid caller's (su, sudo
  // run by a user) or one with PAM_RUSER (su, sudo) is another login's.
  const bool nested = flag(r.params, "setuid") || !param(r.params, "ruser").empty();
  if (r.target.lookup.found() && !nested)
    r.sv.engine->session_open(audit_session(r.params), r.target.lookup.id.uid,
                              login_device(*r.sv.config, r.params));
  co_return Reply::success({});
}

// The module's password phase, placed after the password module: reached
// only when that module changed the password. Ends the password change a
// recovery required.
Answer password_changed(Request& r) {
  if (!r.target.lookup.found()) co_return not_found("no such user");
  Reply reply = co_await password_changed_reply(r.sv, r.target.lookup.id,
                                                "PAM password change (" + param(r.params, "service") + ")");
  co_return reply;
}

Answer ping(Request&) {
  json::object out;
  out["version"] = VIGIL_VERSION;
  co_return Reply::success(std::move(out));
}

}  // namespace vigil::methods
