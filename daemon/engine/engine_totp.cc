// The engine's second-factor operations: verify a code after a right
// password, and enrol, confirm, disable, and recovery codes. See engine.h.
#include <sodium.h>

#include "daemon/engine/engine.h"
#include "daemon/engine/engine_txn.h"
#include "daemon/core/log.h"
#include "daemon/core/totp.h"

namespace vigil {
namespace {
std::string json_safe(std::string s) {
  for (auto& c : s)
    if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) c = '?';
  return s;
}
}  // namespace


Engine::CodeCheck Engine::check_code(Txn& t, Entry* e, std::string& code, bool* recovery_used) {
  *recovery_used = false;
  TotpRecord& tr = e->totp;
  if (!tr.active() || key_ == nullptr) {
    wipe(code);
    return CodeCheck::kNoFactor;
  }
  if (totp::looks_like_otp(code)) {
    auto secret = key_->open(tr.active_box);
    if (!secret) {
      wipe(code);
      log::error("cannot open a sealed TOTP secret: " + secret.error().message,
                 {{"VIGIL_USER", e->record.name}});
      return CodeCheck::kError;
    }
    auto step = totp::match(*secret, code, t.now, t.totp.window);
    wipe(*secret);
    wipe(code);
    if (!step) return CodeCheck::kWrong;
    if (*step <= tr.last_step) return CodeCheck::kReplay;
    tr.last_step = *step;
    mark_totp_dirty(e);
    return CodeCheck::kOk;
  }
  auto rc = totp::parse_recovery_code(code);
  wipe(code);
  if (!rc) return CodeCheck::kWrong;
  // Its deletion commits with this batch: until then, this set stops a
  // parallel login in the same batch from using it again.
  const std::string used_key = std::to_string(tr.uid) + ":" + rc->id;
  if (used_codes_.count(used_key)) {
    wipe(rc->text);
    return CodeCheck::kReplay;
  }
  auto stored = store_->load_recovery_code(tr.uid, rc->id);
  if (!stored) {
    wipe(rc->text);
    return CodeCheck::kError;
  }
  if (!*stored) {
    wipe(rc->text);
    return CodeCheck::kWrong;
  }
  Bytes h = key_->code_hash(rc->text);
  wipe(rc->text);
  bool same = (*stored)->size() == h.size() && sodium_memcmp(h.data(), (*stored)->data(), h.size()) == 0;
  if (!same) return CodeCheck::kWrong;
  int64_t uid = tr.uid;
  std::string id = rc->id;
  ops_.push_back([uid, id](Store& s) { return s.erase_recovery_code(uid, id); });
  used_codes_.insert(used_key);
  *recovery_used = true;
  return CodeCheck::kOk;
}

bool Engine::count_wrong_code(Txn& t, Entry* e, Entry* bucket, bool lockable, const char* what,
                              bool* locked_now, bool block_instead) {
  BucketRecord& rec = bucket->record;
  auto& f = e->totp.otp_failures;
  auto horizon = t.now - t.cfg.fail_interval;
  std::erase_if(f, [&](TimePoint p) { return p <= horizon; });
  f.push_back(t.now);
  if (f.size() > static_cast<size_t>(t.totp.max_failures))
    f.erase(f.begin(), f.end() - t.totp.max_failures);
  mark_totp_dirty(e);
  log::event(log::Priority::kNotice, log::kMsgCodeRefused, std::string(what) + " for " + rec.name,
             {{"VIGIL_USER", rec.name}, {"VIGIL_REASON", what}});
  // Root is exempt from password locks, not from code guessing; only the
  // console (physical presence) is never locked.
  const bool limit = static_cast<int>(f.size()) >= t.totp.max_failures && lockable;
  if (limit && block_instead) return true;
  if (limit && !rec.state.locked_at(t.now)) {
    auto len = lock_now(rec.state, t.cfg, t.now);
    mark_dirty(bucket);
    *locked_now = true;
    log::event(log::Priority::kWarning, log::kMsgLocked,
               "locked " + rec.name + " for " + format_duration(len) + " after " +
                   std::to_string(f.size()) + " wrong codes",
               {{"VIGIL_USER", rec.name},
                {"VIGIL_REASON", "too many wrong second-factor codes"},
                {"VIGIL_UNLOCK_TIME", std::to_string(to_epoch(rec.state.locked_until))}});
  }
  return limit;
}

