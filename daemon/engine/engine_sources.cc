// The per-source throttle's buckets, as administrators see them: the list
// of sources with failures or a ban, and lifting a ban. See engine.h.
#include <algorithm>
#include <unordered_set>

#include "daemon/engine/engine.h"
#include "daemon/engine/engine_txn.h"

namespace vigil {
namespace {
bool is_source(const std::string& key) { return key.rfind("src:", 0) == 0; }
}  // namespace

void Engine::sources(std::function<void(Result<std::vector<BucketRecord>>)> done) {
  submit([this, done = std::move(done)](Txn& t) {
    in_batch();
    auto rows = store_->list_sources();
    if (!rows) return done(rows.error());
    // Cached copies are newer than the store when a commit is pending or failed.
    std::unordered_set<std::string> seen;
    for (auto& r : *rows) {
      if (auto it = cache_.find(r.key); it != cache_.end()) r = it->second.record;
      seen.insert(r.key);
    }
    for (auto& [key, e] : cache_)
      if (e.dirty && is_source(key) && !seen.count(key)) rows->push_back(e.record);
    const LockoutConfig tc = t.throttle.as_lockout();
    std::vector<BucketRecord> out;
    for (auto& r : *rows) {
      expire(r.state, tc, t.now);
      if (!r.state.failures.empty() || r.state.locked_at(t.now)) out.push_back(std::move(r));
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
    done(std::move(out));
  });
}

void Engine::lift(std::vector<std::string> keys, std::function<void(Result<int64_t>)> done) {
  submit([this, keys = std::move(keys), done = std::move(done)](Txn& t) mutable {
    in_batch();
    int64_t banned = 0;
    for (const auto& key : keys) {
      if (!is_source(key)) return done(Error::InvalidParameter("not a source's bucket: " + key));
      auto e = entry(key);
      if (!e) return done(e.error());
      if ((*e)->record.state.locked_at(t.now)) ++banned;
      vigil::reset((*e)->record.state);
      mark_dirty(*e);
    }
    t.full_sync = true;
    t.after_commit.push_back([done = std::move(done), banned](const Status& st) mutable {
      if (!st) return done(st.error());
      done(banned);
    });
  });
}

}  // namespace vigil
