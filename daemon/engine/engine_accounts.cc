// The engine's accounts: the bucket cache and what an account carries (its
// second factor, known devices, block, password change), login sessions,
// challenges, the block itself, and the operations on accounts that are not
// a login (Status.Get, listings, reset, forgetting devices, the account
// phase, an administrative block, sessions, counts). See engine.h.
#include <algorithm>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <map>
#include <set>
#include <unordered_set>

#include "daemon/core/device.h"
#include "daemon/core/log.h"
#include "daemon/engine/engine.h"
#include "daemon/engine/engine_txn.h"

namespace vigil {


Result<Engine::Entry*> Engine::entry(const std::string& key) {
  if (auto it = cache_.find(key); it != cache_.end()) return &it->second;
  if (dirty_.size() >= kCacheMax)
    return Error::Store("too many uncommitted changes; the store is failing");
  auto loaded = store_->load(key);
  if (!loaded) return loaded.error();
  Entry e;
  if (*loaded) {
    e.record = std::move(**loaded);
    e.in_store = true;
    e.uid_in_store = e.record.uid;
  } else {
    e.record.key = key;
  }
  return &cache_.emplace(key, std::move(e)).first->second;
}

void Engine::mark_dirty(Entry* e) {
  if (e->dirty || e->totp_dirty || e->block_dirty) {
    e->dirty = true;
    return;
  }
  e->dirty = true;
  dirty_.push_back(e);
}

void Engine::mark_totp_dirty(Entry* e) {
  if (!e->dirty && !e->totp_dirty && !e->block_dirty) dirty_.push_back(e);
  e->totp_dirty = true;
}

void Engine::mark_block_dirty(Entry* e) {
  if (!e->dirty && !e->totp_dirty && !e->block_dirty) dirty_.push_back(e);
  e->block_dirty = true;
}

Status Engine::load_totp(Entry* e, int64_t uid) {
  if (e->totp_loaded) return Ok{};
  auto r = store_->load_totp(uid);
  if (!r) return r.error();
  e->totp = r->value_or(TotpRecord{});
  e->totp.uid = uid;
  e->totp_loaded = true;
  return Ok{};
}

Status Engine::load_devices(Entry* e, int64_t uid) {
  if (e->devices_loaded) return Ok{};
  auto r = store_->load_devices(uid);
  if (!r) return r.error();
  e->devices = std::move(*r);
  e->devices_loaded = true;
  return Ok{};
}

Status Engine::load_block(Entry* e, int64_t uid) {
  if (e->block_loaded) return Ok{};
  auto r = store_->load_block(uid);
  if (!r) return r.error();
  auto pc = store_->load_password_change(uid);
  if (!pc) return pc.error();
  e->block = std::move(*r);
  e->password_change = std::move(*pc);
  e->block_loaded = true;
  return Ok{};
}

Result<Engine::Entry*> Engine::account_with_block(int64_t uid) {
  auto e = entry("uid:" + std::to_string(uid));
  if (!e) return e.error();
  if (auto st = load_block(*e, uid); !st) return st.error();
  return *e;
}

Result<bool> Engine::is_blocked(int64_t uid) {
  auto e = account_with_block(uid);
  if (!e) return e.error();
  return (*e)->block.has_value();
}

bool Engine::host_prompts(const Txn& t) const {
  if (t.totp.require != TotpRequire::kNone || active_factors_ > 0) return true;
  return std::any_of(t.devices.rules.begin(), t.devices.rules.end(),
                     [](const Rule& r) { return r.action == RuleAction::kRequireTotp; });
}

bool Engine::device_known(const Entry& acct, const std::string& device, TimePoint now) const {
  const auto horizon = now - std::chrono::days(settings_.devices.trust_days);
  for (const auto& d : acct.devices)
    if (d.device == device) return d.last_seen > horizon;
  return false;
}

void Engine::trust_device(Txn& t, Entry* acct, const std::string& device) {
  if (device.empty() || !acct->record.uid || !acct->devices_loaded) return;
  const int64_t uid = *acct->record.uid;
  DeviceRecord rec{device, t.now, t.now};
  bool found = false;
  for (auto& d : acct->devices) {
    if (d.device == device) {
      if (!success_moves(d.last_seen, t.now)) return;  // on record to the minute
      d.last_seen = t.now;
      rec = d;
      found = true;
    }
  }
  if (!found) {
    // Bounded per account: the least recently used device is forgotten.
    if (acct->devices.size() >= kDevicesPerAccount) {
      auto oldest = std::min_element(acct->devices.begin(), acct->devices.end(),
                                     [](const auto& a, const auto& b) { return a.last_seen < b.last_seen; });
      std::string gone = oldest->device;
      acct->devices.erase(oldest);
      ops_.push_back([uid, gone](Store& s) { return s.erase_device(uid, gone); });
    }
    acct->devices.push_back(rec);
    log::info("new known device for " + acct->record.name,
              {{"VIGIL_USER", acct->record.name}, {"VIGIL_DEVICE", device}});
  }
  ops_.push_back([uid, rec](Store& s) { return s.put_device(uid, rec); });
}

void Engine::note_success(Txn& t, Entry* acct, const Entry* bucket) {
  bool changed = acct->record.escalation != 0;
  acct->record.escalation = 0;
  // The account's own bucket has it already, from decide().
  if (bucket != acct && success_moves(acct->record.state.last_success, t.now)) {
    acct->record.state.last_success = t.now;
    changed = true;
  }
  if (changed) mark_dirty(acct);
}

Result<std::string> Engine::session_device(uint32_t id, int64_t uid) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) {
    auto loaded = store_->load_session(boot_id_, id);
    if (!loaded) return loaded.error();
    if (!*loaded) return std::string();
    if (sessions_.size() >= kSessionsMax) sessions_.clear();  // a cache: the store keeps them
    it = sessions_.emplace(id, std::move(**loaded)).first;
  }
  // sudo or su of another account inside this session: not that account's device.
  return it->second.uid == uid ? it->second.device : std::string();
}

