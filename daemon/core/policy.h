// The lockout policy: pure functions over one bucket's state.
//
// Contract:
//  * No I/O, no clock, no globals: the caller passes the state, the attempt
//    (with `now`) and the configuration, and gets back a Decision; the state
//    is updated in place. The engine serialises calls per bucket.
//  * `deny` failures within `fail_interval` (a sliding window) lock the bucket
//    for `unlock_time`; each further lock doubles it, up to `max_unlock_time`.
//  * A locked bucket refuses every attempt, right password or not, and does
//    not count it as a failure (it is tallied in `refused`).
//  * An exempt attempt (root by default, console logins) is counted but never
//    locks and is never refused.
//  * Only a success reported by a root caller resets the failures and the
//    doubling. A non-root caller's success resets nothing and never clears a
//    lock; its failures count like any other.
//  * The doubling decays one lock per max_unlock_time without an attempt,
//    counted from the end of the last lock: failures, and refusals while
//    locked (or, in the engine, while the source is throttled), keep it
//    alive. One quiet period never forgets the whole doubling, so an
//    attacker who waits out each lock in silence still meets the longest
//    lock again (bench/attack_sim: "lock-aware").
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "daemon/core/clock.h"
#include "daemon/core/config.h"

namespace vigil {

struct LockState {
  std::vector<TimePoint> failures;  // recent failures, oldest first, within fail_interval
  TimePoint locked_until{};         // epoch 0: not locked
  int lock_count = 0;               // locks since the last trusted success (for doubling; decays, see above)
  int64_t refused = 0;              // attempts refused while locked, since the last reset
  TimePoint last_failure{};
  TimePoint last_success{};
  // Sources of recent failures (unknown-device buckets only): evidence of an
  // attack from several places. Newest time per source, within fail_interval.
  std::vector<std::pair<std::string, TimePoint>> sources;

  bool locked_at(TimePoint now) const { return locked_until > now; }
  bool operator==(const LockState&) const = default;
};

// kPasswordOk: the password was right and a second factor must follow. It is
// refused while locked like any attempt, but resets nothing (the login is
// not complete), and is committed before its answer so that its timing
// matches a failure's.
enum class Outcome { kFailure, kSuccess, kPasswordOk };

struct Attempt {
  Outcome outcome = Outcome::kFailure;
  bool root_caller = false;  // the reporter's peer uid is 0
  bool exempt = false;       // never locked or refused (root account, console)
  TimePoint now{};
  std::string source;        // normalised source of a failure to remember ("" = none)
};

struct Decision {
  bool allow = false;          // the verdict
  bool refused_locked = false; // refused because the bucket is locked
  bool counted = false;        // a failure was recorded
  bool locked_now = false;     // this attempt started a lock
  bool unlocked = false;       // an expired lock was lifted on the way
  bool reset = false;          // a trusted success cleared the failures
  bool must_commit = false;    // protective change: commit before answering
  bool changed = false;        // anything in the state changed
  std::chrono::seconds lock_for{0};
};

// Times of success are recorded to the minute: a trusted success within
// kSuccessRecorded of the time on record leaves that time as it is, so a
// repeated login changes nothing and writes nothing. (Nothing decides by
// them: they are shown, and a device stays known for days after its last.)
inline constexpr std::chrono::seconds kSuccessRecorded{60};
// Whether a success at `now` moves the time on record, `recorded` (a clock
// that went back moves it too).
inline bool success_moves(TimePoint recorded, TimePoint now) {
  const auto since = now - recorded;
  return since < std::chrono::seconds(0) || since >= kSuccessRecorded;
}

// Lifts an expired lock and drops failures older than fail_interval.
// Returns true when a lock was lifted.
bool expire(LockState& s, const LockoutConfig& cfg, TimePoint now);

Decision decide(LockState& s, const Attempt& a, const LockoutConfig& cfg);

// The lock count with the decay applied: lock_count less one per whole
// max_unlock_time between the end of the last lock (taken as last_failure
// plus that lock's length) and `now`; never below 0. Unchanged while locked.
int decayed_lock_count(const LockState& s, const LockoutConfig& cfg, TimePoint now);

// Length of the next lock after `lock_count` earlier ones.
std::chrono::seconds lock_duration(int previous_locks, const LockoutConfig& cfg);

// Locks the bucket now (wrong second-factor codes), doubling as usual.
// Returns the lock's length.
std::chrono::seconds lock_now(LockState& s, const LockoutConfig& cfg, TimePoint now);

// Distinct sources that failed within fail_interval, other than `except`.
int distinct_sources(const LockState& s, const LockoutConfig& cfg, TimePoint now,
                     std::string_view except = {});

// Administrative reset: clears everything.
void reset(LockState& s);

// A state with nothing worth keeping (no failures, no lock, no doubling).
bool is_idle(const LockState& s, TimePoint now);

}  // namespace vigil