bool Engine::apply_success(Txn& t, Entry* acct, Entry* bucket, const Challenge& ch) {
  Attempt a{Outcome::kSuccess, ch.root_caller, ch.exempt, t.now, {}};
  Decision d = decide(bucket->record.state, a, t.cfg);
  if (d.changed) mark_dirty(bucket);
  if (d.allow && ch.root_caller) {
    trust_device(t, acct, ch.device);
    if (bucket != acct || acct->record.escalation != 0) {
      acct->record.state.last_success = t.now;
      acct->record.escalation = 0;
      mark_dirty(acct);
    }
  }
  return d.allow;
}

void Engine::verify(VerifyRequest req, std::function<void(VerifyResult)> done) {
  submit([this, req = std::move(req), done = std::move(done)](Txn& t) mutable {
    VerifyResult r;
    auto fail = [&](Status st) {
      wipe(req.code);
      r.status = st;
      done(std::move(r));
    };
    auto e = entry(req.key);
    if (!e) return fail(e.error());

    // The challenge left by this call's right password: one use only.
    const std::string nonce_key = req.key + '\n' + req.nonce;
    auto it = challenges_.find(nonce_key);
    if (req.nonce.empty() || it == challenges_.end() || t.now - it->second.at > std::chrono::minutes(5)) {
      if (it != challenges_.end()) drop_challenge(req.key, nonce_key);
      wipe(req.code);
      // No right password in this call (the module's authfail, an unknown
      // name, a refusal): refused, not counted, and answered as a checked
      // code is, after a commit, so that the time after the code prompt
      // tells nothing either.
      mark_dirty(*e);
      t.after_commit.push_back([done = std::move(done), r](const Status& st) mutable {
        r.status = st;
        done(std::move(r));
      });
      return;
    }
    if (auto st = load_totp(*e, req.uid); !st) return fail(st.error());
    BucketRecord& rec = (*e)->record;
    Challenge ch = it->second;
    drop_challenge(req.key, nonce_key);
    // The bucket the password was decided in (known or unknown devices).
    Entry* bucket = *e;
    if (!ch.bucket_key.empty() && ch.bucket_key != req.key) {
      auto kb = entry(ch.bucket_key);
      if (!kb) return fail(kb.error());
      bucket = *kb;
    }
    if (auto st = load_devices(*e, req.uid); !st) return fail(st.error());
    if (ch.no_factor) {
      wipe(req.code);
      log::event(log::Priority::kWarning, log::kMsgTotpMissing,
                 "refused " + rec.name + ": a second factor is required and none is enrolled",
                 {{"VIGIL_USER", rec.name}, {"VIGIL_REASON", "totp required, not enrolled"}});
      done(std::move(r));
      return;
    }
    if (auto st = load_block(*e, req.uid); !st) return fail(st.error());
    if ((*e)->block && !ch.console) {
      wipe(req.code);
      done(std::move(r));  // blocked meanwhile: refused
      return;
    }
    if (bucket->record.state.locked_at(t.now) && !ch.exempt) {
      wipe(req.code);
      ++bucket->record.state.refused;
      mark_dirty(bucket);
      done(std::move(r));  // locked meanwhile (a parallel attempt): refused
      return;
    }
    // The host asks everyone; an account with no factor to check takes any
    // answer, and the password's success applies now.
    if (!ch.needs_code) {
      wipe(req.code);
      r.allow = apply_success(t, *e, bucket, ch);
      r.in_grace = ch.in_grace && r.allow;
      r.grace_ends = ch.grace_ends;
      if (r.in_grace)
        log::event(log::Priority::kWarning, log::kMsgTotpGrace,
                   rec.name + " logged in without a second factor (grace until " +
                       std::to_string(to_epoch(ch.grace_ends)) + ")",
                   {{"VIGIL_USER", rec.name}, {"VIGIL_REASON", "totp required, grace"}});
      t.after_commit.push_back([done = std::move(done), r](const Status& st) mutable {
        r.status = st;
        if (!st) r.allow = false;
        done(std::move(r));
      });
      return;
    }
    // No answer: the service cannot prompt, or the answer was the password
    // (clients that answer every prompt with it). Refused, not counted.
    if (req.code.empty()) {
      if (req.no_prompt)
        log::event(log::Priority::kNotice, log::kMsgTotpMissing,
                   "refused " + rec.name + ": a second factor is needed and the service cannot "
                   "prompt (prompt=no)",
                   {{"VIGIL_USER", rec.name}, {"VIGIL_REASON", "no prompt"}});
      t.after_commit.push_back([done = std::move(done), r](const Status& st) mutable {
        r.status = st;
        done(std::move(r));
      });
      return;
    }
    // The code budget comes before the code: an account exempt from locks
    // (root) still gets at most [totp] max_failures guesses per fail_interval.
    if (codes_exhausted(*e, t.now)) {
      wipe(req.code);
      log::event(log::Priority::kNotice, log::kMsgCodeRefused,
                 "code not checked for " + rec.name + ": too many wrong codes",
                 {{"VIGIL_USER", rec.name}, {"VIGIL_REASON", "code budget exhausted"}});
      t.after_commit.push_back([done = std::move(done), r](const Status& st) mutable {
        r.status = st;
        done(std::move(r));
      });
      return;
    }
    bool recovery = false;
    CodeCheck c = check_code(t, *e, req.code, &recovery);
    if (c == CodeCheck::kError) return fail(Error::Store("cannot check the code"));
    if (c == CodeCheck::kOk) {
      // The login is complete: the password step's success applies now.
      r.allow = apply_success(t, *e, bucket, ch);
      if (!(*e)->totp.otp_failures.empty()) {
        (*e)->totp.otp_failures.clear();
        mark_totp_dirty(*e);
      }
      r.recovery_code = recovery;
      if (recovery)
        log::event(log::Priority::kNotice, log::kMsgRecoveryCodes,
                   rec.name + " logged in with a recovery code", {{"VIGIL_USER", rec.name}});
    } else {
      // A wrong or replayed code after a right password.
      r.counted = true;
      // The right password from an unknown device, reported by a root caller,
      // then the code limit: the password is known to someone else. Block.
      // From a known device, or reported by the user's own process (which
      // anything running as the user can forge), the limit only locks.
      const bool may_block = bucket == *e && ch.root_caller;
      if (count_wrong_code(t, *e, bucket, !ch.console,
                           c == CodeCheck::kReplay ? "replayed code" : "wrong code", &r.locked_now,
                           may_block) &&
          may_block) {
        set_block(t, *e,
                  BlockRecord{"the right password from an unknown device, then " +
                                  std::to_string(t.totp.max_failures) + " wrong second-factor codes",
                              t.now, "vigild", "{\"device\":\"" + json_safe(ch.device) + "\"}"},
                  compromise(ch.admin));
        r.blocked_now = true;
      }
    }
    // Used steps, used recovery codes and wrong codes are durable before the answer.
    t.after_commit.push_back([done = std::move(done), r](const Status& st) mutable {
      r.status = st;
      if (!st) r.allow = false;
      done(std::move(r));
    });
  });
}