Result<std::vector<BucketRecord>> Engine::known_buckets(const std::string& account_key, int64_t uid) {
  const std::string prefix = account_key + ":dev:";
  auto stored = store_->buckets_of(uid);
  if (!stored) return stored.error();
  std::map<std::string, BucketRecord> by_key;
  for (auto& b : *stored)
    if (b.key.starts_with(prefix)) by_key[b.key] = std::move(b);
  for (const auto& [k, e] : cache_)
    if (k.starts_with(prefix)) by_key[k] = e.record;
  std::vector<BucketRecord> out;
  for (auto& [k, b] : by_key) out.push_back(std::move(b));
  return out;
}

Result<bool> Engine::reset_known(const std::string& account_key, int64_t uid, TimePoint now) {
  auto list = known_buckets(account_key, uid);
  if (!list) return list.error();
  bool was_locked = false;
  for (const auto& b : *list) {
    if (is_idle(b.state, now)) continue;
    auto e = entry(b.key);
    if (!e) return e.error();
    was_locked = was_locked || (*e)->record.state.locked_at(now);
    vigil::reset((*e)->record.state);
    mark_dirty(*e);
  }
  return was_locked;
}

void Engine::add_challenge(const std::string& key, const std::string& nonce_key, Challenge c) {
  auto& order = challenge_order_[key];
  // Each account keeps only its newest few: one user cannot crowd out others.
  while (order.size() >= kChallengesPerAccount) {
    challenges_.erase(order.front());
    order.pop_front();
  }
  order.push_back(nonce_key);
  challenges_[nonce_key] = c;
}

void Engine::drop_challenge(const std::string& key, const std::string& nonce_key) {
  challenges_.erase(nonce_key);
  auto it = challenge_order_.find(key);
  if (it == challenge_order_.end()) return;
  std::erase(it->second, nonce_key);
  if (it->second.empty()) challenge_order_.erase(it);
}

void Engine::set_block(Txn& t, Entry* acct, BlockRecord b, TokenEffect effect, const std::string& source,
                       const std::string& service) {
  if (acct->record.uid && report_only()) block_not_enforced(t, *acct->record.uid, acct->record.name, effect);
  else if (acct->record.uid) tokens_on_block(t, *acct->record.uid, acct->record.name, effect, b.reason);
  log::event(log::Priority::kCrit, log::kMsgBlocked,
             "BLOCKED " + acct->record.name + ": " + b.reason,
             {{"VIGIL_USER", acct->record.name},
              {"VIGIL_RHOST", source},
              {"VIGIL_SERVICE", service},
              {"VIGIL_REASON", b.reason},
              {"VIGIL_DETAILS", b.details},
              {"VIGIL_ACTOR", b.by}});
  acct->block = std::move(b);
  acct->block_loaded = true;
  mark_block_dirty(acct);
  t.full_sync = true;
  if (acct->record.uid) {
    // Report mode: no session is ended (block_not_enforced said so).
    if (!report_only()) t.blocked.emplace_back(*acct->record.uid, acct->record.name);
    blocked_uids_.insert(*acct->record.uid);
  }
}

