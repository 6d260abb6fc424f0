#include "daemon/engine.h"

#include <unordered_set>

#include "daemon/log.h"

namespace vigil {

struct Engine::Txn {
  TimePoint now;
  const LockoutConfig& cfg;
  bool full_sync = false;
  std::vector<std::function<void(const Status&)>> after_commit;
};

namespace {

constexpr auto kNonceMemory = std::chrono::minutes(10);
constexpr std::size_t kNonceMax = 200000;
constexpr int64_t kMaxUnknownNames = 100000;
constexpr auto kPruneEvery = std::chrono::seconds(60);

std::string who(const BucketRecord& r) {
  return r.name.empty() ? std::string("(unresolved name)") : r.name;
}

}  // namespace

Engine::Engine(std::unique_ptr<Store> store, const Clock& clock, LockoutConfig config)
    : store_(std::move(store)), clock_(clock), config_(config) {}

Engine::~Engine() { stop(); }

void Engine::start() { thread_ = std::thread([this] { run(); }); }

void Engine::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Engine::set_config(const LockoutConfig& config) {
  std::lock_guard lock(mu_);
  pending_config_ = config;
}

void Engine::submit(Job job) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(job));
  }
  cv_.notify_one();
}

void Engine::run() {
  std::deque<Job> batch;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty() && stopping_) return;
      batch.swap(queue_);
      if (pending_config_) {
        config_ = *pending_config_;
        pending_config_.reset();
      }
    }
    process_batch(batch);
    batch.clear();
  }
}

Result<Engine::Entry*> Engine::entry(const std::string& key) {
  if (auto it = cache_.find(key); it != cache_.end()) return &it->second;
  if (dirty_.size() >= kCacheMax)
    return Error{"store", "too many uncommitted changes; the store is failing"};
  auto loaded = store_->load(key);
  if (!loaded) return loaded.error();
  Entry e;
  if (*loaded) {
    e.record = std::move(**loaded);
  } else {
    e.record.key = key;
  }
  return &cache_.emplace(key, std::move(e)).first->second;
}

void Engine::mark_dirty(Entry* e) {
  if (e->dirty) return;
  e->dirty = true;
  dirty_.push_back(e);
}

void Engine::process_batch(std::deque<Job>& jobs) {
  Txn txn{clock_.now(), config_, false, {}};
  for (auto& job : jobs) job(txn);

  Status status = Ok{};
  if (!dirty_.empty()) {
    status = store_->begin(txn.full_sync);
    for (Entry* e : dirty_) {
      if (!status) break;
      status = store_->put(e->record, txn.now);
    }
    if (status) {
      status = store_->commit();
    } else {
      store_->rollback();
    }
    if (status) {
      for (Entry* e : dirty_) e->dirty = false;
      dirty_.clear();
    } else {
      log::event(log::Priority::kErr, log::kMsgStoreFailed,
                 "cannot commit state; refusing decisions until the store works again",
                 {{"VIGIL_REASON", status.error().message}});
    }
  }
  for (auto& f : txn.after_commit) f(status);

  // Evict clean entries. (While the store fails, entries stay dirty; new
  // buckets are then refused in entry(), so memory stays bounded.)
  if (cache_.size() > kCacheMax && cache_.size() > dirty_.size()) {
    for (auto it = cache_.begin(); it != cache_.end();)
      it = it->second.dirty ? std::next(it) : cache_.erase(it);
  }
  if (nonces_.size() > kNonceMax) nonces_.clear();
  maybe_prune(txn.now);
}

void Engine::maybe_prune(TimePoint now) {
  if (now - last_prune_ < kPruneEvery) return;
  last_prune_ = now;
  for (auto it = nonces_.begin(); it != nonces_.end();)
    it = now - it->second.at > kNonceMemory ? nonces_.erase(it) : std::next(it);
  auto horizon = std::max(config_.fail_interval, config_.max_unlock_time);
  auto pruned = store_->prune(now, now - horizon, kMaxUnknownNames);
  if (!pruned) {
    log::warning("pruning old state failed", {{"VIGIL_REASON", pruned.error().message}});
    return;
  }
  if (*pruned > 0) {
    // Drop clean cached copies so memory follows the store.
    for (auto it = cache_.begin(); it != cache_.end();)
      it = (!it->second.dirty && is_idle(it->second.record.state, now)) ? cache_.erase(it)
                                                                         : std::next(it);
    log::debug("pruned idle buckets", {{"VIGIL_COUNT", std::to_string(*pruned)}});
  }
}

