// The engine's recovery operations: proofs (step-up, identity), unblock,
// recovery requests and approvals, the overview, and history. See engine.h.
#include <algorithm>

#include "daemon/engine.h"
#include "daemon/engine_txn.h"
#include "daemon/log.h"
#include "daemon/recovery.h"

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
    if (c == CodeCheck::kError) return fail(Error{"totp", "the code could not be checked"});
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

void Engine::recover(RecoverRequest req, std::function<void(RecoverResult)> done) {
  submit([this, req = std::move(req), done = std::move(done)](Txn& t) mutable {
    RecoverResult r;
    auto finish = [&](Status st) {
      wipe(req.verify_code);
      r.status = st;
      done(std::move(r));
    };
    auto refuse = [&](std::string why) {
      r.refusal = std::move(why);
      finish(Ok{});
    };
    std::string approval_by;
    if (!req.approval_id.empty()) {
      auto list = store_->list_recovery();
      if (!list) return finish(list.error());
      auto it = std::find_if(list->begin(), list->end(),
                             [&](const RecoveryRecord& x) { return x.id == req.approval_id; });
      if (it == list->end()) return refuse("no pending request " + req.approval_id);
      if (auto why = recovery::approve_refusal(*it, req.approver_uid, t.now)) return refuse(*why);
      req.uid = it->uid;
      req.name = it->name;
      approval_by = it->requester;
      if (req.reason.empty()) req.reason = it->reason;
    }
    r.uid = req.uid;
    r.name = req.name;
    const std::string key = "uid:" + std::to_string(req.uid);
    auto e = entry(key);
    if (!e) return finish(e.error());
    Entry* acct = *e;
    if (auto st = load_block(acct, req.uid); !st) return finish(st.error());
    if (auto st = load_totp(acct, req.uid); !st) return finish(st.error());
    if (auto st = load_devices(acct, req.uid); !st) return finish(st.error());
    acct->record.uid = req.uid;
    acct->record.name = req.name;
    if (!acct->block) return finish(Ok{});  // not blocked: nothing to do

    bool counted = false;
    if (!req.verify_code.empty()) {
      // The blocked account's own code, read out: checked as at a login,
      // in this batch, so that nothing can change between proof and unblock.
      ProofOutcome how = ProofOutcome::kWrong;
      bool recovery_used = false;
      if (!acct->totp.active()) {
        how = ProofOutcome::kNoFactor;
      } else if (codes_exhausted(acct, t.now)) {
        how = ProofOutcome::kTooMany;
      } else {
        CodeCheck c = check_code(t, acct, req.verify_code, &recovery_used);
        if (c == CodeCheck::kError) return finish(Error{"totp", "the code could not be checked"});
        how = c == CodeCheck::kOk       ? ProofOutcome::kOk
              : c == CodeCheck::kReplay ? ProofOutcome::kReplay
                                        : ProofOutcome::kWrong;
      }
      wipe(req.verify_code);
      switch (how) {
        case ProofOutcome::kOk: break;
        case ProofOutcome::kNoFactor:
          return refuse(req.name + " has no second factor to verify with: use --approval");
        case ProofOutcome::kTooMany:
          return refuse("too many wrong codes for " + req.name +
                        " within [lockout] fail_interval: wait, or use --approval");
        case ProofOutcome::kReplay:
        case ProofOutcome::kWrong: {
          bool locked = false;
          count_wrong_code(t, acct, acct, false, "wrong identity code read out for an unblock", &locked);
          counted = true;
          r.refusal = how == ProofOutcome::kReplay
                          ? "that code of " + req.name + " was already used: ask for the next one"
                          : "the code is not a current code or an unused recovery code of " + req.name;
          break;
        }
      }
      if (counted) {
        t.after_commit.push_back([done = std::move(done), r = std::move(r)](const Status& st) mutable {
          r.status = st;
          done(std::move(r));
        });
        return;
      }
    }

    // The suspicious activity began at the earliest of: the block, less one
    // fail_interval, and the first failure its evidence still holds.
    TimePoint since = acct->block->since - t.cfg.fail_interval;
    for (auto f : acct->record.state.failures) since = std::min(since, f);
    for (const auto& s : acct->record.state.sources) since = std::min(since, s.second);
    r.suspicious_since = since;
    std::vector<std::string> forget;
    for (const auto& d : acct->devices)
      if (d.first_seen >= since) forget.push_back(d.device);
    std::erase_if(acct->devices, [&](const DeviceRecord& d) { return d.first_seen >= since; });
    r.devices_forgotten = static_cast<int64_t>(forget.size());
    const int64_t uid = req.uid;
    for (auto& d : forget)
      ops_.push_back([uid, d](Store& s) { return s.erase_device(uid, d); });
    ops_.push_back([uid](Store& s) { return s.erase_recovery_for(uid); });

    const std::string old_reason = acct->block->reason;
    acct->block.reset();
    if (!acct->dirty && !acct->totp_dirty && !acct->block_dirty) dirty_.push_back(acct);
    acct->block_dirty = true;
    vigil::reset(acct->record.state);
    mark_dirty(acct);
    if (!acct->totp.otp_failures.empty()) {
      acct->totp.otp_failures.clear();
      mark_totp_dirty(acct);
    }
    if (auto kb = entry(key + ":known"); kb && !is_idle((*kb)->record.state, t.now)) {
      vigil::reset((*kb)->record.state);
      mark_dirty(*kb);
    }
    t.full_sync = true;
    r.changed = true;
    std::string by = req.by;
    if (!approval_by.empty()) by = approval_by + ", approved by " + req.by;
    log::event(log::Priority::kNotice, log::kMsgUnblocked,
               "unblocked " + req.name + " (was: " + old_reason + "); " + std::to_string(forget.size()) +
                   " device(s) first seen since the suspicious activity forgotten",
               {{"VIGIL_USER", req.name},
                {"VIGIL_ACTOR", by},
                {"VIGIL_REASON", req.reason},
                {"VIGIL_REQUEST", req.approval_id}});
    t.after_commit.push_back([done = std::move(done), r = std::move(r)](const Status& st) mutable {
      r.status = st;
      done(std::move(r));
    });
  });
}