void Engine::get(std::string key, std::optional<int64_t> uid,
                 std::function<void(Result<AccountView>)> done) {
  submit([this, key = std::move(key), uid, done = std::move(done)](Txn& t) {
    in_batch();
    done(account_view(t, key, uid));
  });
}

Result<AccountView> Engine::account_view(const Txn& t, const std::string& key, std::optional<int64_t> uid) {
  const Entry* cached = nullptr;
  if (auto it = cache_.find(key); it != cache_.end()) cached = &it->second;
  AccountView view;
  if (cached) {
    view.bucket = cached->record;
  } else {
    auto b = store_->load(key);
    if (!b) return b.error();
    view.bucket = std::move(*b);
  }
  if (view.bucket) expire(view.bucket->state, t.cfg, t.now);
  if (!uid) return view;

  auto kb = known_buckets(key, *uid);
  if (!kb) return kb.error();
  view.known_buckets = std::move(*kb);
  for (auto& k : view.known_buckets) expire(k.state, t.cfg, t.now);
  if (cached && cached->block_loaded) {
    view.password_change = cached->password_change;
  } else {
    auto pc = store_->load_password_change(*uid);
    if (!pc) return pc.error();
    view.password_change = std::move(*pc);
  }
  if (auto st = account_view_factor(t, cached, *uid, view); !st) return st.error();
  if (auto st = account_view_failures(t, *uid, view); !st) return st.error();
  return view;
}

// The recent failures of Status.Get, and which of their sources are banned.
Status Engine::account_view_failures(const Txn& t, int64_t uid, AccountView& view) {
  auto failures = store_->failures_of(uid, Store::kFailuresKept);
  if (!failures) return failures.error();
  view.recent_failures = std::move(*failures);
  std::set<std::string> seen;
  for (const auto& f : view.recent_failures) {
    if (f.source.empty() || !seen.insert(f.source).second) continue;
    for (const auto& k : device::throttle_keys(device::parse_source(f.source))) {
      std::optional<BucketRecord> b;
      if (auto it = cache_.find("src:" + k.key); it != cache_.end()) {
        b = it->second.record;
      } else {
        auto loaded = store_->load("src:" + k.key);
        if (!loaded) return loaded.error();
        b = std::move(*loaded);
      }
      if (!b || !b->state.locked_at(t.now)) continue;
      view.banned_sources.push_back(SourceBan{f.source, k.key, b->state.locked_until});
      break;
    }
  }
  return Ok{};
}

// The block, the devices and the second factor of Status.Get.
Status Engine::account_view_factor(const Txn& t, const Entry* cached, int64_t uid, AccountView& view) {
  if (cached && cached->block_loaded) {
    view.block = cached->block;
  } else {
    auto block = store_->load_block(uid);
    if (!block) return block.error();
    view.block = std::move(*block);
  }
  if (cached && cached->devices_loaded) {
    view.devices = cached->devices;
  } else {
    auto devices = store_->load_devices(uid);
    if (!devices) return devices.error();
    view.devices = std::move(*devices);
  }
  std::optional<TotpRecord> tr;
  if (cached && cached->totp_loaded) {
    tr = cached->totp;
  } else {
    auto loaded = store_->load_totp(uid);
    if (!loaded) return loaded.error();
    tr = std::move(*loaded);
  }
  if (tr) {
    view.totp_active = tr->active();
    view.totp_pending = !tr->pending_box.empty();
    auto horizon = t.now - t.cfg.fail_interval;
    for (auto f : tr->otp_failures) view.otp_failures += f > horizon;
  }
  auto codes = store_->count_recovery_codes(uid);
  if (!codes) return codes.error();
  view.recovery_codes = *codes;
  return Ok{};
}

