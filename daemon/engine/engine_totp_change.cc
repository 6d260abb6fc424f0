// The engine's changes of an account's second factor, in stages: the
// account (a key, not blocked, not locked for its user), then the
// operation's own stage (enrol, confirm, disable, new recovery codes), then
// one commit. Each stage either answers (and the change stops there) or
// passes it on. See engine.h.
#include <algorithm>

#include "daemon/core/log.h"
#include "daemon/core/totp.h"
#include "daemon/engine/engine.h"
#include "daemon/engine/engine_txn.h"

namespace vigil {

// One change on its way through the stages.
struct Engine::FactorChange {
  Txn& t;
  TotpRequest req;
  std::function<void(TotpResult)> done;
  TotpResult r{};
  Entry* acct = nullptr;        // the account's bucket ("uid:N")
  bool proof_failed = false;    // a wrong proof was counted: a refusal waits for the commit
  std::string event{};          // what the log says of the change
  const char* msg_id = nullptr;

  TotpRecord& factor() { return acct->totp; }
};

void Engine::totp(TotpRequest req, std::function<void(TotpResult)> done) {
  submit([this, req = std::move(req), done = std::move(done)](Txn& t) mutable {
    in_batch();
    FactorChange c{t, std::move(req), std::move(done)};
    if (totp_account(c) || totp_operation(c)) return;
    totp_commit(c);
  });
}

bool Engine::totp_error(FactorChange& c, const Error& e) {
  wipe(c.req.code);
  c.r.status = e;
  c.done(std::move(c.r));
  return true;
}

bool Engine::totp_refuse(FactorChange& c, std::string why) {
  if (!c.proof_failed) return totp_error(c, Error::Refused(std::move(why)));
  // A counted wrong proof must be durable before the refusal.
  wipe(c.req.code);
  c.t.after_commit.push_back([done = std::move(c.done), r = std::move(c.r),
                              why = std::move(why)](const Status& st) mutable {
    r.status = st ? Status(Error::Refused(std::move(why))) : st;
    done(std::move(r));
  });
  return true;
}

// The account. The factor of a blocked account is frozen: nobody changes it,
// not even root, so that nobody can re-enrol it and then "verify" with the
// new one. While the account is locked its factor cannot be changed by the
// user.
bool Engine::totp_account(FactorChange& c) {
  if (key_ == nullptr) return totp_error(c, Error::Secrets("no key for TOTP secrets"));
  auto e = entry("uid:" + std::to_string(c.req.uid));
  if (!e) return totp_error(c, e.error());
  c.acct = *e;
  if (auto st = load_totp(c.acct, c.req.uid); !st) return totp_error(c, st.error());
  BucketRecord& rec = c.acct->record;
  if (!rec.uid) {
    rec.uid = c.req.uid;
    rec.name = c.req.name;
  }
  if (auto st = load_block(c.acct, c.req.uid); !st) return totp_error(c, st.error());
  if (c.acct->block) return totp_refuse(c, "the account is blocked: its second factor is frozen until recovery");
  if (!c.req.root_caller && rec.state.locked_at(c.t.now))
    return totp_refuse(c, "the account is locked; try again after the lock ends, or ask an administrator");
  return false;
}

bool Engine::totp_operation(FactorChange& c) {
  switch (c.req.op) {
    case TotpOp::kEnroll: return totp_enroll(c);
    case TotpOp::kConfirm: return totp_confirm(c);
    case TotpOp::kDisable: return totp_disable(c);
    case TotpOp::kRecoveryCodes: return totp_recovery_codes(c);
  }
  return false;
}

// Wrong proofs count like wrong codes at a login: guesses stay limited.
bool Engine::totp_proves_factor(FactorChange& c) {
  if (c.req.root_caller) return true;
  if (c.req.code.empty()) return false;
  bool recovery = false;
  if (check_code(c.t, c.acct, c.req.code, &recovery) == CodeCheck::kOk) return true;
  bool locked = false;
  count_wrong_code(c.t, c.acct, c.acct, true, "wrong code for a second-factor change", &locked);
  c.proof_failed = true;
  return false;
}

// A pending secret, shown once. The user enrols with a fresh proof of the
// account's password (checked through PAM by the caller, dispatch.cc), never
// on the strength of a session: malware in the session has that.
bool Engine::totp_enroll(FactorChange& c) {
  TotpRecord& tr = c.factor();
  if (!c.req.root_caller && !c.req.password_proven)
    return totp_refuse(c, "self-enrolment needs your password (vigilctl asks for it), or an "
                          "administrator");
  if (tr.active() && !totp_proves_factor(c))
    return totp_refuse(c, "a second factor is already active: re-enrolling needs a current "
                          "code or a recovery code (VIGIL_CODE)");
  Bytes secret = totp::new_secret();
  tr.pending_box = key_->seal(secret);
  tr.pending_at = c.t.now;
  c.r.secret_b32 = totp::base32(secret);
  c.r.uri = totp::otpauth_uri(c.t.totp.issuer, c.req.name, c.r.secret_b32);
  wipe(secret);
  c.event = "pending second factor created for " + c.req.name;
  c.msg_id = log::kMsgTotpEnrolled;
  return false;
}

// The pending secret becomes the active one, on a code of it.
bool Engine::totp_confirm(FactorChange& c) {
  TotpRecord& tr = c.factor();
  if (tr.pending_box.empty()) return totp_refuse(c, "no enrolment is waiting: run vigilctl totp enroll first");
  auto secret = key_->open(tr.pending_box);
  if (!secret) return totp_error(c, secret.error());
  auto step = totp::match(*secret, c.req.code, c.t.now, c.t.totp.window);
  wipe(*secret);
  wipe(c.req.code);
  if (!step)
    return totp_refuse(c, "the code does not match the new secret (check the clock and try the next code)");
  if (!tr.active()) ++active_factors_;  // the host now asks every login for a code
  tr.active_box = std::move(tr.pending_box);
  tr.pending_box.clear();
  tr.pending_at = TimePoint{};
  tr.last_step = std::max(tr.last_step, *step);
  tr.confirmed_at = c.t.now;
  tr.otp_failures.clear();
  tr.required_since = TimePoint{};
  // Recovery codes of an earlier factor are void with the new one.
  ops_.push_back([uid = c.req.uid](Store& s) { return s.replace_recovery_codes(uid, {}); });
  c.event = "second factor active for " + c.req.name;
  c.msg_id = log::kMsgTotpConfirmed;
  return false;
}

bool Engine::totp_disable(FactorChange& c) {
  TotpRecord& tr = c.factor();
  if (!tr.active() && tr.pending_box.empty()) return totp_refuse(c, c.req.name + " has no second factor");
  if (tr.active() && !totp_proves_factor(c))
    return totp_refuse(c, "disabling the second factor needs a current code or a recovery code (VIGIL_CODE)");
  int64_t uid = c.req.uid;
  TimePoint required_since = tr.required_since;  // no fresh grace by disabling
  int64_t last_step = tr.last_step;
  if (tr.active() && active_factors_ > 0) --active_factors_;
  tr = TotpRecord{};
  tr.uid = uid;
  tr.required_since = required_since;
  tr.last_step = last_step;
  ops_.push_back([uid](Store& s) { return s.replace_recovery_codes(uid, {}); });
  c.event = "second factor removed for " + c.req.name;
  c.msg_id = log::kMsgTotpDisabled;
  return false;
}

// New recovery codes, shown once; the old ones are void.
bool Engine::totp_recovery_codes(FactorChange& c) {
  if (!c.factor().active()) return totp_refuse(c, c.req.name + " has no active second factor: enrol first");
  if (!totp_proves_factor(c)) return totp_refuse(c, "new recovery codes need a current code (VIGIL_CODE)");
  std::vector<std::pair<std::string, Bytes>> rows;
  c.r.codes = totp::new_recovery_codes(totp::kRecoveryCodes);
  for (const auto& code : c.r.codes) {
    auto parsed = totp::parse_recovery_code(code);
    rows.emplace_back(parsed->id, key_->code_hash(parsed->text));
    wipe(parsed->text);
  }
  ops_.push_back([uid = c.req.uid, rows = std::move(rows)](Store& s) {
    return s.replace_recovery_codes(uid, rows);
  });
  c.event = "new recovery codes for " + c.req.name + " (the old ones are void)";
  c.msg_id = log::kMsgRecoveryCodes;
  return false;
}

// The change commits with a full sync before the answer; what it shows
// (a secret, recovery codes) is wiped if it does not.
void Engine::totp_commit(FactorChange& c) {
  wipe(c.req.code);
  mark_totp_dirty(c.acct);
  mark_dirty(c.acct);
  c.t.full_sync = true;
  log::event(log::Priority::kNotice, c.msg_id, c.event,
             {{"VIGIL_USER", c.req.name}, {"VIGIL_ACTOR", c.req.root_caller ? "root" : "self"}});
  c.t.after_commit.push_back([done = std::move(c.done), r = std::move(c.r)](const Status& st) mutable {
    r.status = st;
    if (!st) {
      for (auto& code : r.codes) wipe(code);
      wipe(r.secret_b32);
      wipe(r.uri);
      r.codes.clear();
    }
    done(std::move(r));
  });
}

}  // namespace vigil
