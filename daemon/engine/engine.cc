// The engine's batch machinery: the queue, the three ways batches run (a
// thread of the engine's own, posted to the caller's executor, or inline),
// one batch and its group commit, the deferred commit, and housekeeping
// (nonces, challenges, sessions, idle buckets). See engine.h.
#include "daemon/engine/engine.h"

#include <malloc.h>

#include <algorithm>
#include <fstream>

#include "daemon/core/log.h"
#include "daemon/engine/engine_txn.h"

namespace vigil {
namespace {

constexpr auto kNonceMemory = std::chrono::minutes(2);
constexpr int64_t kMaxUnknownNames = 100000;
constexpr auto kPruneEvery = std::chrono::seconds(60);
constexpr int64_t kTrimAfter = 1000;  // pruned buckets
constexpr auto kChallengeLife = std::chrono::minutes(5);  // time to type a code
constexpr auto kSessionMemory = std::chrono::days(90);

// The kernel's id of this boot ("" when unreadable: sessions then never
// match one recorded in another boot, since every boot reads "").
std::string read_boot_id() {
  std::ifstream f("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(f, id);
  return id;
}

}  // namespace

// Not checked by the analysis (a constructor): no other thread can see the
// engine yet, so load_tokens() and active_factors_ need no lock.
Engine::Engine(std::unique_ptr<Store> store, const Clock& clock, LockoutConfig config,
               const SecretKey* key, TotpConfig totp, DevicesConfig devices, BlockConfig block,
               ThrottleConfig throttle, TokensConfig tokens, DaemonMode mode)
    : clock_(clock),
      key_(key),
      boot_id_(read_boot_id()),
      store_(std::move(store)),
      settings_{config, totp, devices, block, throttle, std::move(tokens), mode} {
  not_enforced_.since = clock_.now();
  load_tokens();
  if (auto uids = store_->totp_active_uids(); uids) {
    active_factors_ = static_cast<int64_t>(uids->size());
  } else {
    active_factors_ = 1;  // unknown: prompt (the stricter reading)
    log::warning("cannot count the second factors: " + uids.error().message);
  }
}

Engine::~Engine() { stop(); }

void Engine::start() {
  {
    MutexLock lock(mu_);
    mode_ = Mode::kThread;
  }
  thread_ = std::thread([this] { run(); });
}

void Engine::start(Poster post) {
  MutexLock lock(mu_);
  post_ = std::move(post);
  mode_ = Mode::kPosted;
}

void Engine::stop() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
    mode_ = Mode::kInline;
    post_ = nullptr;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  drain();  // whatever a posted batch did not take
}

void Engine::set_config(const LockoutConfig& config, const TotpConfig& totp,
                        const DevicesConfig& devices, const BlockConfig& block,
                        const ThrottleConfig& throttle, const TokensConfig& tokens, DaemonMode mode) {
  MutexLock lock(mu_);
  pending_ = Settings{config, totp, devices, block, throttle, tokens, mode};
}

void Engine::not_enforced(NotEnforced what) {
  log::event(log::Priority::kNotice, log::kMsgNotEnforced,
             "REPORT MODE, not enforced: " + what.reason + " (" + what.user +
                 (what.source.empty() ? "" : " from " + what.source) +
                 (what.service.empty() ? "" : ", " + what.service) + ")" +
                 (what.detail.empty() ? "" : ": " + what.detail),
             {{"VIGIL_USER", what.user}, {"VIGIL_REASON", what.reason}, {"VIGIL_RHOST", what.source},
              {"VIGIL_SERVICE", what.service}, {"VIGIL_DEVICE", what.device}});
  ++not_enforced_.counts[what.reason];
  not_enforced_.latest.push_back(std::move(what));
  if (not_enforced_.latest.size() > NotEnforcedLog::kLatest) not_enforced_.latest.pop_front();
}

void Engine::submit(Job job) {
  Mode mode;
  {
    MutexLock lock(mu_);
    queue_.push_back(std::move(job));
    mode = mode_;
    // Posted under mu_, so stop() cannot clear post_ meanwhile; post_ never
    // runs the drain itself, so this cannot deadlock.
    if (mode == Mode::kPosted && !posted_) {
      posted_ = true;
      post_([this] { drain(); });
    }
  }
  if (mode == Mode::kThread) cv_.notify_one();
  if (mode == Mode::kInline) drain();
}

void Engine::drain() {
  MutexLock run(run_mu_);
  std::deque<Job> batch;
  bool defer = false;
  {
    MutexLock lock(mu_);
    batch.swap(queue_);
    posted_ = false;
    defer = mode_ == Mode::kPosted;
    if (pending_) {
      settings_ = std::move(*pending_);
      pending_.reset();
    }
  }
  if (!batch.empty()) {
    process_batch(batch, defer);
  } else {
    finish_deferred();
  }
}

// The engine's own thread. The settings waiting are taken with the queue but
// applied under run_mu_, as every other change of the batch's state is.
void Engine::run() {
  std::deque<Job> batch;
  for (;;) {
    std::optional<Settings> next;
    {
      MutexLock lock(mu_);
      while (!stopping_ && queue_.empty()) cv_.wait(mu_);
      if (queue_.empty() && stopping_) return;
      batch.swap(queue_);
      next.swap(pending_);
    }
    MutexLock run(run_mu_);
    if (next) settings_ = std::move(*next);
    process_batch(batch, false);
    batch.clear();
  }
}

void Engine::process_batch(std::deque<Job>& jobs, bool defer) {
  // An earlier batch's commit comes before anything this batch reads or writes.
  finish_deferred();
  auto txn = std::make_unique<Txn>(Txn{clock_.now(), settings_.lockout, settings_.totp,
                                       settings_.devices, settings_.block, settings_.throttle,
                                       false, {}, {}});
  // A job that left nothing waiting for the commit answered at once (its
  // answer is posted, or it had none to give).
  bool answered_at_once = false;
  for (auto& job : jobs) {
    const std::size_t waiting = txn->after_commit.size();
    job(*txn);
    if (txn->after_commit.size() == waiting) answered_at_once = true;
  }
  // Deferred only behind answers given at once: when every job waits for
  // the commit (a lone failure report), posting it would only cost the I/O
  // thread one more turn of its loop before the answers.
  if (defer && answered_at_once && (!dirty_.empty() || !ops_.empty())) {
    MutexLock lock(mu_);
    if (mode_ == Mode::kPosted) {
      // The answers given at once are already posted: they go out first.
      deferred_ = std::move(txn);
      post_([this] {
        MutexLock run(run_mu_);
        finish_deferred();
      });
      return;
    }
  }
  finish_batch(*txn);
}

void Engine::finish_deferred() {
  if (!deferred_) return;
  auto txn = std::move(deferred_);
  finish_batch(*txn);
}

Unchanged Engine::unchanged(const Entry& e, TimePoint now) {
  Unchanged u;
  u.uid = e.in_store && e.uid_in_store == e.record.uid;
  u.updated = e.in_store && e.updated_in_store <= now && now - e.updated_in_store < Store::kUpdatedLag;
  return u;
}

void Engine::finish_batch(Txn& txn) {
  Status status = Ok{};
  if (!dirty_.empty() || !ops_.empty()) {
    status = store_->begin(txn.full_sync);
    for (Entry* e : dirty_) {
      if (!status) break;
      if (e->dirty) status = store_->put(e->record, txn.now, unchanged(*e, txn.now));
      if (status && e->totp_dirty)
        status = e->totp.empty() ? store_->erase_totp(e->totp.uid) : store_->put_totp(e->totp);
      if (status && e->block_dirty && e->record.uid)
        status = e->block ? store_->put_block(*e->record.uid, *e->block) : store_->erase_block(*e->record.uid);
    }
    for (auto& op : ops_) {
      if (!status) break;
      status = op(*store_);
    }
    if (status) {
      status = store_->commit();
    } else {
      store_->rollback();
    }
    if (status && store_failing_)
      log::event(log::Priority::kNotice, log::kMsgStoreRecovered,
                 "the state store works again; deciding normally");
    store_failing_ = !status;
    if (status) {
      for (Entry* e : dirty_) {
        if (e->dirty) {
          if (!unchanged(*e, txn.now).updated) e->updated_in_store = txn.now;
          e->in_store = true;
          e->uid_in_store = e->record.uid;
        }
        e->dirty = e->totp_dirty = e->block_dirty = false;
      }
      dirty_.clear();
      ops_.clear();
    } else {
      // Dirty records and queued writes (recovery codes, devices) are
      // retried together with the next batch: memory stays the stricter side.
      log::event(log::Priority::kErr, log::kMsgStoreFailed,
                 "cannot commit state; refusing decisions until the store works again",
                 {{"VIGIL_REASON", status.error().message}});
    }
  }
  for (auto& f : txn.after_commit) f(status);
  used_codes_.clear();
  if (status && on_blocked_)
    for (auto& [uid, name] : txn.blocked) on_blocked_(uid, name);
  if (status && outbox_added_ && on_outbox_) on_outbox_();
  if (status) outbox_added_ = false;

  // Evict clean entries. (While the store fails, entries stay dirty; new
  // buckets are then refused in entry(), so memory stays bounded.)
  if (cache_.size() > kCacheMax && cache_.size() > dirty_.size()) {
    for (auto it = cache_.begin(); it != cache_.end();)
      it = (it->second.dirty || it->second.totp_dirty || it->second.block_dirty) ? std::next(it)
                                                                                  : cache_.erase(it);
  }

  maybe_prune(txn.now);
}

void Engine::maybe_prune(TimePoint now) {
  if (now - last_prune_ < kPruneEvery) return;
  last_prune_ = now;
  while (!nonce_order_.empty()) {
    auto it = nonces_.find(nonce_order_.front());
    if (it != nonces_.end() && now - it->second.at <= kNonceMemory) break;
    if (it != nonces_.end()) nonces_.erase(it);
    nonce_order_.pop_front();
  }
  std::vector<std::pair<std::string, std::string>> stale;
  for (const auto& [nk, c] : challenges_)
    if (now - c.at > kChallengeLife) stale.emplace_back(nk.substr(0, nk.find('\n')), nk);
  for (const auto& [key, nk] : stale) drop_challenge(key, nk);
  if (auto st = store_->prune_sessions(boot_id_, now - kSessionMemory, kSessionsMax); !st)
    log::warning("pruning old login sessions failed", {{"VIGIL_REASON", st.error().message}});
  auto horizon = std::max(settings_.lockout.fail_interval, settings_.lockout.max_unlock_time);
  auto pruned = store_->prune(now, now - horizon, kMaxUnknownNames, settings_.lockout.max_unlock_time);
  if (!pruned) {
    log::warning("pruning old state failed", {{"VIGIL_REASON", pruned.error().message}});
    return;
  }
  if (*pruned > 0) {
    // Drop clean cached copies so memory follows the store.
    for (auto it = cache_.begin(); it != cache_.end();)
      it = (!it->second.dirty && !it->second.totp_dirty && is_idle(it->second.record.state, now))
               ? cache_.erase(it)
               : std::next(it);
    // After an attack's state expires, give the freed heap back too.
    if (*pruned >= kTrimAfter) ::malloc_trim(0);
    log::debug("pruned idle buckets", {{"VIGIL_COUNT", std::to_string(*pruned)}});
  }
}

void Engine::remember_nonce(const std::string& nonce_key, Seen seen) {
  if (nonces_.insert_or_assign(nonce_key, seen).second) nonce_order_.push_back(nonce_key);
  while (nonces_.size() > kNonceMax && !nonce_order_.empty()) {
    nonces_.erase(nonce_order_.front());
    nonce_order_.pop_front();
  }
}

}  // namespace vigil
