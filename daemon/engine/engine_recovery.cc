// The engine's recovery operations: proofs (step-up, identity), unblock,
// recovery requests and approvals, the overview, and history. See engine.h.
#include <sodium.h>

#include <algorithm>

#include "daemon/engine/engine.h"
#include "daemon/engine/engine_txn.h"
#include "daemon/core/log.h"
#include "daemon/core/recovery.h"

namespace vigil {

bool Engine::codes_exhausted(Entry* e, TimePoint now) const {
  auto horizon = now - settings_.lockout.fail_interval;
  auto recent = std::count_if(e->totp.otp_failures.begin(), e->totp.otp_failures.end(),
                              [&](TimePoint p) { return p > horizon; });
  return recent >= settings_.totp.max_failures;
}

void Engine::prove(int64_t uid, std::string name, std::string code, bool lockable,
                   std::function<void(ProofResult)> done) {
  submit([this, uid, name = std::move(name), code = std::move(code), lockable,
          done = std::move(done)](Txn& t) mutable {
    in_batch();
    ProofResult r;
    auto fail = [&](Status st) {
      wipe(code);
      r.status = st;
      done(r);
    };
    auto e = entry("uid:" + std::to_string(uid));
    if (!e) return fail(e.error());
    if (auto st = load_totp(*e, uid); !st) return fail(st.error());
    if (!(*e)->record.uid) {
      (*e)->record.uid = uid;
      (*e)->record.name = name;
    }
    if (!(*e)->totp.active()) {
      wipe(code);
      r.outcome = ProofOutcome::kNoFactor;
      return done(r);
    }
    if (codes_exhausted(*e, t.now)) {
      wipe(code);
      r.outcome = ProofOutcome::kTooMany;
      return done(r);
    }
    bool recovery = false;
    CodeCheck c = check_code(t, *e, code, &recovery);
    if (c == CodeCheck::kError) return fail(Error::Internal("the code could not be checked"));
    if (c == CodeCheck::kNoFactor) {
      r.outcome = ProofOutcome::kNoFactor;
      return done(r);
    }
    if (c == CodeCheck::kOk) {
      r.outcome = ProofOutcome::kOk;
    } else {
      r.outcome = c == CodeCheck::kReplay ? ProofOutcome::kReplay : ProofOutcome::kWrong;
      bool locked = false;
      count_wrong_code(t, *e, *e, lockable,
                       c == CodeCheck::kReplay ? "replayed code outside a login"
                                               : "wrong code outside a login",
                       &locked);
    }
    // A consumed step or recovery code, and a counted wrong code, are durable
    // before the answer.
    t.after_commit.push_back([done = std::move(done), r](const Status& st) mutable {
      r.status = st;
      done(r);
    });
  });
}

// One unblock on its way through the stages.
struct Engine::Unblock {
  Txn& t;
  RecoverRequest req;
  std::function<void(RecoverResult)> done;
  RecoverResult r{};
  std::string approval_by{};  // who filed the approval, when it is one
  std::string key{};        // the account's bucket ("uid:N")
  Entry* acct = nullptr;
  // Kept to restore the stricter state in memory if the commit fails.
  TokenUndo token_undo{};
  BlockRecord old_block{};
  LockState old_state{};
  std::optional<PasswordChangeRecord> old_change{};
};

void Engine::recover(RecoverRequest req, std::function<void(RecoverResult)> done) {
  submit([this, req = std::move(req), done = std::move(done)](Txn& t) mutable {
    in_batch();
    Unblock u{t, std::move(req), std::move(done)};
    if (recover_approval(u) || recover_actor(u) || recover_account(u) || recover_proof(u)) return;
    recover_forget(u);
    if (recover_lift(u)) return;
    recover_commit(u);
  });
}

bool Engine::recover_error(Unblock& u, const Error& e) { return recover_answer(u, e); }

bool Engine::recover_answer(Unblock& u, Status st) {
  wipe(u.req.verify_code);
  u.r.status = std::move(st);
  u.done(std::move(u.r));
  return true;
}

// An approval: the account comes from the pending request, which
// approve_refusal() must allow for the actor, and whose requester must not
// be blocked now.
bool Engine::recover_approval(Unblock& u) {
  if (u.req.approval_id.empty()) return false;
  auto list = store_->list_recovery();
  if (!list) return recover_error(u, list.error());
  auto it = std::find_if(list->begin(), list->end(),
                         [&](const RecoveryRecord& x) { return x.id == u.req.approval_id; });
  if (it == list->end()) return recover_error(u, Error::Refused("no pending request " + u.req.approval_id));
  if (auto why = recovery::approve_refusal(*it, u.req.actor_uid, u.t.now))
    return recover_error(u, Error::Refused(*why));
  auto requester_blocked = is_blocked(it->requester_uid);
  if (!requester_blocked) return recover_error(u, requester_blocked.error());
  if (*requester_blocked)
    return recover_error(u, Error::Refused(it->requester + ", who filed " + it->id +
                                           ", is blocked now: an active administrator must file the "
                                           "unblock again"));
  u.req.uid = it->uid;
  u.req.name = it->name;
  u.approval_by = it->requester;
  if (u.req.reason.empty()) u.req.reason = it->reason;
  return false;
}

// The admin layer checked these before; they are checked again here, in the
// batch that acts, so that nothing changes in between.
bool Engine::recover_actor(Unblock& u) {
  if (u.req.actor_uid == u.req.uid)
    return recover_error(u, Error::Refused("you cannot lift your own block: another active "
                                           "administrator must recover your account"));
  if (u.req.actor_uid <= 0) return false;
  auto actor_blocked = is_blocked(u.req.actor_uid);
  if (!actor_blocked) return recover_error(u, actor_blocked.error());
  if (*actor_blocked)
    return recover_error(u, Error::Refused("your account is blocked: you cannot act as an administrator "
                                           "until another administrator recovers it"));
  return false;
}

// The account, with its block, factor and devices; not blocked: nothing to do.
bool Engine::recover_account(Unblock& u) {
  u.r.uid = u.req.uid;
  u.r.name = u.req.name;
  u.key = "uid:" + std::to_string(u.req.uid);
  auto e = entry(u.key);
  if (!e) return recover_error(u, e.error());
  u.acct = *e;
  if (auto st = load_block(u.acct, u.req.uid); !st) return recover_error(u, st.error());
  if (auto st = load_totp(u.acct, u.req.uid); !st) return recover_error(u, st.error());
  if (auto st = load_devices(u.acct, u.req.uid); !st) return recover_error(u, st.error());
  u.acct->record.uid = u.req.uid;
  u.acct->record.name = u.req.name;
  if (!u.acct->block) return recover_answer(u, Ok{});  // not blocked: nothing to do
  return false;
}

// The blocked account's own code, read out: checked as at a login, in this
// batch, so that nothing can change between proof and unblock. A wrong or
// replayed one counts (it never locks) and is refused after the commit.
bool Engine::recover_proof(Unblock& u) {
  if (u.req.verify_code.empty()) return false;
  Entry* acct = u.acct;
  ProofOutcome how = ProofOutcome::kWrong;
  bool recovery_used = false;
  if (!acct->totp.active()) {
    how = ProofOutcome::kNoFactor;
  } else if (codes_exhausted(acct, u.t.now)) {
    how = ProofOutcome::kTooMany;
  } else {
    CodeCheck c = check_code(u.t, acct, u.req.verify_code, &recovery_used);
    if (c == CodeCheck::kError) return recover_error(u, Error::Internal("the code could not be checked"));
    how = c == CodeCheck::kOk       ? ProofOutcome::kOk
          : c == CodeCheck::kReplay ? ProofOutcome::kReplay
                                    : ProofOutcome::kWrong;
  }
  wipe(u.req.verify_code);
  switch (how) {
    case ProofOutcome::kOk: return false;
    case ProofOutcome::kNoFactor:
      return recover_error(u, Error::Refused(u.req.name + " has no second factor to verify with: use --approval"));
    case ProofOutcome::kTooMany:
      return recover_error(u, Error::Refused("too many wrong codes for " + u.req.name +
                                             " within [lockout] fail_interval: wait, or use --approval"));
    case ProofOutcome::kReplay:
    case ProofOutcome::kWrong: break;
  }
  bool locked = false;
  count_wrong_code(u.t, acct, acct, false, "wrong identity code read out for an unblock", &locked);
  std::string why = how == ProofOutcome::kReplay
                        ? "that code of " + u.req.name + " was already used: ask for the next one"
                        : "the code is not a current code or an unused recovery code of " + u.req.name;
  // The wrong code is durable before the refusal.
  u.t.after_commit.push_back([done = std::move(u.done), r = std::move(u.r),
                              why = std::move(why)](const Status& st) mutable {
    r.status = st ? Status(Error::Refused(std::move(why))) : st;
    done(std::move(r));
  });
  return true;
}

// The suspicious activity began at the earliest of: the block, less one
// fail_interval, and the first failure its evidence still holds. The devices
// first seen since then are forgotten, the account's recovery requests
// closed, its tokens restored, and break-glass history written, all in this
// transaction.
void Engine::recover_forget(Unblock& u) {
  Entry* acct = u.acct;
  TimePoint since = acct->block->since - u.t.cfg.fail_interval;
  for (auto f : acct->record.state.failures) since = std::min(since, f);
  for (const auto& s : acct->record.state.sources) since = std::min(since, s.second);
  u.r.suspicious_since = since;
  std::vector<std::string> forget;
  for (const auto& d : acct->devices)
    if (d.first_seen >= since) forget.push_back(d.device);
  std::erase_if(acct->devices, [&](const DeviceRecord& d) { return d.first_seen >= since; });
  u.r.devices_forgotten = static_cast<int64_t>(forget.size());
  const int64_t uid = u.req.uid;
  for (auto& d : forget)
    ops_.push_back([uid, d](Store& s) { return s.erase_device(uid, d); });
  ops_.push_back([uid](Store& s) { return s.erase_recovery_for(uid); });
  u.token_undo = tokens_on_recover(u.t, uid, u.req.name);
  if (u.req.history) {
    HistoryRecord h = *u.req.history;
    ops_.push_back([h](Store& s) { return s.add_history(h); });
  }
}

// The block, the locks, the failure counters and wrong codes go; the
// password from before the block may be the attacker's, so it opens nothing
// until a change is reported (see engine.h).
bool Engine::recover_lift(Unblock& u) {
  Entry* acct = u.acct;
  const int64_t uid = u.req.uid;
  u.old_block = *acct->block;
  u.old_state = acct->record.state;
  acct->block.reset();
  mark_block_dirty(acct);
  vigil::reset(acct->record.state);
  mark_dirty(acct);
  if (!acct->totp.otp_failures.empty()) {
    acct->totp.otp_failures.clear();
    mark_totp_dirty(acct);
  }
  if (auto known = reset_known(u.key, uid, u.t.now); !known) return recover_error(u, known.error());
  acct->record.escalation = 0;
  u.old_change = acct->password_change;
  acct->password_change = PasswordChangeRecord{u.t.now, u.req.by, u.req.reason};
  ops_.push_back([uid, pc = *acct->password_change](Store& s) { return s.put_password_change(uid, pc); });
  u.r.password_change = true;
  u.t.full_sync = true;
  u.r.changed = true;
  return false;
}

// Answered after the commit. If it fails, memory keeps the block (the
// retried write then keeps it too) and the tokens' stricter state.
void Engine::recover_commit(Unblock& u) {
  std::string by = u.req.by;
  if (!u.approval_by.empty()) by = u.approval_by + ", approved by " + u.req.by;
  u.t.after_commit.push_back([this, acct = u.acct, old_block = std::move(u.old_block), old_state = u.old_state,
                              old_change = std::move(u.old_change), by = std::move(by),
                              reason = u.req.reason, id = u.req.approval_id,
                              token_undo = std::move(u.token_undo), done = std::move(u.done),
                              r = std::move(u.r)](const Status& st) mutable {
    in_batch();
    r.status = st;
    if (!st) {
      if (!acct->block) {
        acct->block = old_block;
        acct->record.state = old_state;
        acct->password_change = old_change;
      }
      undo_tokens_recover(token_undo);
      r.changed = false;
      return done(std::move(r));
    }
    blocked_uids_.erase(r.uid);
    log::event(log::Priority::kNotice, log::kMsgUnblocked,
               "unblocked " + r.name + " (was: " + old_block.reason + "); " +
                   std::to_string(r.devices_forgotten) +
                   " device(s) first seen since the suspicious activity forgotten",
               {{"VIGIL_USER", r.name}, {"VIGIL_ACTOR", by}, {"VIGIL_REASON", reason},
                {"VIGIL_REQUEST", id}});
    done(std::move(r));
  });
}

namespace {
// "R-" and 6 characters that read out without confusion.
std::string new_request_id() {
  static constexpr char kAlphabet[] = "23456789abcdefghjkmnpqrstuvwxyz";
  std::string id = "R-";
  for (int i = 0; i < 6; ++i) id.push_back(kAlphabet[randombytes_uniform(sizeof(kAlphabet) - 1)]);
  return id;
}
}  // namespace

void Engine::file_recovery(RecoveryRecord rec, std::function<void(Result<Filed>)> done) {
  submit([this, rec = std::move(rec), done = std::move(done)](Txn& t) mutable {
    in_batch();
    auto list = store_->list_recovery();
    if (!list) return done(list.error());
    auto e = entry("uid:" + std::to_string(rec.uid));
    if (!e) return done(e.error());
    if (auto st = load_block(*e, rec.uid); !st) return done(st.error());
    if (!(*e)->block) return done(Error::Refused(rec.name + " is not blocked"));
    if (rec.kind == RecoveryRecord::Kind::kRequest) {
      std::size_t open = 0;
      for (const auto& x : *list) {
        if (x.kind != RecoveryRecord::Kind::kRequest || x.requester_uid != rec.requester_uid ||
            x.expires <= t.now)
          continue;
        if (x.uid == rec.uid) return done(Filed{x, true});  // already filed: nothing new
        ++open;
      }
      if (open >= kRequestsPerRequester)
        return done(Error::Refused("you have " + std::to_string(open) +
                                         " open recovery requests: wait until administrators act on them"));
    }
    auto taken = [&](const std::string& id) {
      return std::any_of(list->begin(), list->end(), [&](const RecoveryRecord& x) { return x.id == id; });
    };
    do rec.id = new_request_id();
    while (taken(rec.id));
    ops_.push_back([rec](Store& s) { return s.put_recovery(rec); });
    t.full_sync = true;
    t.after_commit.push_back([done = std::move(done), rec](const Status& st) mutable {
      if (!st) return done(st.error());
      done(Filed{rec, false});
    });
  });
}

void Engine::overview(std::function<void(Result<Overview>)> done) {
  submit([this, done = std::move(done)](Txn& t) mutable {
    // Read after this batch's commit, so that it sees every change before it.
    t.after_commit.push_back([this, done = std::move(done), now = t.now](const Status&) mutable {
      in_batch();
      Overview o;
      auto blocks = store_->list_blocks();
      if (!blocks) return done(blocks.error());
      auto uids = store_->totp_active_uids();
      if (!uids) return done(uids.error());
      auto rec = store_->list_recovery();
      if (!rec) return done(rec.error());
      auto codes = store_->recovery_code_counts();
      if (!codes) return done(codes.error());
      o.recovery_codes = std::move(*codes);
      o.blocks = std::move(*blocks);
      o.with_factor = std::move(*uids);
      o.not_enforced = not_enforced_;
      std::vector<std::string> expired;
      for (auto& x : *rec) {
        if (x.expires <= now) expired.push_back(x.id);
        else o.recovery.push_back(std::move(x));
      }
      for (auto& id : expired) ops_.push_back([id](Store& s) { return s.erase_recovery(id); });
      done(std::move(o));
    });
  });
}

void Engine::take_unreported_history(std::function<void(Result<std::vector<HistoryRecord>>)> done) {
  submit([this, done = std::move(done)](Txn&) mutable {
    in_batch();
    auto list = store_->unreported_history();
    if (!list) return done(list.error());
    for (const auto& h : *list) {
      int64_t id = h.id;
      ops_.push_back([id](Store& s) { return s.mark_history_reported(id); });
    }
    done(std::move(*list));
  });
}

void Engine::password_changed(int64_t uid, std::string name, std::string by,
                              std::function<void(PasswordChangedResult)> done) {
  submit([this, uid, name = std::move(name), by = std::move(by), done = std::move(done)](Txn& t) mutable {
    in_batch();
    PasswordChangedResult r;
    auto e = account_with_block(uid);
    if (!e) {
      r.status = e.error();
      return done(r);
    }
    if (!(*e)->password_change) return done(r);  // nothing was required
    (*e)->password_change.reset();
    ops_.push_back([uid](Store& s) { return s.erase_password_change(uid); });
    t.full_sync = true;
    r.changed = true;
    t.after_commit.push_back([name, by, done = std::move(done), r](const Status& st) mutable {
      r.status = st;
      if (!st) {
        // Not durable yet: the erase is retried with the next batch's commit.
        r.changed = false;
        return done(r);
      }
      log::event(log::Priority::kNotice, log::kMsgPasswordChanged,
                 "the password of " + name + " was changed after its recovery (" + by +
                     "); password logins work again",
                 {{"VIGIL_USER", name}, {"VIGIL_ACTOR", by}});
      done(r);
    });
  });
}

}  // namespace vigil
