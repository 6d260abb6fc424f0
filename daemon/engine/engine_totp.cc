// The engine's second factor at a login: checking a code (a TOTP code or a
// recovery code), counting wrong ones, and the code after a right password
// in stages: the challenge, the account's standing, an account with no
// factor to check, no answer, the code budget, then the code itself. Each
// stage either answers (and the login stops there) or passes it on. The
// factor's own changes are in engine_totp_change.cc. See engine.h.
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
    note_success(t, acct, bucket);
  }
  return d.allow;
}

// One code on its way through the stages.
struct Engine::CodeLogin {
  Txn& t;
  VerifyRequest req;
  std::function<void(VerifyResult)> done;
  VerifyResult r{};
  Entry* acct = nullptr;    // the account's bucket (req.key)
  Entry* bucket = nullptr;  // the bucket the password was decided in (acct, or a known device's)
  Challenge ch{};           // the challenge the right password left
  bool over_budget = false; // report mode: checked past [totp] max_failures; a wrong code is not counted

  const std::string& name() const { return acct->record.name; }
};

void Engine::verify(VerifyRequest req, std::function<void(VerifyResult)> done) {
  submit([this, req = std::move(req), done = std::move(done)](Txn& t) mutable {
    in_batch();
    CodeLogin v{t, std::move(req), std::move(done)};
    if (verify_challenge(v) || verify_standing(v) || verify_without_code(v) || verify_no_answer(v) ||
        verify_budget(v))
      return;
    verify_code(v);
  });
}

bool Engine::verify_error(CodeLogin& v, const Error& e) {
  v.r.status = e;
  return verify_now(v);
}

bool Engine::verify_now(CodeLogin& v) {
  wipe(v.req.code);
  v.done(std::move(v.r));
  return true;
}

bool Engine::verify_waive(CodeLogin& v, const std::string& reason) {
  if (!report_only()) return false;
  v.ch.waived = true;
  v.r.not_enforced = reason;
  not_enforced({v.name(), reason, {}, {}, v.ch.device, v.t.now, {}});
  return true;
}

bool Engine::verify_after_commit(CodeLogin& v) {
  wipe(v.req.code);
  v.t.after_commit.push_back([done = std::move(v.done), r = std::move(v.r)](const Status& st) mutable {
    r.status = st;
    if (!st) r.allow = false;
    done(std::move(r));
  });
  return true;
}

// The challenge left by this call's right password: one use only. Without
// one (the module's authfail, an unknown name, a refusal) the code is
// refused, not counted, and answered as a checked code is, after a commit,
// so that the time after the code prompt tells nothing either.
bool Engine::verify_challenge(CodeLogin& v) {
  auto e = entry(v.req.key);
  if (!e) return verify_error(v, e.error());
  v.acct = v.bucket = *e;
  const std::string nonce_key = v.req.key + '\n' + v.req.nonce;
  auto it = challenges_.find(nonce_key);
  if (v.req.nonce.empty() || it == challenges_.end() || v.t.now - it->second.at > std::chrono::minutes(5)) {
    if (it != challenges_.end()) drop_challenge(v.req.key, nonce_key);
    wipe(v.req.code);
    mark_dirty(v.acct);
    return verify_after_commit(v);
  }
  if (auto st = load_totp(v.acct, v.req.uid); !st) return verify_error(v, st.error());
  v.ch = it->second;
  drop_challenge(v.req.key, nonce_key);
  // The bucket the password was decided in (known or unknown devices).
  if (!v.ch.bucket_key.empty() && v.ch.bucket_key != v.req.key) {
    auto kb = entry(v.ch.bucket_key);
    if (!kb) return verify_error(v, kb.error());
    v.bucket = *kb;
  }
  if (auto st = load_devices(v.acct, v.req.uid); !st) return verify_error(v, st.error());
  return false;
}

// Refused at once: a factor required and none enrolled, or the account
// blocked or locked since its password was checked. In report mode each is
// logged and waived instead; a challenge whose report was waived already
// said why, and goes on.
bool Engine::verify_standing(CodeLogin& v) {
  if (auto st = load_block(v.acct, v.req.uid); !st) return verify_error(v, st.error());
  if (v.ch.waived) return false;
  if (v.ch.no_factor) {
    if (verify_waive(v, "second factor required, none enrolled")) {
      v.ch.needs_code = false;  // there is no factor to check
    } else {
      wipe(v.req.code);
      log::event(log::Priority::kWarning, log::kMsgTotpMissing,
                 "refused " + v.name() + ": a second factor is required and none is enrolled",
                 {{"VIGIL_USER", v.name()}, {"VIGIL_REASON", "totp required, not enrolled"}});
      return verify_now(v);
    }
  }
  if (v.acct->block && !v.ch.console && !verify_waive(v, "blocked")) return verify_now(v);  // blocked meanwhile
  if (v.bucket->record.state.locked_at(v.t.now) && !v.ch.exempt) {
    ++v.bucket->record.state.refused;
    mark_dirty(v.bucket);
    if (!verify_waive(v, "locked")) {
      wipe(v.req.code);
      return verify_now(v);  // locked meanwhile (a parallel attempt): refused
    }
  }
  return false;
}