void Engine::list(std::function<void(Result<std::vector<AccountSummary>>)> done) {
  submit([this, done = std::move(done)](Txn& t) {
    in_batch();
    auto rows = store_->list_accounts();
    if (!rows) return done(rows.error());
    auto blocks = store_->list_blocks();
    if (!blocks) return done(blocks.error());
    // Cached copies are newer than the store when a commit is pending or failed.
    std::unordered_set<std::string> seen;
    for (auto& r : *rows) {
      if (auto it = cache_.find(r.key); it != cache_.end()) r = it->second.record;
      seen.insert(r.key);
    }
    for (auto& [key, e] : cache_)
      if (e.dirty && e.record.uid && !seen.count(key)) rows->push_back(e.record);
    std::map<int64_t, AccountSummary> by_uid;
    for (auto& r : *rows) {
      expire(r.state, t.cfg, t.now);
      AccountSummary& a = by_uid[*r.uid];
      if (r.key == ("uid:" + std::to_string(*r.uid))) {
        a.account = std::move(r);
      } else {
        if (a.account.name.empty()) a.account.name = r.name;
        if (r.state.locked_at(t.now)) a.locked_devices.push_back(std::move(r));
      }
    }
    for (auto& [uid, b] : *blocks) by_uid[uid].block = std::move(b);
    for (auto& [key, e] : cache_) {
      if (!e.block_loaded || !e.record.uid || key != "uid:" + std::to_string(*e.record.uid)) continue;
      if (e.block) by_uid[*e.record.uid].block = e.block;
      else if (auto it = by_uid.find(*e.record.uid); it != by_uid.end()) it->second.block.reset();
    }
    std::vector<AccountSummary> out;
    for (auto& [uid, a] : by_uid) {
      if (a.account.key.empty()) a.account.key = "uid:" + std::to_string(uid);
      a.account.uid = uid;
      out.push_back(std::move(a));
    }
    done(std::move(out));
  });
}

void Engine::reset(std::string key, int64_t uid, std::string name,
                   std::function<void(ResetResult)> done) {
  submit([this, key = std::move(key), uid, name = std::move(name),
          done = std::move(done)](Txn& t) mutable {
    in_batch();
    auto e = entry(key);
    if (!e) {
      ResetResult r;
      r.status = e.error();
      done(std::move(r));
      return;
    }
    BucketRecord& rec = (*e)->record;
    ResetResult r;
    r.existed = !is_idle(rec.state, t.now);
    r.was_locked = rec.state.locked_at(t.now);
    rec.uid = uid;
    rec.name = name;
    vigil::reset(rec.state);
    rec.escalation = 0;
    mark_dirty(*e);
    auto known = reset_known(key, uid, t.now);
    if (!known) {
      r.status = known.error();
      done(std::move(r));
      return;
    }
    r.was_locked = r.was_locked || *known;
    t.full_sync = true;
    t.after_commit.push_back([done = std::move(done), r](const Status& st) mutable {
      r.status = st;
      done(std::move(r));
    });
  });
}

void Engine::forget_devices(int64_t uid, std::string name, std::string device,
                            std::function<void(Result<int64_t>)> done) {
  submit([this, uid, name = std::move(name), device = std::move(device),
          done = std::move(done)](Txn& t) mutable {
    in_batch();
    auto e = entry("uid:" + std::to_string(uid));
    if (!e) return done(e.error());
    if (auto st = load_devices(*e, uid); !st) return done(st.error());
    auto& list = (*e)->devices;
    int64_t n = static_cast<int64_t>(std::erase_if(
        list, [&](const DeviceRecord& d) { return device.empty() || d.device == device; }));
    ops_.push_back([uid, device](Store& s) { return s.erase_device(uid, device); });
    t.full_sync = true;
    log::event(log::Priority::kNotice, log::kMsgDevicesForgotten,
               "forgot " + std::to_string(n) + " known device(s) of " + name,
               {{"VIGIL_USER", name}, {"VIGIL_DEVICE", device.empty() ? "all" : device}});
    t.after_commit.push_back([done = std::move(done), n](const Status& st) mutable {
      if (!st) return done(st.error());
      done(n);
    });
  });
}

