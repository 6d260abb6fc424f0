#include "daemon/core/policy.h"

#include <algorithm>

namespace vigil {

std::chrono::seconds lock_duration(int previous_locks, const LockoutConfig& cfg) {
  auto d = cfg.unlock_time;
  for (int i = 0; i < previous_locks && d < cfg.max_unlock_time; ++i) d *= 2;
  return std::min(d, cfg.max_unlock_time);
}

int decayed_lock_count(const LockState& s, const LockoutConfig& cfg, TimePoint now) {
  if (s.lock_count <= 0 || s.locked_at(now)) return s.lock_count;
  // The quiet time counts from the end of the last lock: from the last
  // attempt plus that lock's length, which is never earlier than its end.
  const TimePoint quiet_from = s.last_failure + lock_duration(s.lock_count - 1, cfg);
  if (now < quiet_from || cfg.max_unlock_time.count() <= 0) return s.lock_count;
  const auto steps = (now - quiet_from) / cfg.max_unlock_time;
  return steps >= s.lock_count ? 0 : s.lock_count - static_cast<int>(steps);
}

namespace {
// Takes the decay into lock_count. Only where last_failure becomes `now`
// right after: the quiet time is measured from last_failure, so folding
// without moving it would forget the same quiet time twice.
void fold_decay(LockState& s, const LockoutConfig& cfg, TimePoint now) {
  const int n = decayed_lock_count(s, cfg, now);
  if (n == s.lock_count) return;
  s.lock_count = n;
  if (n == 0) s.refused = 0;
}
}  // namespace

bool expire(LockState& s, const LockoutConfig& cfg, TimePoint now) {
  bool lifted = false;
  if (s.locked_until != TimePoint{} && s.locked_until <= now) {
    s.locked_until = TimePoint{};
    s.failures.clear();
    lifted = true;
  }
  const auto horizon = now - cfg.fail_interval;
  auto keep = std::find_if(s.failures.begin(), s.failures.end(),
                           [&](TimePoint t) { return t > horizon; });
  s.failures.erase(s.failures.begin(), keep);
  std::erase_if(s.sources, [&](const auto& p) { return p.second <= horizon; });
  // The doubling is forgotten one lock per max_unlock_time without an
  // attempt after the last lock ended (decayed_lock_count). Here only once
  // all of it is: a partial decay is taken at the next attempt (fold_decay),
  // so that calling expire() again never forgets the same quiet time twice.
  // The refused tally goes with the last lock.
  if (!s.locked_at(now)) {
    if (s.lock_count != 0 && decayed_lock_count(s, cfg, now) == 0) {
      s.lock_count = 0;
      s.refused = 0;
    } else if (s.lock_count == 0 && s.refused != 0 && s.last_failure + cfg.max_unlock_time <= now) {
      s.refused = 0;
    }
  }
  return lifted;
}

namespace {
constexpr size_t kMaxSources = 32;

void remember_source(LockState& s, const Attempt& a) {
  if (a.source.empty() || a.outcome != Outcome::kFailure) return;
  for (auto& p : s.sources) {
    if (p.first == a.source) {
      p.second = a.now;
      return;
    }
  }
  if (s.sources.size() >= kMaxSources) s.sources.erase(s.sources.begin());
  s.sources.emplace_back(a.source, a.now);
}
}  // namespace

int distinct_sources(const LockState& s, const LockoutConfig& cfg, TimePoint now,
                     std::string_view except) {
  int n = 0;
  for (const auto& [src, at] : s.sources)
    if (at > now - cfg.fail_interval && src != except) ++n;
  return n;
}

Decision decide(LockState& s, const Attempt& a, const LockoutConfig& cfg) {
  Decision d;
  const LockState before = s;
  d.unlocked = expire(s, cfg, a.now);
  // Failures from unknown sources are evidence, counted or refused.
  remember_source(s, a);

  if (s.locked_at(a.now) && !a.exempt) {
    d.refused_locked = true;
    d.allow = false;
    ++s.refused;
    s.last_failure = a.now;  // activity during a lock keeps the doubling alive
  } else if (a.outcome == Outcome::kFailure) {
    d.allow = false;
    d.counted = true;
    d.must_commit = true;
    fold_decay(s, cfg, a.now);
    s.failures.push_back(a.now);
    s.last_failure = a.now;
    // Keep at most `deny` entries: older ones can no longer matter.
    if (s.failures.size() > static_cast<size_t>(cfg.deny))
      s.failures.erase(s.failures.begin(),
                       s.failures.end() - static_cast<std::ptrdiff_t>(cfg.deny));
    if (!a.exempt && !s.locked_at(a.now) && s.failures.size() >= static_cast<size_t>(cfg.deny)) {
      d.lock_for = lock_duration(s.lock_count, cfg);
      s.locked_until = a.now + d.lock_for;
      ++s.lock_count;
      d.locked_now = true;
    }
  } else if (a.outcome == Outcome::kPasswordOk) {
    d.allow = true;
    d.must_commit = true;
  } else {
    d.allow = true;
    if (a.root_caller) {
      if (success_moves(s.last_success, a.now)) s.last_success = a.now;
      if (!s.failures.empty() || s.lock_count != 0 || s.locked_until != TimePoint{} ||
          s.refused != 0)
        d.reset = true;
      s.failures.clear();
      s.lock_count = 0;
      s.locked_until = TimePoint{};
      s.refused = 0;
      s.sources.clear();
    }
  }
  d.changed = !(s == before);
  return d;
}

std::chrono::seconds lock_now(LockState& s, const LockoutConfig& cfg, TimePoint now) {
  fold_decay(s, cfg, now);
  auto d = lock_duration(s.lock_count, cfg);
  s.locked_until = std::max(s.locked_until, now + d);
  ++s.lock_count;
  s.last_failure = now;
  return d;
}

void reset(LockState& s) {
  s.failures.clear();
  s.sources.clear();
  s.locked_until = TimePoint{};
  s.lock_count = 0;
  s.refused = 0;
}

bool is_idle(const LockState& s, TimePoint now) {
  return s.failures.empty() && !s.locked_at(now) && s.lock_count == 0 && s.refused == 0 &&
         s.sources.empty();
}

}  // namespace vigil
