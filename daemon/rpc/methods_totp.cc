// The second factor of one's own account (root: of anyone's): enrolment,
// confirmation, removal, recovery codes.
#include "daemon/core/log.h"
#include "daemon/core/secrets.h"
#include "daemon/os/offload.h"
#include "daemon/os/pam_check.h"
#include "daemon/rpc/handlers.h"

namespace vigil::methods {
namespace json = boost::json;

namespace {

Answer run_totp(Request& r, TotpOp op, bool password_proven = false) {
  std::string code = take(r.params, "code");
  if (!r.target.lookup.found()) {
    wipe(code);
    co_return not_found("no such user");
  }
  const auto& id = r.target.lookup.id;
  TotpRequest req{op, id.uid, id.name, r.peer.root(), std::move(code), password_proven};
  auto start = [&](auto deliver) { r.sv.engine->totp(std::move(req), std::move(deliver)); };
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

// A wrong password given for self-enrolment counts toward the user's own
// lock, as a failure their own process reports.
boost::asio::awaitable<std::optional<Reply>> count_wrong_password(Services& sv, const Identity& id) {
  ReportRequest req;
  req.key = account_key(id.uid);
  req.uid = id.uid;
  req.name = id.name;
  req.outcome = Outcome::kFailure;
  auto start = [&](auto deliver) { sv.engine->report(std::move(req), std::move(deliver)); };
  ReportResult res = co_await await_callback<ReportResult>(start);
  if (!res.status) co_return unavailable("the failure could not be recorded");
  co_return refused("wrong password");
}

// The user's own password, checked through PAM off the I/O thread. A locked
// account is refused before PAM is asked, so the check never tells a right
// password from a wrong one while locked. nullopt: the password is right.
boost::asio::awaitable<std::optional<Reply>> prove_password(Services& sv, const Identity& id,
                                                            std::string password) {
  struct Wipe {
    std::string& s;
    ~Wipe() { wipe(s); }
  } wipe_password{password};
  if (password.empty())
    co_return refused("self-enrolment needs your password: vigilctl asks for it (or "
                      "VIGIL_PASSWORD), or an administrator enrols you");
  auto view = co_await account_view(sv, id);
  if (!view) co_return unavailable("state unavailable");
  if (view->bucket && view->bucket->state.locked_at(wall_now()))
    co_return refused("the account is locked; try again after the lock ends, or ask an administrator");
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
    log::error("cannot check a password for self-enrolment through PAM service \"" + service +
                   "\": " + checked.detail,
               {{"VIGIL_USER", id.name}});
    co_return unavailable("the password could not be checked (PAM service \"" + service + "\")");
  }
  co_return co_await count_wrong_password(sv, id);
}

}  // namespace

std::optional<Reply> validate_totp(const Params& p) {
  if (auto r = only_keys(p, {"user", "code"})) return r;
  return check_strings(p, {"code"}, 64);
}

std::optional<Reply> validate_enroll(const Params& p) {
  if (auto r = only_keys(p, {"user", "code", "password"})) return r;
  if (auto r = check_strings(p, {"code"}, 64)) return r;
  return check_strings(p, {"password"}, 512);
}

Answer totp_enroll(Request& r) {
  // root enrols anyone; a user enrols only with the account's password.
  if (r.peer.root() || !r.target.lookup.found()) co_return co_await run_totp(r, TotpOp::kEnroll);
  auto given = proto::get_optional_string(r.params, "password");
  std::string password;  // moved out of `given`, so that no copy is left unwiped
  if (given && *given && (*given)->size() <= 512) password = std::move(**given);
  if (given && *given) wipe(**given);
  auto refusal = co_await prove_password(r.sv, r.target.lookup.id, std::move(password));
  if (refusal) co_return std::move(*refusal);
  co_return co_await run_totp(r, TotpOp::kEnroll, true);
}

Answer totp_confirm(Request& r) { co_return co_await run_totp(r, TotpOp::kConfirm); }
Answer totp_disable(Request& r) { co_return co_await run_totp(r, TotpOp::kDisable); }
Answer totp_recovery_codes(Request& r) { co_return co_await run_totp(r, TotpOp::kRecoveryCodes); }

}  // namespace vigil::methods
