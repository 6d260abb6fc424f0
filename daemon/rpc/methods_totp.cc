// The second factor of one's own account (root: of anyone's): enrolment,
// confirmation, removal, recovery codes.
#include "daemon/core/log.h"
#include "daemon/core/secrets.h"
#include "daemon/core/totp.h"
#include "daemon/os/offload.h"
#include "daemon/os/pam_check.h"
#include "daemon/rpc/handlers.h"
#include "protocol/api_self.h"

namespace vigil::methods {
namespace api = proto::api;

namespace {

// Wipes a secret when its scope ends, whichever way it ends (co_return
// included).
struct WipeAtEnd {
  std::string& secret;
  ~WipeAtEnd() { wipe(secret); }
};

// A change's reply: the account, and what the change shows once (an
// enrolment's secret, new recovery codes), wiped here once encoded. The
// server wipes the reply's own copy (the row's secret fields).
Reply totp_reply(TotpOp op, const std::string& user, TotpResult& res) {
  Reply reply;
  switch (op) {
    case TotpOp::kEnroll: {
      api::TotpEnrollReply out{user, std::move(res.secret_b32), std::move(res.uri)};
      reply = Reply::success(out.to_json());
      wipe(out.secret);
      wipe(out.uri);
      break;
    }
    case TotpOp::kRecoveryCodes: {
      api::TotpRecoveryCodesReply out{user, std::move(res.codes)};
      reply = Reply::success(out.to_json());
      for (auto& c : out.codes) wipe(c);
      break;
    }
    case TotpOp::kConfirm: reply = Reply::success(api::TotpConfirmReply{user}.to_json()); break;
    case TotpOp::kDisable: reply = Reply::success(api::TotpDisableReply{user}.to_json()); break;
  }
  wipe(res.secret_b32);  // moved from: a short string keeps its characters
  wipe(res.uri);
  for (auto& c : res.codes) wipe(c);
  return reply;
}

// Fleet mode: a fleet account's factor lives in the database, whose rules
// decide who may change it (vigil.totp_enroll: the account itself with its
// password checked here, and its current code when it has a factor; another
// administrator with their code; the fleet's owner). A host's root is not
// trusted with other hosts' accounts.
Answer fleet_totp(Request& r, TotpOp op, std::string account, std::string& code) {
  const auto& id = r.target.lookup.id;
  Services& sv = r.sv;
  if (r.peer.root())
    co_return refused(id.name + " is a fleet account: its second factor is enrolled by the account itself, "
                      "another administrator, or the fleet's owner (vigild(8), FLEET)");
  const auto refusal = [](const Error& e) {
    return e.code == Error::Code::kRefused ? refused(e.message)
                                           : unavailable("the fleet database is unreachable: " + e.message);
  };
  TotpResult res;
  switch (op) {
    case TotpOp::kEnroll: {
      auto start = [&](auto deliver) { sv.fleet->totp_enroll(account, account, std::move(code), std::move(deliver)); };
      auto secret = co_await await_callback<Result<std::optional<std::string>>>(start);
      if (!secret) co_return refusal(secret.error());
      if (!*secret) co_return refused("wrong code: replacing a factor needs its current code");
      res.secret_b32 = std::move(**secret);
      wipe(**secret);
      res.uri = totp::otpauth_uri(sv.config->totp.issuer, id.name, res.secret_b32);
      break;
    }
    case TotpOp::kConfirm: {
      auto start = [&](auto deliver) { sv.fleet->totp_confirm(account, std::move(code), std::move(deliver)); };
      auto ok = co_await await_callback<Result<bool>>(start);
      if (!ok) co_return refusal(ok.error());
      if (!*ok) co_return refused("wrong code, or no enrolment waiting (it lasts 15 minutes)");
      log::event(log::Priority::kNotice, log::kMsgTotpConfirmed, "second factor confirmed for " + id.name + " (fleet)",
                 {{"VIGIL_USER", id.name}});
      break;
    }
    case TotpOp::kRecoveryCodes: {
      auto start = [&](auto deliver) {
        sv.fleet->recovery_codes(account, account, std::move(code), std::move(deliver));
      };
      auto codes = co_await await_callback<Result<std::vector<std::string>>>(start);
      if (!codes) co_return refusal(codes.error());
      if (codes->empty()) co_return refused("wrong code: new recovery codes need a current code");
      res.codes = std::move(*codes);
      break;
    }
    case TotpOp::kDisable:
      co_return refused("fleet mode cannot remove a factor yet: an administrator replaces it (vigilctl totp enroll)");
  }
  co_return totp_reply(op, id.name, res);
}

// The change, made by the engine, which wipes its own copy of the code.
// `code` is the caller's, which wipes it (what the move leaves too).
Answer run_totp(Request& r, TotpOp op, std::string& code, bool password_proven = false) {
  if (!r.target.lookup.found()) co_return not_found("no such user");
  const auto& id = r.target.lookup.id;
  if (auto account = r.sv.fleet ? r.sv.fleet->account_of(id.uid, id.name) : std::nullopt) {
    auto changing = fleet_totp(r, op, std::move(*account), code);  // named: GCC 12
    Reply reply = co_await std::move(changing);
    co_return reply;
  }
  TotpRequest req{op, id.uid, id.name, r.peer.root(), std::move(code), password_proven};
  WipeAtEnd wipe_moved{req.code};
  auto start = [&](auto deliver) { r.sv.engine->totp(std::move(req), std::move(deliver)); };
  TotpResult res = co_await await_callback<TotpResult>(start);
  if (!res.status) co_return error_reply(res.status.error(), "the change could not be recorded");
  co_return totp_reply(op, id.name, res);
}

// Confirm, disable, new recovery codes: the request decoded (its row's
// validator accepted it), its code handed on and wiped.
template <class T>
Answer run_code_change(Request& r, TotpOp op) {
  auto in = T::from_json(r.params);
  if (!in) co_return invalid(in.error().message);
  WipeAtEnd wipe_code{in->code};
  co_return co_await run_totp(r, op, in->code);
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
// The caller holds the password, and wipes it.
boost::asio::awaitable<std::optional<Reply>> prove_password(Services& sv, const Identity& id,
                                                            const std::string& password) {
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

// Each validator decodes its request (api_self.h: unknown keys, then types
// and bounds) and wipes the secrets it copied.
// Totp.Confirm's; Totp.Disable and Totp.RecoveryCodes have the same members
// (user, code) and share this row validator.
std::optional<Reply> validate_totp(const Params& p) {
  auto req = api::TotpConfirm::from_json(p);
  if (!req) return invalid(req.error().message);
  wipe(req->code);
  return std::nullopt;
}

std::optional<Reply> validate_enroll(const Params& p) {
  auto req = api::TotpEnroll::from_json(p);
  if (!req) return invalid(req.error().message);
  wipe(req->code);
  wipe(req->password);
  return std::nullopt;
}

Answer totp_enroll(Request& r) {
  auto in = api::TotpEnroll::from_json(r.params);
  if (!in) co_return invalid(in.error().message);
  WipeAtEnd wipe_code{in->code};
  WipeAtEnd wipe_password{in->password};
  // root enrols anyone; a user enrols only with the account's password.
  if (r.peer.root() || !r.target.lookup.found()) co_return co_await run_totp(r, TotpOp::kEnroll, in->code);
  auto refusal = co_await prove_password(r.sv, r.target.lookup.id, in->password);
  if (refusal) co_return std::move(*refusal);
  co_return co_await run_totp(r, TotpOp::kEnroll, in->code, true);
}

Answer totp_confirm(Request& r) { co_return co_await run_code_change<api::TotpConfirm>(r, TotpOp::kConfirm); }
Answer totp_disable(Request& r) { co_return co_await run_code_change<api::TotpDisable>(r, TotpOp::kDisable); }
Answer totp_recovery_codes(Request& r) {
  co_return co_await run_code_change<api::TotpRecoveryCodes>(r, TotpOp::kRecoveryCodes);
}

}  // namespace vigil::methods