void Engine::file_recovery(RecoveryRecord rec, std::function<void(Result<RecoveryRecord>)> done) {
  submit([this, rec = std::move(rec), done = std::move(done)](Txn& t) mutable {
    auto list = store_->list_recovery();
    if (!list) return done(list.error());
    if (rec.kind == RecoveryRecord::Kind::kApproval) {
      auto e = entry("uid:" + std::to_string(rec.uid));
      if (!e) return done(e.error());
      if (auto st = load_block(*e, rec.uid); !st) return done(st.error());
      if (!(*e)->block) return done(Error{"refused", rec.name + " is not blocked"});
    } else {
      std::size_t open = 0;
      for (const auto& x : *list) {
        if (x.kind != RecoveryRecord::Kind::kRequest || x.requester_uid != rec.requester_uid) continue;
        if (x.uid == rec.uid) {
          rec.id = x.id;  // a repeated request replaces the earlier one
        } else if (x.expires > t.now) {
          ++open;
        }
      }
      if (open >= kRequestsPerRequester)
        return done(Error{"refused", "you have " + std::to_string(open) +
                                         " open recovery requests: wait until administrators act on them"});
    }
    ops_.push_back([rec](Store& s) { return s.put_recovery(rec); });
    t.full_sync = true;
    t.after_commit.push_back([done = std::move(done), rec](const Status& st) mutable {
      if (!st) return done(st.error());
      done(rec);
    });
  });
}

void Engine::overview(std::function<void(Result<Overview>)> done) {
  submit([this, done = std::move(done)](Txn& t) mutable {
    // Read after this batch's commit, so that it sees every change before it.
    t.after_commit.push_back([this, done = std::move(done), now = t.now](const Status&) mutable {
      Overview o;
      auto blocks = store_->list_blocks();
      if (!blocks) return done(blocks.error());
      auto uids = store_->totp_active_uids();
      if (!uids) return done(uids.error());
      auto rec = store_->list_recovery();
      if (!rec) return done(rec.error());
      o.blocks = std::move(*blocks);
      o.with_factor = std::move(*uids);
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

void Engine::record_history(HistoryRecord h, std::function<void(Status)> done) {
  submit([this, h = std::move(h), done = std::move(done)](Txn& t) mutable {
    ops_.push_back([h](Store& s) { return s.add_history(h); });
    t.full_sync = true;
    t.after_commit.push_back([done = std::move(done)](const Status& st) { done(st); });
  });
}

void Engine::take_unreported_history(std::function<void(Result<std::vector<HistoryRecord>>)> done) {
  submit([this, done = std::move(done)](Txn&) mutable {
    auto list = store_->unreported_history();
    if (!list) return done(list.error());
    for (const auto& h : *list) {
      int64_t id = h.id;
      ops_.push_back([id](Store& s) { return s.mark_history_reported(id); });
    }
    done(std::move(*list));
  });
}

}  // namespace vigil