void Engine::report(ReportRequest req, std::function<void(ReportResult)> done) {
  submit([this, req = std::move(req), done = std::move(done)](Txn& t) mutable {
    auto e = entry(req.key);
    if (!e) {
      ReportResult r;
      r.status = e.error();
      done(std::move(r));
      return;
    }
    BucketRecord& rec = (*e)->record;
    if (req.uid && (rec.uid != req.uid || rec.name != req.name)) {
      rec.uid = req.uid;
      rec.name = req.name;
      mark_dirty(*e);
    }
    LockState& s = rec.state;
    std::string nonce_key;
    if (!req.nonce.empty()) {
      nonce_key = req.key + '\n' + req.nonce;
      if (auto it = nonces_.find(nonce_key); it != nonces_.end()) {
        // The same pam_authenticate call reporting again: not counted.
        ReportResult r;
        r.duplicate = true;
        r.decision.allow = it->second.allow && (req.exempt || !s.locked_at(t.now));
        r.state = s;
        done(std::move(r));
        return;
      }
    }
    Attempt a{req.outcome, req.root_caller, req.exempt, t.now};
    Decision d = decide(s, a, t.cfg);
    if (d.changed) mark_dirty(*e);
    if (!nonce_key.empty()) nonces_[nonce_key] = Seen{d.allow, t.now};

    if (d.unlocked)
      log::event(log::Priority::kNotice, log::kMsgUnlocked, "lock expired: " + who(rec),
                 {{"VIGIL_USER", who(rec)}, {"VIGIL_REASON", "unlock_time elapsed"}});
    if (d.locked_now)
      log::event(log::Priority::kWarning, log::kMsgLocked,
                 "locked " + who(rec) + " for " + format_duration(d.lock_for) + " after " +
                     std::to_string(t.cfg.deny) + " failures",
                 {{"VIGIL_USER", who(rec)},
                  {"VIGIL_REASON", "too many failures"},
                  {"VIGIL_UNLOCK_TIME", std::to_string(to_epoch(s.locked_until))}});
    if (d.refused_locked)
      log::debug("refused while locked", {{"VIGIL_USER", who(rec)}});

    ReportResult r;
    r.decision = d;
    r.state = s;
    if (d.must_commit) {
      t.after_commit.push_back([done = std::move(done), r](const Status& st) mutable {
        r.status = st;
        done(std::move(r));
      });
    } else {
      done(std::move(r));
    }
  });
}

void Engine::get(std::string key,
                 std::function<void(Result<std::optional<BucketRecord>>)> done) {
  submit([this, key = std::move(key), done = std::move(done)](Txn& t) {
    std::optional<BucketRecord> out;
    if (auto it = cache_.find(key); it != cache_.end()) {
      out = it->second.record;
    } else {
      auto loaded = store_->load(key);
      if (!loaded) {
        done(loaded.error());
        return;
      }
      out = std::move(*loaded);
    }
    if (out) expire(out->state, t.cfg, t.now);
    done(std::move(out));
  });
}

void Engine::list(std::function<void(Result<std::vector<BucketRecord>>)> done) {
  submit([this, done = std::move(done)](Txn& t) {
    auto rows = store_->list_accounts();
    if (!rows) {
      done(rows.error());
      return;
    }
    // Cached copies are newer than the store when a commit is pending or failed.
    std::unordered_set<std::string> seen;
    for (auto& r : *rows) {
      if (auto it = cache_.find(r.key); it != cache_.end()) r = it->second.record;
      seen.insert(r.key);
    }
    for (auto& [key, e] : cache_)
      if (e.dirty && e.record.uid && !seen.count(key)) rows->push_back(e.record);
    for (auto& r : *rows) expire(r.state, t.cfg, t.now);
    done(std::move(rows));
  });
}

void Engine::reset(std::string key, int64_t uid, std::string name,
                   std::function<void(ResetResult)> done) {
  submit([this, key = std::move(key), uid, name = std::move(name),
          done = std::move(done)](Txn& t) mutable {
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
    mark_dirty(*e);
    t.full_sync = true;
    t.after_commit.push_back([done = std::move(done), r](const Status& st) mutable {
      r.status = st;
      done(std::move(r));
    });
  });
}

void Engine::count_locked(std::function<void(Result<int64_t>)> done) {
  submit([this, done = std::move(done)](Txn& t) { done(store_->count_locked(t.now)); });
}

}  // namespace vigil