void Engine::totp(TotpRequest req, std::function<void(TotpResult)> done) {
  submit([this, req = std::move(req), done = std::move(done)](Txn& t) mutable {
    TotpResult r;
    auto answer = [&](Status st) {
      wipe(req.code);
      r.status = std::move(st);
      done(std::move(r));
    };
    auto finish_now = [&](std::string why) { answer(Error::Refused(std::move(why))); };
    if (key_ == nullptr) {
      return answer(Error::Secrets("no key for TOTP secrets"));
    }
    std::string key = "uid:" + std::to_string(req.uid);
    auto e = entry(key);
    if (!e) {
      return answer(e.error());
    }
    if (auto st = load_totp(*e, req.uid); !st) {
      return answer(st.error());
    }
    BucketRecord& rec = (*e)->record;
    if (!rec.uid) {
      rec.uid = req.uid;
      rec.name = req.name;
    }
    TotpRecord& tr = (*e)->totp;

    // A non-root caller proves possession of the active factor with a code.
    // Wrong proofs count like wrong codes at a login: guesses stay limited.
    bool proof_failed = false;
    auto proves_factor = [&]() -> bool {
      if (req.root_caller) return true;
      if (req.code.empty()) return false;
      bool recovery = false;
      if (check_code(t, *e, req.code, &recovery) == CodeCheck::kOk) return true;
      bool locked = false;
      count_wrong_code(t, *e, *e, true, "wrong code for a second-factor change", &locked);
      proof_failed = true;
      return false;
    };
    // The factor of a blocked account is frozen: nobody changes it, not even
    // root, so that nobody can re-enrol it and then "verify" with the new one.
    if (auto st = load_block(*e, req.uid); !st) {
      return answer(st.error());
    }
    if ((*e)->block) return finish_now("the account is blocked: its second factor is frozen until recovery");
    // While the account is locked its factor cannot be changed by the user.
    if (!req.root_caller && rec.state.locked_at(t.now))
      return finish_now("the account is locked; try again after the lock ends, or ask an administrator");
    auto refuse = [&](std::string why) {
      if (!proof_failed) return finish_now(std::move(why));
      // A counted wrong proof must be durable before the refusal.
      wipe(req.code);
      t.after_commit.push_back([done = std::move(done), r = std::move(r),
                                why = std::move(why)](const Status& st) mutable {
        r.status = st ? Status(Error::Refused(std::move(why))) : st;
        done(std::move(r));
      });
    };

    std::string event;
    const char* msg_id = nullptr;
    switch (req.op) {
      case TotpOp::kEnroll: {
        // The user enrols with a fresh proof of the account's password
        // (checked through PAM by the caller, dispatch.cc), never on the
        // strength of a session: malware in the session has that.
        if (!req.root_caller && !req.password_proven)
          return finish_now("self-enrolment needs your password (vigilctl asks for it), or an "
                            "administrator");
        if (tr.active() && !proves_factor())
          return refuse("a second factor is already active: re-enrolling needs a current "
                        "code or a recovery code (VIGIL_CODE)");
        Bytes secret = totp::new_secret();
        tr.pending_box = key_->seal(secret);
        tr.pending_at = t.now;
        r.secret_b32 = totp::base32(secret);
        r.uri = totp::otpauth_uri(t.totp.issuer, req.name, r.secret_b32);
        wipe(secret);
        event = "pending second factor created for " + req.name;
        msg_id = log::kMsgTotpEnrolled;
        break;
      }
      case TotpOp::kConfirm: {
        if (tr.pending_box.empty())
          return finish_now("no enrolment is waiting: run vigilctl totp enroll first");
        auto secret = key_->open(tr.pending_box);
        if (!secret) {
          return answer(secret.error());
        }
        auto step = totp::match(*secret, req.code, t.now, t.totp.window);
        wipe(*secret);
        wipe(req.code);
        if (!step) return finish_now("the code does not match the new secret (check the clock and try the next code)");
        if (!tr.active()) ++active_factors_;  // the host now asks every login for a code
        tr.active_box = std::move(tr.pending_box);
        tr.pending_box.clear();
        tr.pending_at = TimePoint{};
        tr.last_step = std::max(tr.last_step, *step);
        tr.confirmed_at = t.now;
        tr.otp_failures.clear();
        tr.required_since = TimePoint{};
        {
          // Recovery codes of an earlier factor are void with the new one.
          int64_t uid = req.uid;
          ops_.push_back([uid](Store& s) { return s.replace_recovery_codes(uid, {}); });
        }
        event = "second factor active for " + req.name;
        msg_id = log::kMsgTotpConfirmed;
        break;
      }
      case TotpOp::kDisable: {
        if (!tr.active() && tr.pending_box.empty())
          return finish_now(req.name + " has no second factor");
        if (tr.active() && !proves_factor())
          return refuse("disabling the second factor needs a current code or a recovery code (VIGIL_CODE)");
        int64_t uid = req.uid;
        TimePoint required_since = tr.required_since;  // no fresh grace by disabling
        int64_t last_step = tr.last_step;
        if (tr.active() && active_factors_ > 0) --active_factors_;
        tr = TotpRecord{};
        tr.uid = uid;
        tr.required_since = required_since;
        tr.last_step = last_step;
        ops_.push_back([uid](Store& s) { return s.replace_recovery_codes(uid, {}); });
        event = "second factor removed for " + req.name;
        msg_id = log::kMsgTotpDisabled;
        break;
      }
      case TotpOp::kRecoveryCodes: {
        if (!tr.active()) return finish_now(req.name + " has no active second factor: enrol first");
        if (!proves_factor())
          return refuse("new recovery codes need a current code (VIGIL_CODE)");
        std::vector<std::pair<std::string, Bytes>> rows;
        r.codes = totp::new_recovery_codes(totp::kRecoveryCodes);
        for (const auto& c : r.codes) {
          auto parsed = totp::parse_recovery_code(c);
          rows.emplace_back(parsed->id, key_->code_hash(parsed->text));
          wipe(parsed->text);
        }
        int64_t uid = req.uid;
        ops_.push_back([uid, rows = std::move(rows)](Store& s) { return s.replace_recovery_codes(uid, rows); });
        event = "new recovery codes for " + req.name + " (the old ones are void)";
        msg_id = log::kMsgRecoveryCodes;
        break;
      }
    }
    wipe(req.code);
    mark_totp_dirty(*e);
    mark_dirty(*e);
    t.full_sync = true;
    log::event(log::Priority::kNotice, msg_id, event,
               {{"VIGIL_USER", req.name}, {"VIGIL_ACTOR", req.root_caller ? "root" : "self"}});
    t.after_commit.push_back([done = std::move(done), r = std::move(r)](const Status& st) mutable {
      r.status = st;
      if (!st) {
        for (auto& c : r.codes) wipe(c);
        wipe(r.secret_b32);
        wipe(r.uri);
        r.codes.clear();
      }
      done(std::move(r));
    });
  });
}

}  // namespace vigil