void Engine::account(int64_t uid, std::string device, uint32_t audit_session, RuleInput in,
                     bool console, std::function<void(Result<AccountVerdict>)> done) {
  submit([this, uid, device = std::move(device), audit_session, in = std::move(in), console,
          done = std::move(done)](Txn& t) mutable {
    in_batch();
    if (audit_session != 0) {
      auto dev = session_device(audit_session, uid);
      if (!dev) return done(dev.error());
      device = std::move(*dev);
    }
    auto e = entry("uid:" + std::to_string(uid));
    if (!e) return done(e.error());
    if (auto st = load_block(*e, uid); !st) return done(st.error());
    if (auto st = load_devices(*e, uid); !st) return done(st.error());
    AccountVerdict v;
    v.blocked = (*e)->block.has_value() && !console;
    in.device_known = device_known(**e, device, t.now);
    in.strength = device::strength(device);
    if (const Rule* r = first_match(t.devices.rules, in); r && r->action == RuleAction::kDeny)
      v.denied_by_rule = r->line;
    if (report_only() && (v.blocked || v.denied_by_rule)) {
      v.not_enforced = v.blocked ? "account phase: blocked"
                                 : "account phase: deny rule at line " + std::to_string(v.denied_by_rule);
      not_enforced({in.user, v.not_enforced, device::source_key(in.source), in.service, device, t.now, {}});
      v.blocked = false;
      v.denied_by_rule = 0;
    }
    done(v);
  });
}

void Engine::block(int64_t uid, std::string name, std::string reason, std::string by, bool admin,
                   std::function<void(BlockResult)> done, std::optional<std::string> journal) {
  submit([this, uid, name = std::move(name), reason = std::move(reason), by = std::move(by), admin,
          done = std::move(done), journal = std::move(journal)](Txn& t) mutable {
    in_batch();
    BlockResult r;
    auto e = account_with_block(uid);
    if (!e) {
      r.status = e.error();
      return done(r);
    }
    if ((*e)->block) return done(r);
    (*e)->record.uid = uid;
    (*e)->record.name = name;
    set_block(t, *e, BlockRecord{reason, t.now, by, "{}"}, compromise(admin));
    if (journal) {
      boost::json::object b{{"reason", reason}, {"by", by}, {"auto", false}};
      journal_add(t, "block", std::move(*journal), boost::json::serialize(b));
    }
    r.changed = true;
    t.after_commit.push_back([done = std::move(done), r](const Status& st) mutable {
      r.status = st;
      done(r);
    });
  });
}

void Engine::session_open(uint32_t audit_session, int64_t uid, std::string device) {
  submit([this, audit_session, uid, device = std::move(device)](Txn& t) mutable {
    in_batch();
    // The first record of a session stays: sudo's and su's own session
    // phase (which the module does not report, but a root caller could)
    // never replaces the login's device.
    if (sessions_.count(audit_session)) return;
    auto stored = store_->load_session(boot_id_, audit_session);
    if (!stored) {
      log::warning("cannot read a login session: " + stored.error().message);
      return;
    }
    if (*stored) {
      if (sessions_.size() >= kSessionsMax) sessions_.clear();
      sessions_.emplace(audit_session, std::move(**stored));
      return;
    }
    SessionRecord rec{audit_session, uid, std::move(device), t.now};
    if (sessions_.size() >= kSessionsMax) sessions_.clear();  // a cache: the store keeps them
    sessions_.emplace(audit_session, rec);
    ops_.push_back([boot = boot_id_, rec](Store& s) { return s.put_session(boot, rec); });
  });
}

void Engine::journal(int64_t after, int64_t limit,
                     std::function<void(Result<std::vector<JournalEntry>>)> done) {
  submit([this, after, limit, done = std::move(done)](Txn&) {
    in_batch();
    done(store_->journal(after, limit));
  });
}

void Engine::journal_info(std::function<void(Result<std::pair<std::string, int64_t>>)> done) {
  submit([this, done = std::move(done)](Txn&) {
    in_batch();
    auto id = store_->journal_id();
    if (!id) return done(id.error());
    auto n = store_->journal_size();
    if (!n) return done(n.error());
    done(std::make_pair(std::move(*id), *n));
  });
}

void Engine::journal_taken(int64_t upto, std::function<void(Status)> done) {
  submit([this, upto, done = std::move(done)](Txn& t) {
    in_batch();
    ops_.push_back([upto](Store& s) { return s.erase_journal(upto); });
    t.after_commit.push_back(std::move(done));
  });
}

void Engine::counts(std::function<void(Result<Counts>)> done) {
  submit([this, done = std::move(done)](Txn& t) {
    in_batch();
    auto locked = store_->count_locked(t.now);
    if (!locked) return done(locked.error());
    auto blocked = store_->count_blocked();
    if (!blocked) return done(blocked.error());
    done(Counts{*locked, *blocked, !freezes_.empty()});
  });
}

}  // namespace vigil
