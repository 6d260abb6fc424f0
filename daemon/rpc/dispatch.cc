#include "daemon/rpc/dispatch.h"

#include <sodium.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>

#include "daemon/rpc/admin.h"
#include "daemon/core/device.h"
#include "daemon/core/log.h"
#include "daemon/os/offload.h"
#include "daemon/os/pam_check.h"
#include "daemon/core/secrets.h"
#include "daemon/core/tokens.h"
#include "protocol/login.h"
#include "protocol/names.h"
#include <boost/json/parse.hpp>
#include "vigil_build_config.h"

namespace vigil {
namespace json = boost::json;
using proto::Reply;

namespace {

enum class Who { kRoot, kSelf, kAnyone };

// What the dispatcher resolved for a kSelf method.
struct Target {
  Lookup lookup;             // kFound, or kNotFound (root callers only)
  std::string given_name;    // as sent; never logged when unresolved
};

using Handler = boost::asio::awaitable<Reply> (*)(Services&, const Peer&, const json::object&,
                                                   const Target&);
using Validator = std::optional<Reply> (*)(const json::object&);

// Which account a method acts on.
enum class Subject {
  kNone,        // no account
  kUser,        // the "user" parameter, required
  kUserOrSelf,  // the "user" parameter, or the caller's own account
  kAnyName,     // the "user" parameter as typed at a login prompt: a name that
                // is malformed (control characters, over 256 bytes) is not an
                // error but an unknown name, so that its failure still counts
};

struct Method {
  std::string_view name;
  Who who;
  Subject subject;
  Validator validate;
  Handler handle;
  SecretFields secrets = {};
};

Reply invalid(std::string msg) { return Reply::failure(proto::kErrInvalidParameter, std::move(msg)); }
Reply unavailable(std::string msg) { return Reply::failure(proto::kErrUnavailable, std::move(msg)); }

// Optional short string fields: type and size.
std::optional<Reply> check_strings(const json::object& p,
                                   std::initializer_list<std::string_view> keys,
                                   std::size_t max_len = 256) {
  for (auto k : keys) {
    auto v = proto::get_optional_string(p, k);
    if (!v) return invalid(v.error().message);
    if (*v && (*v)->size() > max_len)
      return invalid("parameter \"" + std::string(k) + "\" is too long");
  }
  return std::nullopt;
}

std::optional<Reply> only_keys(const json::object& p, std::initializer_list<std::string_view> keys) {
  for (const auto& kv : p) {
    if (std::find(keys.begin(), keys.end(), std::string_view(kv.key())) == keys.end())
      return invalid("unknown parameter \"" + std::string(kv.key()) + "\"");
  }
  return std::nullopt;
}

// An optional string parameter, at most 256 bytes.
std::string opt(const json::object& p, std::string_view k) {
  auto v = proto::get_optional_string(p, k);
  std::string s = v && *v ? **v : std::string();
  if (s.size() > 256) s.resize(256);
  return s;
}

bool flag(const json::object& p, std::string_view k) {
  auto it = p.find(k);
  return it != p.end() && it->value().is_bool() && it->value().as_bool();
}

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

TimePoint wall_now() { return SystemClock().now(); }

bool totp_required(const Config& cfg, const Identity& id) {
  switch (cfg.totp.require) {
    case TotpRequire::kNone: return false;
    case TotpRequire::kAll: return true;
    case TotpRequire::kAdmins: return is_admin(cfg, id);
  }
  return true;
}

std::string grace_warning(TimePoint ends) {
  return "A second factor will be required for this account from " + std::to_string(to_epoch(ends)) +
         " (epoch). Enrol now: vigilctl totp enroll";
}

// The device of a login (device.h), from the report's parameters. A
// terminal name never identifies a device for a remote service (one with an
// rhost, or in [devices] remote_services): every user shares it, and pts
// numbers are reused.
std::string login_device(const Config& cfg, const json::object& p) {
  auto info = proto::get_optional_string(p, "auth_info");
  std::optional<std::string> fp;
  if (info && *info && (*info)->size() <= 16384) fp = device::ssh_fingerprint(**info);
  const std::string service = opt(p, "service"), rhost = opt(p, "rhost");
  std::string id = device::device_id(service, rhost, opt(p, "tty"), fp);
  const auto& remote = cfg.devices.remote_services;
  const bool is_remote = !rhost.empty() || std::find(remote.begin(), remote.end(), service) != remote.end();
  if (is_remote && device::strength(id) < device::Strength::kAddress) id.clear();
  return id;
}

// The audit session id in a request; 0 when absent or unset.
uint32_t audit_session(const json::object& p) {
  auto it = p.find("audit_session");
  if (it == p.end() || !it->value().is_int64()) return 0;
  int64_t v = it->value().as_int64();
  return v > 0 && v < 4294967295LL ? static_cast<uint32_t>(v) : 0;
}

// A code parameter: short, and wiped by whoever takes it.
std::string take_code(const json::object& p) {
  auto v = proto::get_optional_string(p, "code");
  if (!v || !*v || (*v)->size() > 64) return {};
  return std::move(**v);
}

// ---- validators ----

// A failure report is never lost to its metadata: over-long optional strings
// are truncated by the handler, not refused. Types are still checked.
std::optional<Reply> validate_report(const json::object& p) {
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

std::optional<Reply> validate_account(const json::object& p) {
  if (auto r = only_keys(p, {"user", "service", "rhost", "tty", "ruser", "setuid", "auth_info",
                             "audit_session"}))
    return r;
  return check_strings(p, {"service", "rhost", "tty", "ruser"}, SIZE_MAX);
}

std::optional<Reply> validate_user_only(const json::object& p) { return only_keys(p, {"user"}); }
std::optional<Reply> validate_empty(const json::object& p) { return only_keys(p, {}); }

// ---- handlers ----

boost::asio::awaitable<Reply> handle_report(Services& sv, const Peer& peer, const json::object& p,
                                            const Target& target) {
  const auto& cfg = *sv.config;
  // Only root callers (sshd, login, sudo, su) vouch for where a login comes
  // from. A local user's own process may report only for itself, and what it
  // says about the source, service, terminal or key is not taken into any
  // decision: its reports count toward its own lock and nothing else (no
  // source bucket, no device, no block).
  const bool trusted = peer.root();
  const std::string rhost = trusted ? opt(p, "rhost") : std::string();
  const std::string tty = trusted ? opt(p, "tty") : std::string();
  ReportRequest req;
  req.outcome = opt(p, "outcome") == proto::kOutcomeSuccess ? Outcome::kSuccess : Outcome::kFailure;
  req.nonce = opt(p, "nonce");
  req.root_caller = peer.root();
  // The source counts for every attempt, unknown user names included.
  req.source = device::source_key(device::parse_source(rhost));
  req.rhost = rhost;
  if (target.lookup.found()) {
    const auto& id = target.lookup.id;
    req.key = account_key(id.uid);
    req.uid = id.uid;
    req.name = id.name;
    bool root_exempt = id.uid == 0 && !cfg.lockout.even_deny_root;
    // Only root callers (login, getty) can vouch for a console login, and
    // not a setuid one (su, sudo run by a local user on a console).
    bool console_exempt = cfg.lockout.console_exempt && peer.root() && !flag(p, "setuid") &&
                          proto::is_console_login(rhost, tty);
    req.exempt = root_exempt || console_exempt;
    req.console = console_exempt;
    req.totp_required = totp_required(cfg, id);
    req.admin = is_admin(cfg, id) || id.uid == 0;
    if (trusted) {
      req.device = login_device(cfg, p);
      req.audit_session = audit_session(p);
      req.service = opt(p, "service");
    }
    req.groups = id.groups;
    req.tty = tty;
  } else {
    req.key = unknown_name_key(sv.name_key, target.given_name);
  }
  auto start = [&](auto deliver) { sv.engine->report(std::move(req), std::move(deliver)); };
  ReportResult res = co_await await_callback<ReportResult>(start);
  if (!res.status) co_return unavailable("the decision could not be recorded");
  bool allow = res.decision.allow && target.lookup.found();
  bool verify = res.verify && target.lookup.found();
  json::object out;
  out["verdict"] = verify ? proto::kVerdictVerify : allow ? proto::kVerdictAllow : proto::kVerdictDeny;
  // Whether a code prompt follows depends on the account only, never on
  // the password: the module prompts on both paths.
  out["prompt"] = res.prompt;
  if (allow && res.in_grace) out["warning"] = grace_warning(res.grace_ends);
  co_return Reply::success(std::move(out));
}

boost::asio::awaitable<Reply> handle_account(Services& sv, const Peer& peer, const json::object& p,
                                             const Target& target) {
  // The account phase denies blocks (and deny rules) only, never a temporary
  // lock, so that password noise cannot cut off key logins.
  json::object out;
  if (!target.lookup.found()) {
    out["verdict"] = proto::kVerdictDeny;
    co_return Reply::success(std::move(out));
  }
  const bool console = sv.config->lockout.console_exempt && peer.root() && !flag(p, "setuid") &&
                       proto::is_console_login(opt(p, "rhost"), opt(p, "tty"));
  const auto& id = target.lookup.id;
  RuleInput in{id.name, id.groups, opt(p, "service"), device::parse_source(opt(p, "rhost")),
               opt(p, "tty"), false};
  std::string dev = login_device(*sv.config, p);
  const uint32_t sid = peer.root() ? audit_session(p) : 0;
  auto start = [&](auto deliver) {
    sv.engine->account(id.uid, std::move(dev), sid, std::move(in), console, std::move(deliver));
  };
  auto v = co_await await_callback<Result<AccountVerdict>>(start);
  if (!v) co_return unavailable("state unavailable");
  if (v->denied_by_rule)
    log::info("account phase: " + id.name + " denied by the rule at line " +
                  std::to_string(v->denied_by_rule),
              {{"VIGIL_USER", id.name}, {"VIGIL_SERVICE", opt(p, "service")}, {"VIGIL_REASON", "deny rule"}});
  out["verdict"] = (v->blocked || v->denied_by_rule) ? proto::kVerdictDeny : proto::kVerdictAllow;
  co_return Reply::success(std::move(out));
}

// An account's state as the engine holds it (read-only).
boost::asio::awaitable<Result<AccountView>> account_view(Services& sv, const Identity& id) {
  std::optional<int64_t> uid = id.uid;
  auto start = [&](auto deliver) { sv.engine->get(account_key(id.uid), uid, std::move(deliver)); };
  co_return co_await await_callback<Result<AccountView>>(start);
}

boost::asio::awaitable<Reply> handle_status_get(Services& sv, const Peer&, const json::object&,
                                                const Target& target) {
  if (!target.lookup.found()) co_return Reply::failure(proto::kErrNotFound, "no such user");
  co_return co_await status_reply(sv, target.lookup.id);
}

boost::asio::awaitable<Reply> handle_status_list(Services& sv, const Peer&, const json::object&,
                                                 const Target&) {
  co_return co_await status_list_reply(sv);
}

boost::asio::awaitable<Reply> handle_ping(Services&, const Peer&, const json::object&,
                                          const Target&) {
  json::object out;
  out["version"] = VIGIL_VERSION;
  co_return Reply::success(std::move(out));
}

std::optional<Reply> validate_verify(const json::object& p) {
  if (auto r = only_keys(p, {"user", "nonce", "code", "no_prompt"})) return r;
  if (auto r = check_strings(p, {"nonce"}, 128)) return r;
  if (auto r = check_strings(p, {"code"}, 64)) return r;
  if (auto it = p.find("no_prompt"); it != p.end() && !it->value().is_bool())
    return invalid("parameter \"no_prompt\" must be a boolean");
  return std::nullopt;
}

std::optional<Reply> validate_totp(const json::object& p) {
  if (auto r = only_keys(p, {"user", "code"})) return r;
  return check_strings(p, {"code"}, 64);
}

std::optional<Reply> validate_enroll(const json::object& p) {
  if (auto r = only_keys(p, {"user", "code", "password"})) return r;
  if (auto r = check_strings(p, {"code"}, 64)) return r;
  return check_strings(p, {"password"}, 512);
}

boost::asio::awaitable<Reply> handle_verify(Services& sv, const Peer& peer, const json::object& p,
                                            const Target& target) {
  std::string code = take_code(p);
  json::object out;
  // An unknown name goes through the engine too (it never has a challenge),
  // so that it is answered as late as a known one.
  const bool found = target.lookup.found();
  const auto& id = target.lookup.id;
  VerifyRequest req{found ? account_key(id.uid) : unknown_name_key(sv.name_key, target.given_name),
                    found ? int64_t(id.uid) : int64_t(-1), found ? id.name : std::string(),
                    opt(p, "nonce"), std::move(code), peer.root(), flag(p, "no_prompt")};
  auto start = [&](auto deliver) { sv.engine->verify(std::move(req), std::move(deliver)); };
  VerifyResult res = co_await await_callback<VerifyResult>(start);
  if (!res.status) co_return unavailable("the decision could not be recorded");
  out["verdict"] = res.allow ? proto::kVerdictAllow : proto::kVerdictDeny;
  if (res.allow && res.in_grace) out["warning"] = grace_warning(res.grace_ends);
  co_return Reply::success(std::move(out));
}

boost::asio::awaitable<Reply> run_totp(Services& sv, const Peer& peer, const json::object& p,
                                       const Target& target, TotpOp op, bool password_proven = false) {
  std::string code = take_code(p);
  if (!target.lookup.found()) {
    wipe(code);
    co_return Reply::failure(proto::kErrNotFound, "no such user");
  }
  const auto& id = target.lookup.id;
  TotpRequest req{op, id.uid, id.name, peer.root(), std::move(code), password_proven};
  auto start = [&](auto deliver) { sv.engine->totp(std::move(req), std::move(deliver)); };
  TotpResult res = co_await await_callback<TotpResult>(start);
  if (!res.status) co_return error_reply(res.status.error(), "the change could not be recorded");
  json::object out;
  out["user"] = id.name;
  if (!res.secret_b32.empty()) {
    out["secret"] = res.secret_b32;
    out["uri"] = res.uri;
    wipe(res.secret_b32);
    wipe(res.uri);
  }
  if (!res.codes.empty()) {
    json::array codes;
    for (auto& c : res.codes) {
      codes.push_back(json::string(c));
      wipe(c);
    }
    out["codes"] = std::move(codes);
  }
  co_return Reply::success(std::move(out));
}

// The user's own password, checked through PAM off the I/O thread. A wrong
// one counts toward the user's own lock (as a failure their own process
// reports); a locked account is refused before PAM is asked, so the check
// never tells a right password from a wrong one while locked.
boost::asio::awaitable<std::optional<Reply>> prove_password(Services& sv, const Identity& id,
                                                            std::string password) {
  struct Wipe {
    std::string& s;
    ~Wipe() { wipe(s); }
  } wipe_password{password};
  if (password.empty())
    co_return Reply::failure(proto::kErrPermissionDenied,
                             "self-enrolment needs your password: vigilctl asks for it (or "
                             "VIGIL_PASSWORD), or an administrator enrols you");
  auto view = co_await account_view(sv, id);
  if (!view) co_return unavailable("state unavailable");
  if (view->bucket && view->bucket->state.locked_at(wall_now()))
    co_return Reply::failure(proto::kErrPermissionDenied,
                             "the account is locked; try again after the lock ends, or ask an administrator");
  const std::string service = sv.config->totp.enroll_pam_service;
  auto work = [&service, &id, &password] {
    try {
      return check_password(service, id.name, password);
    } catch (const std::exception& e) {
      return PasswordCheck{PasswordCheck::Outcome::kError, std::string("internal error: ") + e.what()};
    }
  };
  PasswordCheck checked = co_await offload(*sv.tools, std::move(work));
  if (checked.outcome == PasswordCheck::Outcome::kRight) co_return std::nullopt;
  if (checked.outcome == PasswordCheck::Outcome::kError) {
    log::error("cannot check a password for self-enrolment through PAM service \"" + service + "\": " +
                   checked.detail,
               {{"VIGIL_USER", id.name}});
    co_return unavailable("the password could not be checked (PAM service \"" + service + "\")");
  }
  ReportRequest req;
  req.key = account_key(id.uid);
  req.uid = id.uid;
  req.name = id.name;
  req.outcome = Outcome::kFailure;
  auto start = [&](auto deliver) { sv.engine->report(std::move(req), std::move(deliver)); };
  ReportResult res = co_await await_callback<ReportResult>(start);
  if (!res.status) co_return unavailable("the failure could not be recorded");
  co_return Reply::failure(proto::kErrPermissionDenied, "wrong password");
}

boost::asio::awaitable<Reply> handle_enroll(Services& sv, const Peer& peer, const json::object& p,
                                            const Target& t) {
  // root enrols anyone; a user enrols only with the account's password.
  if (peer.root() || !t.lookup.found()) co_return co_await run_totp(sv, peer, p, t, TotpOp::kEnroll);
  auto given = proto::get_optional_string(p, "password");
  std::string password = given && *given && (*given)->size() <= 512 ? **given : std::string();
  auto refusal = co_await prove_password(sv, t.lookup.id, std::move(password));
  if (refusal) co_return std::move(*refusal);
  co_return co_await run_totp(sv, peer, p, t, TotpOp::kEnroll, true);
}
boost::asio::awaitable<Reply> handle_confirm(Services& sv, const Peer& peer, const json::object& p,
                                             const Target& t) {
  co_return co_await run_totp(sv, peer, p, t, TotpOp::kConfirm);
}
boost::asio::awaitable<Reply> handle_disable(Services& sv, const Peer& peer, const json::object& p,
                                             const Target& t) {
  co_return co_await run_totp(sv, peer, p, t, TotpOp::kDisable);
}
boost::asio::awaitable<Reply> handle_recovery_codes(Services& sv, const Peer& peer,
                                                    const json::object& p, const Target& t) {
  co_return co_await run_totp(sv, peer, p, t, TotpOp::kRecoveryCodes);
}

std::optional<Reply> validate_forget(const json::object& p) {
  if (auto r = only_keys(p, {"user", "device", "all"})) return r;
  if (auto r = check_strings(p, {"device"}, 512)) return r;
  bool all = flag(p, "all");
  auto dev = proto::get_optional_string(p, "device");
  if (all == (dev && *dev && !(*dev)->empty()))
    return invalid("give either a device or \"all\": true");
  return std::nullopt;
}

boost::asio::awaitable<Reply> handle_devices_list(Services& sv, const Peer&, const json::object&,
                                                  const Target& target) {
  if (!target.lookup.found()) co_return Reply::failure(proto::kErrNotFound, "no such user");
  const auto& id = target.lookup.id;
  auto view = co_await account_view(sv, id);
  if (!view) co_return unavailable("state unavailable");
  const auto horizon = wall_now() - std::chrono::days(sv.config->devices.trust_days);
  json::array list;
  for (const auto& d : view->devices) {
    json::object o;
    o["device"] = d.device;
    o["first_seen"] = to_epoch(d.first_seen);
    o["last_seen"] = to_epoch(d.last_seen);
    o["known"] = d.last_seen > horizon;
    list.push_back(std::move(o));
  }
  json::object out;
  out["user"] = id.name;
  out["trust_days"] = sv.config->devices.trust_days;
  out["devices"] = std::move(list);
  co_return Reply::success(std::move(out));
}

boost::asio::awaitable<Reply> handle_devices_forget(Services& sv, const Peer&, const json::object& p,
                                                    const Target& target) {
  if (!target.lookup.found()) co_return Reply::failure(proto::kErrNotFound, "no such user");
  const auto& id = target.lookup.id;
  std::string device = flag(p, "all") ? std::string() : opt(p, "device");
  auto start = [&](auto deliver) {
    sv.engine->forget_devices(id.uid, id.name, device, std::move(deliver));
  };
  auto n = co_await await_callback<Result<int64_t>>(start);
  if (!n) co_return unavailable("the change could not be recorded");
  if (*n == 0 && !device.empty())
    co_return Reply::failure(proto::kErrNotFound, id.name + " has no known device " + device);
  json::object out;
  out["user"] = id.name;
  out["forgotten"] = *n;
  co_return Reply::success(std::move(out));
}

std::optional<Reply> validate_request(const json::object& p) {
  if (auto r = only_keys(p, {"user", "reason"})) return r;
  auto reason = proto::get_string(p, "reason");
  if (!reason || reason->empty()) return invalid("a \"reason\" is required");
  if (reason->size() > 512) return invalid("the reason is too long (512 bytes at most)");
  if (!printable(*reason)) return invalid("the reason must not contain control characters");
  return std::nullopt;
}

boost::asio::awaitable<Reply> handle_recovery_request(Services& sv, const Peer& peer,
                                                      const json::object& p, const Target& target) {
  co_return co_await file_recovery_request(sv, peer, p, target.lookup);
}

std::optional<Reply> validate_token_check(const json::object& p) {
  if (auto r = only_keys(p, {"token", "scope"})) return r;
  auto tok = proto::get_string(p, "token");
  if (!tok) return invalid(tok.error().message);
  if (tok->size() > 256) return invalid("parameter \"token\" is too long");
  auto scope = proto::get_optional_string(p, "scope");
  if (!scope) return invalid(scope.error().message);
  if (*scope && !tokens::valid_scope(**scope)) return invalid("invalid scope");
  return std::nullopt;
}

boost::asio::awaitable<Reply> handle_token_check(Services& sv, const Peer&, const json::object& p,
                                                 const Target&) {
  auto tok = proto::get_string(p, "token");
  std::string token = tok ? std::move(*tok) : std::string();
  std::string scope = opt(p, "scope");
  // Named arguments: GCC 12 mishandles temporaries in co_await operands.
  Reply r = co_await token_check_reply(sv, std::move(token), std::move(scope));
  co_return r;
}

std::optional<Reply> validate_session(const json::object& p) {
  if (auto r = only_keys(p, {"user", "service", "rhost", "tty", "ruser", "setuid", "auth_info", "audit_session"}))
    return r;
  if (auto r = check_strings(p, {"service", "rhost", "tty", "ruser", "auth_info"}, SIZE_MAX)) return r;
  if (audit_session(p) == 0) return invalid("a valid \"audit_session\" is required");
  return std::nullopt;
}

boost::asio::awaitable<Reply> handle_session_open(Services& sv, const Peer&, const json::object& p,
                                                  const Target& target) {
  // Only a new login session names a device: a setuid caller's (su, sudo
  // run by a user) or one with PAM_RUSER (su, sudo) is another login's.
  const bool nested = flag(p, "setuid") || !opt(p, "ruser").empty();
  if (target.lookup.found() && !nested)
    sv.engine->session_open(audit_session(p), target.lookup.id.uid, login_device(*sv.config, p));
  co_return Reply::success({});
}

std::optional<Reply> validate_password_changed(const json::object& p) {
  if (auto r = only_keys(p, {"user", "service", "rhost", "tty", "ruser", "setuid", "audit_session"})) return r;
  return check_strings(p, {"service", "rhost", "tty", "ruser"}, SIZE_MAX);
}

// The module's password phase, placed after the password module: reached
// only when that module changed the password. Ends the password change a
// recovery required.
boost::asio::awaitable<Reply> handle_password_changed(Services& sv, const Peer&, const json::object& p,
                                                      const Target& target) {
  if (!target.lookup.found()) co_return Reply::failure(proto::kErrNotFound, "no such user");
  Reply r = co_await password_changed_reply(sv, target.lookup.id, "PAM password change (" + opt(p, "service") + ")");
  co_return r;
}

const Method kMethods[] = {
    {proto::kAuthReport, Who::kSelf, Subject::kAnyName, validate_report, handle_report},
    {proto::kAccountCheck, Who::kSelf, Subject::kUser, validate_account, handle_account},
    {proto::kStatusGet, Who::kSelf, Subject::kUserOrSelf, validate_user_only, handle_status_get},
    {proto::kStatusList, Who::kRoot, Subject::kNone, validate_empty, handle_status_list},
    {proto::kPing, Who::kAnyone, Subject::kNone, validate_empty, handle_ping},
    {proto::kAuthVerify, Who::kSelf, Subject::kAnyName, validate_verify, handle_verify,
     {{"code"}, {}}},
    {proto::kTotpEnroll, Who::kSelf, Subject::kUserOrSelf, validate_enroll, handle_enroll,
     {{"code", "password"}, {"secret", "uri"}}},
    {proto::kTotpConfirm, Who::kSelf, Subject::kUserOrSelf, validate_totp, handle_confirm,
     {{"code"}, {}}},
    {proto::kTotpDisable, Who::kSelf, Subject::kUserOrSelf, validate_totp, handle_disable,
     {{"code"}, {}}},
    {proto::kTotpRecoveryCodes, Who::kSelf, Subject::kUserOrSelf, validate_totp, handle_recovery_codes,
     {{"code"}, {"codes"}}},
    // Services check the tokens their clients present.
    {proto::kTokenCheck, Who::kAnyone, Subject::kNone, validate_token_check, handle_token_check,
     {{"token"}, {}}},
    // Any active user, for a blocked colleague (the rules are in recovery.h).
    {proto::kRecoveryRequest, Who::kAnyone, Subject::kUser, validate_request, handle_recovery_request},
    {proto::kSessionOpen, Who::kRoot, Subject::kUser, validate_session, handle_session_open},
    {proto::kPasswordChanged, Who::kRoot, Subject::kUser, validate_password_changed,
     handle_password_changed},
    {proto::kDevicesList, Who::kSelf, Subject::kUserOrSelf, validate_user_only, handle_devices_list},
    // Forgetting devices only makes logins stricter: a user may do it too.
    {proto::kDevicesForget, Who::kSelf, Subject::kUser, validate_forget, handle_devices_forget},
};

Reply denied(const Peer& peer, std::string_view method, std::string msg) {
  log::event(log::Priority::kWarning, log::kMsgPermissionDenied,
             "refused " + std::string(method) + " from uid " + std::to_string(peer.uid),
             {{"VIGIL_CALLER_UID", std::to_string(peer.uid)},
              {"VIGIL_METHOD", std::string(method)},
              {"VIGIL_REASON", msg}});
  return Reply::failure(proto::kErrPermissionDenied, std::move(msg));
}

boost::asio::awaitable<Reply> dispatch_inner(Services& sv, const Peer& peer,
                                             const proto::Call& call) {
  const Method* m = nullptr;
  for (const auto& candidate : kMethods)
    if (candidate.name == call.method) m = &candidate;
  if (!m) {
    log::debug("unknown method", {{"VIGIL_CALLER_UID", std::to_string(peer.uid)}});
    co_return Reply::failure(proto::kErrMethodNotFound, "unknown method");
  }
  if (m->who == Who::kRoot && !peer.root())
    co_return denied(peer, m->name, "only root may call this method");
  if (auto bad = m->validate(call.params)) co_return *bad;

  Target target;
  if (m->subject != Subject::kNone) {
    auto user = proto::get_optional_string(call.params, "user");
    if (!user) co_return invalid(user.error().message);
    if (!*user && m->subject != Subject::kUserOrSelf)
      co_return invalid("missing parameter \"user\"");
    if (*user) {
      target.given_name = **user;
      if (valid_user_name(**user)) {
        target.lookup = co_await sv.resolver->by_name(**user);
      } else if (m->subject == Subject::kAnyName) {
        target.lookup.status = Lookup::Status::kNotFound;
      } else {
        co_return invalid("invalid user name");
      }
    } else {
      target.lookup = co_await sv.resolver->by_uid(peer.uid);
    }
    if (target.lookup.status == Lookup::Status::kError) {
      log::warning("user lookup failed (NSS error); refusing " + std::string(m->name),
                   {{"VIGIL_CALLER_UID", std::to_string(peer.uid)}});
      co_return unavailable("user lookup failed");  // strictest reading
    }
    if (m->who == Who::kSelf && !peer.root() &&
        (!target.lookup.found() || target.lookup.id.uid != peer.uid))
      co_return denied(peer, m->name, "you may only act for your own account");
    if (!target.lookup.found() && !user->has_value())
      co_return Reply::failure(proto::kErrNotFound, "no such user");
  }
  co_return co_await m->handle(sv, peer, call.params, target);
}

}  // namespace

Reply error_reply(const Error& e, std::string when_unavailable) {
  if (e.is_refused()) return Reply::failure(proto::kErrPermissionDenied, e.message);
  if (e.is_not_found()) return Reply::failure(proto::kErrNotFound, e.message);
  return unavailable(std::move(when_unavailable));
}

bool is_admin(const Config& cfg, const Identity& id) {
  for (const auto& g : id.groups)
    for (const auto& a : cfg.roles.admin_groups)
      if (g == a) return true;
  return false;
}

boost::asio::awaitable<Reply> password_changed_reply(Services& sv, const Identity& id, std::string by) {
  auto start = [&](auto deliver) {
    sv.engine->password_changed(id.uid, id.name, std::move(by), std::move(deliver));
  };
  auto res = co_await await_callback<PasswordChangedResult>(start);
  if (!res.status) co_return unavailable("the change could not be recorded");
  json::object out;
  out["user"] = id.name;
  out["changed"] = res.changed;
  co_return Reply::success(std::move(out));
}

boost::asio::awaitable<Reply> status_reply(Services& sv, const Identity& id) {
  auto view = co_await account_view(sv, id);
  if (!view) co_return unavailable("state unavailable");
  LockState s = view->bucket ? view->bucket->state : LockState{};
  json::object out = state_json(s, wall_now());
  out["user"] = id.name;
  out["uid"] = static_cast<int64_t>(id.uid);
  out["admin"] = is_admin(*sv.config, id);
  // Each known device has a bucket: the summary, then the locked ones.
  const auto now = wall_now();
  LockState ks;
  json::array locked_devices;
  const std::string prefix = account_key(id.uid) + ":dev:";
  for (const auto& k : view->known_buckets) {
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
  out["known_devices"] = std::move(kj);
  out["password_change_required"] = view->password_change.has_value();
  if (view->password_change) {
    json::object pc;
    pc["since"] = to_epoch(view->password_change->since);
    pc["by"] = view->password_change->by;
    out["password_change"] = std::move(pc);
  }
  out["blocked"] = view->block.has_value();
  if (view->block) {
    json::object b;
    b["reason"] = view->block->reason;
    b["since"] = to_epoch(view->block->since);
    b["by"] = view->block->by;
    boost::system::error_code ec;
    auto details = json::parse(view->block->details, ec);
    if (!ec) b["details"] = std::move(details);
    out["block"] = std::move(b);
  }
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

boost::asio::awaitable<Reply> status_list_reply(Services& sv) {
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

std::string account_key(uid_t uid) { return "uid:" + std::to_string(uid); }

std::string unknown_name_key(const std::array<uint8_t, 32>& key, std::string_view name) {
  unsigned char h[16];
  crypto_generichash(h, sizeof(h), reinterpret_cast<const unsigned char*>(name.data()), name.size(),
                     key.data(), key.size());
  char hex[sizeof(h) * 2 + 1];
  sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
  return std::string("name:") + hex;
}

boost::asio::awaitable<Reply> token_check_reply(Services& sv, std::string token, std::string scope) {
  auto check = check_token(sv, std::move(token), std::move(scope));
  TokenCheckResult r = co_await std::move(check);
  json::object out;
  out["verdict"] = tokens::verdict_name(r.verdict);
  if (r.verdict == tokens::Verdict::kValid) {
    out["owner"] = r.owner;
    json::array scopes;
    for (const auto& s : r.scopes) scopes.push_back(json::string(s));
    out["scopes"] = std::move(scopes);
  }
  co_return Reply::success(std::move(out));
}

boost::asio::awaitable<TokenCheckResult> check_token(Services& sv, std::string token, std::string scope) {
  // Hashed here, on the I/O thread; the token itself goes no further.
  Bytes hash = tokens::hash_token(token);
  wipe(token);
  auto start = [&](auto deliver) { sv.engine->token_check(std::move(hash), std::move(scope), std::move(deliver)); };
  co_return co_await await_callback<TokenCheckResult>(start);
}

bool printable(std::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    const auto u = static_cast<unsigned char>(text[i]);
    if (u < 0x20 || u == 0x7f) return false;
    const auto next = [&](size_t k) { return i + k < text.size() ? static_cast<unsigned char>(text[i + k]) : 0; };
    // C1 controls (U+0080-U+009F: a CSI can drive a terminal) and the
    // bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069).
    if (u == 0xc2 && next(1) >= 0x80 && next(1) <= 0x9f) return false;
    if (u == 0xe2 && next(1) == 0x80 && next(2) >= 0xaa && next(2) <= 0xae) return false;
    if (u == 0xe2 && next(1) == 0x81 && next(2) >= 0xa6 && next(2) <= 0xa9) return false;
  }
  return true;
}

bool valid_user_name(std::string_view name) {
  if (name.empty() || name.size() > 256) return false;
  return std::none_of(name.begin(), name.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

const SecretFields& secret_fields(bool admin_socket, std::string_view method) {
  if (admin_socket) return admin_secret_fields(method);
  for (const auto& m : kMethods)
    if (m.name == method) return m.secrets;
  // An unknown method: whatever a confused client sent, the usual names.
  static const SecretFields kUnknown{{"code", "password", "token"}, {}};
  return kUnknown;
}

void wipe_fields(json::object& o, const std::array<std::string_view, 3>& names) {
  auto wipe_string = [](json::value& v) {
    if (!v.is_string()) return;
    auto& s = v.as_string();
    explicit_bzero(s.data(), s.size());
  };
  for (auto name : names) {
    if (name.empty()) continue;
    auto it = o.find(name);
    if (it == o.end()) continue;
    wipe_string(it->value());
    if (it->value().is_array())
      for (auto& el : it->value().as_array()) wipe_string(el);
  }
}

boost::asio::awaitable<Reply> dispatch(Services& sv, const Peer& peer, const proto::Call& call) {
  try {
    if (peer.admin_socket) co_return co_await dispatch_admin(sv, peer, call);
    co_return co_await dispatch_inner(sv, peer, call);
  } catch (const std::exception& e) {
    log::error(std::string("internal error in a request: ") + e.what());
  }
  co_return Reply::failure(proto::kErrInternal, "internal error");
}

}  // namespace vigil