// The host asks everyone; an account with no factor to check takes any
// answer, and the password's success applies now.
bool Engine::verify_without_code(CodeLogin& v) {
  if (v.ch.needs_code) return false;
  wipe(v.req.code);
  // Report mode: a waived login's success is not applied (see engine.h).
  v.r.allow = v.ch.waived || apply_success(v.t, v.acct, v.bucket, v.ch);
  v.r.in_grace = v.ch.in_grace && v.r.allow;
  v.r.grace_ends = v.ch.grace_ends;
  if (v.r.in_grace)
    log::event(log::Priority::kWarning, log::kMsgTotpGrace,
               v.name() + " logged in without a second factor (grace until " +
                   std::to_string(to_epoch(v.ch.grace_ends)) + ")",
               {{"VIGIL_USER", v.name()}, {"VIGIL_REASON", "totp required, grace"}});
  return verify_after_commit(v);
}

// No answer: the service cannot prompt, or the answer was the password
// (clients that answer every prompt with it). Refused, not counted.
bool Engine::verify_no_answer(CodeLogin& v) {
  if (!v.req.code.empty()) return false;
  if (v.req.no_prompt)
    log::event(log::Priority::kNotice, log::kMsgTotpMissing,
               "refused " + v.name() + ": a second factor is needed and the service cannot "
               "prompt (prompt=no)",
               {{"VIGIL_USER", v.name()}, {"VIGIL_REASON", "no prompt"}});
  return verify_after_commit(v);
}

// The code budget comes before the code: an account exempt from locks
// (root) still gets at most [totp] max_failures guesses per fail_interval.
bool Engine::verify_budget(CodeLogin& v) {
  if (!codes_exhausted(v.acct, v.t.now)) return false;
  if (verify_waive(v, "code budget exhausted")) {
    v.over_budget = true;  // report mode: checked all the same
    return false;
  }
  wipe(v.req.code);
  log::event(log::Priority::kNotice, log::kMsgCodeRefused,
             "code not checked for " + v.name() + ": too many wrong codes",
             {{"VIGIL_USER", v.name()}, {"VIGIL_REASON", "code budget exhausted"}});
  return verify_after_commit(v);
}

// The code itself. Used steps, used recovery codes and wrong codes are
// durable before the answer.
void Engine::verify_code(CodeLogin& v) {
  bool recovery = false;
  CodeCheck c = check_code(v.t, v.acct, v.req.code, &recovery);
  if (c == CodeCheck::kError) {
    verify_error(v, Error::Store("cannot check the code"));
    return;
  }
  if (c == CodeCheck::kOk) {
    // The login is complete: the password step's success applies now
    // (report mode: not for a waived login, see engine.h).
    v.r.allow = v.ch.waived || apply_success(v.t, v.acct, v.bucket, v.ch);
    if (!v.ch.waived && !v.acct->totp.otp_failures.empty()) {
      v.acct->totp.otp_failures.clear();
      mark_totp_dirty(v.acct);
    }
    v.r.recovery_code = recovery;
    if (recovery)
      log::event(log::Priority::kNotice, log::kMsgRecoveryCodes,
                 v.name() + " logged in with a recovery code", {{"VIGIL_USER", v.name()}});
  } else if (!v.over_budget) {  // report mode, past the budget: enforce mode checked nothing
    // A wrong or replayed code after a right password.
    v.r.counted = true;
    // The right password from an unknown device, reported by a root caller,
    // then the code limit: the password is known to someone else. Block.
    // From a known device, or reported by the user's own process (which
    // anything running as the user can forge), the limit only locks.
    // (Already blocked: only in report mode, where the block stays as it is.)
    const bool may_block = v.bucket == v.acct && v.ch.root_caller && !v.acct->block;
    if (count_wrong_code(v.t, v.acct, v.bucket, !v.ch.console,
                         c == CodeCheck::kReplay ? "replayed code" : "wrong code", &v.r.locked_now,
                         may_block) &&
        may_block) {
      set_block(v.t, v.acct,
                BlockRecord{"the right password from an unknown device, then " +
                                std::to_string(v.t.totp.max_failures) + " wrong second-factor codes",
                            v.t.now, "vigild", "{\"device\":\"" + json_safe(v.ch.device) + "\"}"},
                compromise(v.ch.admin));
      v.r.blocked_now = true;
    }
  }
  verify_after_commit(v);
}

}  // namespace vigil
