// The lockout policy, table-driven, with time passed in (no clock).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "daemon/core/policy.h"

namespace vigil {
namespace {

using std::chrono::seconds;

LockoutConfig test_config() {
  LockoutConfig c;
  c.deny = 3;
  c.fail_interval = seconds(60);
  c.unlock_time = seconds(100);
  c.max_unlock_time = seconds(350);
  return c;
}

enum Who { kRoot, kUser, kExempt };
constexpr bool F = false, T = true;

struct Step {
  int at;           // seconds since the start
  Outcome outcome;
  Who who;
  bool allow;       // expected verdict
  bool locked;      // expected lock state right after
  int failures;     // expected failures kept right after (those within fail_interval)
};

struct Scenario {
  const char* name;
  std::vector<Step> steps;
};

constexpr Outcome kFail = Outcome::kFailure;
constexpr Outcome kOk = Outcome::kSuccess;

class Policy : public ::testing::TestWithParam<Scenario> {};

TEST_P(Policy, Scenario) {
  const auto cfg = test_config();
  LockState s;
  const TimePoint t0 = from_epoch(1'700'000'000);
  int i = 0;
  for (const auto& step : GetParam().steps) {
    Attempt a{step.outcome, step.who != kUser, step.who == kExempt, t0 + seconds(step.at), {}};
    Decision d = decide(s, a, cfg);
    EXPECT_EQ(d.allow, step.allow) << "step " << i;
    EXPECT_EQ(s.locked_at(a.now), step.locked) << "step " << i;
    EXPECT_EQ(static_cast<int>(s.failures.size()), step.failures) << "step " << i;
    if (d.counted) {
      EXPECT_TRUE(d.must_commit) << "a failure is committed before its answer";
    }
    ++i;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, Policy,
    ::testing::Values(
        Scenario{"success_alone", {{0, kOk, kRoot, T, F, 0}}},
        Scenario{"locks_at_deny",
                 {{0, kFail, kRoot, F, F, 1}, {1, kFail, kRoot, F, F, 2}, {2, kFail, kRoot, F, T, 3}}},
        Scenario{"right_password_refused_while_locked",
                 {{0, kFail, kRoot, F, F, 1}, {1, kFail, kRoot, F, F, 2}, {2, kFail, kRoot, F, T, 3},
                  {3, kOk, kRoot, F, T, 3}, {50, kFail, kRoot, F, T, 3}}},
        Scenario{"unlocks_after_unlock_time",
                 {{0, kFail, kRoot, F, F, 1}, {1, kFail, kRoot, F, F, 2}, {2, kFail, kRoot, F, T, 3},
                  {101, kOk, kRoot, F, T, 0}, {102, kOk, kRoot, T, F, 0}}},
        Scenario{"sliding_window_forgets_old_failures",
                 {{0, kFail, kRoot, F, F, 1}, {30, kFail, kRoot, F, F, 2}, {61, kFail, kRoot, F, F, 2},
                  {91, kFail, kRoot, F, F, 2}, {100, kFail, kRoot, F, T, 3}}},
        Scenario{"lock_doubles_then_caps",
                 {// first lock: 100 s
                  {0, kFail, kRoot, F, F, 1}, {1, kFail, kRoot, F, F, 2}, {2, kFail, kRoot, F, T, 3},
                  // expired at 102; second lock at 105: 200 s, until 305
                  {103, kFail, kRoot, F, F, 1}, {104, kFail, kRoot, F, F, 2}, {105, kFail, kRoot, F, T, 3},
                  {304, kOk, kRoot, F, T, 0}, {305, kFail, kRoot, F, F, 1},
                  // third lock at 307: 400 s capped to 350, until 657
                  {306, kFail, kRoot, F, F, 2}, {307, kFail, kRoot, F, T, 3},
                  {656, kOk, kRoot, F, T, 0}, {657, kOk, kRoot, T, F, 0}}},
        Scenario{"trusted_success_resets_failures",
                 {{0, kFail, kRoot, F, F, 1}, {1, kFail, kRoot, F, F, 2}, {2, kOk, kRoot, T, F, 0},
                  {3, kFail, kRoot, F, F, 1}, {4, kFail, kRoot, F, F, 2}}},
        Scenario{"non_root_success_resets_nothing",
                 {{0, kFail, kUser, F, F, 1}, {1, kFail, kUser, F, F, 2}, {2, kOk, kUser, T, F, 2},
                  {3, kFail, kUser, F, T, 3}}},
        Scenario{"non_root_cannot_clear_a_lock",
                 {{0, kFail, kRoot, F, F, 1}, {1, kFail, kRoot, F, F, 2}, {2, kFail, kRoot, F, T, 3},
                  {3, kOk, kUser, F, T, 3}}},
        Scenario{"exempt_never_locks_nor_refused",
                 {{0, kFail, kExempt, F, F, 1}, {1, kFail, kExempt, F, F, 2}, {2, kFail, kExempt, F, F, 3},
                  {3, kFail, kExempt, F, F, 3}, {4, kOk, kExempt, T, F, 0}}},
        Scenario{"exempt_login_passes_a_lock_and_clears_it",
                 {{0, kFail, kRoot, F, F, 1}, {1, kFail, kRoot, F, F, 2}, {2, kFail, kRoot, F, T, 3},
                  {3, kOk, kExempt, T, F, 0}}},
        Scenario{"refused_attempts_do_not_count",
                 {{0, kFail, kRoot, F, F, 1}, {1, kFail, kRoot, F, F, 2}, {2, kFail, kRoot, F, T, 3},
                  {3, kFail, kRoot, F, T, 3}, {4, kFail, kRoot, F, T, 3}, {103, kFail, kRoot, F, F, 1}}}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Policy, RefusedTallyAndDecisionFlags) {
  auto cfg = test_config();
  LockState s;
  TimePoint t = from_epoch(1000);
  for (int i = 0; i < 3; ++i) decide(s, {kFail, true, false, t, {}}, cfg);
  Decision d = decide(s, {kOk, true, false, t, {}}, cfg);
  EXPECT_TRUE(d.refused_locked);
  EXPECT_FALSE(d.counted);
  EXPECT_FALSE(d.must_commit);
  EXPECT_EQ(s.refused, 1);
}

TEST(Policy, LockedNowReportsDuration) {
  auto cfg = test_config();
  LockState s;
  TimePoint t = from_epoch(1000);
  decide(s, {kFail, true, false, t, {}}, cfg);
  decide(s, {kFail, true, false, t, {}}, cfg);
  Decision d = decide(s, {kFail, true, false, t, {}}, cfg);
  EXPECT_TRUE(d.locked_now);
  EXPECT_EQ(d.lock_for, seconds(100));
  EXPECT_EQ(s.locked_until, t + seconds(100));
  EXPECT_EQ(s.lock_count, 1);
}

struct DurationCase {
  int previous;
  int expect;
};
class LockDuration : public ::testing::TestWithParam<DurationCase> {};
TEST_P(LockDuration, DoublesUpToMax) {
  EXPECT_EQ(lock_duration(GetParam().previous, test_config()), seconds(GetParam().expect));
}
INSTANTIATE_TEST_SUITE_P(Table, LockDuration,
                         ::testing::Values(DurationCase{0, 100}, DurationCase{1, 200}, DurationCase{2, 350},
                                           DurationCase{3, 350}, DurationCase{1000, 350}));

TEST(Policy, DoublingIsForgottenAfterQuietPeriod) {
  auto cfg = test_config();
  LockState s;
  TimePoint t = from_epoch(1000);
  for (int i = 0; i < 3; ++i) decide(s, {kFail, true, false, t, {}}, cfg);
  ASSERT_EQ(s.lock_count, 1);
  // The quiet time counts from the end of the lock (t + 100), not its start.
  expire(s, cfg, t + seconds(350));
  EXPECT_EQ(s.lock_count, 1);
  expire(s, cfg, t + seconds(449));
  EXPECT_EQ(s.lock_count, 1);
  expire(s, cfg, t + seconds(450));
  EXPECT_EQ(s.lock_count, 0);
  EXPECT_TRUE(is_idle(s, t + seconds(450)));
}

// The decay: one lock forgotten per max_unlock_time (350 s here) without an
// attempt, counted from the end of the last lock. Each row is a series of
// events; a burst is deny (3) failures one second apart, and the row gives
// the length of the lock it starts. Lock lengths: 100, 200, then 350.
struct DecayEvent {
  int at;
  enum { kBurst, kRefused, kOkRoot } what;
  int lock_for = 0;  // kBurst: expected lock length
};
struct DecayCase {
  const char* name;
  std::vector<DecayEvent> events;
  int lock_count;  // expected at the end
};
class Decay : public ::testing::TestWithParam<DecayCase> {};

TEST_P(Decay, Table) {
  const auto cfg = test_config();
  LockState s;
  const TimePoint t0 = from_epoch(1'700'000'000);
  int i = 0;
  for (const auto& e : GetParam().events) {
    const TimePoint at = t0 + seconds(e.at);
    if (e.what == DecayEvent::kBurst) {
      Decision d;
      for (int k = 0; k < 3; ++k) d = decide(s, {kFail, true, false, at + seconds(k), {}}, cfg);
      EXPECT_TRUE(d.locked_now) << "event " << i;
      EXPECT_EQ(d.lock_for, seconds(e.lock_for)) << "event " << i;
    } else if (e.what == DecayEvent::kRefused) {
      EXPECT_TRUE(decide(s, {kFail, true, false, at, {}}, cfg).refused_locked) << "event " << i;
    } else {
      EXPECT_TRUE(decide(s, {kOk, true, false, at, {}}, cfg).allow) << "event " << i;
    }
    ++i;
  }
  EXPECT_EQ(s.lock_count, GetParam().lock_count);
}

INSTANTIATE_TEST_SUITE_P(
    Table, Decay,
    ::testing::Values(
        // Back at every lock's end: the locks reach the longest and stay there.
        DecayCase{"continuous_attack_stays_at_max",
                  {{0, DecayEvent::kBurst, 100}, {102, DecayEvent::kBurst, 200},
                   {304, DecayEvent::kBurst, 350}, {656, DecayEvent::kBurst, 350},
                   {1008, DecayEvent::kBurst, 350}},
                  5},
        // The second lock ends at 304: quiet from then on.
        DecayCase{"quiet_shorter_than_max_forgets_nothing",
                  {{0, DecayEvent::kBurst, 100}, {102, DecayEvent::kBurst, 200},
                   {653, DecayEvent::kBurst, 350}},
                  3},
        DecayCase{"one_quiet_period_forgets_one_lock",
                  {{0, DecayEvent::kBurst, 100}, {102, DecayEvent::kBurst, 200},
                   {654, DecayEvent::kBurst, 200}},
                  2},
        DecayCase{"two_quiet_periods_forget_two_locks",
                  {{0, DecayEvent::kBurst, 100}, {102, DecayEvent::kBurst, 200},
                   {1004, DecayEvent::kBurst, 100}},
                  1},
        // A lock that was waited out in silence is not a quiet period: the
        // old rule (quiet since the last failure, at 2) forgot it at 352.
        DecayCase{"quiet_counts_from_the_end_of_the_lock",
                  {{0, DecayEvent::kBurst, 100}, {352, DecayEvent::kBurst, 200}},
                  2},
        DecayCase{"after_the_lock_and_a_quiet_period",
                  {{0, DecayEvent::kBurst, 100}, {452, DecayEvent::kBurst, 100}},
                  1},
        // Refusals while locked are attempts: the quiet time starts after
        // the last one (100) plus the lock's length.
        DecayCase{"refusals_during_the_lock_keep_it_alive",
                  {{0, DecayEvent::kBurst, 100}, {50, DecayEvent::kRefused}, {100, DecayEvent::kRefused},
                   {549, DecayEvent::kBurst, 200}, {700, DecayEvent::kRefused}},
                  2},
        // A trusted success forgets everything at once.
        DecayCase{"trusted_success_resets",
                  {{0, DecayEvent::kBurst, 100}, {102, DecayEvent::kBurst, 200},
                   {304, DecayEvent::kOkRoot}, {305, DecayEvent::kBurst, 100}},
                  1}),
    [](const auto& info) { return std::string(info.param.name); });

// expire() takes the decay into the state only once all of it is gone: a
// partial decay is taken at the next attempt, so calling expire() again
// (reads, the throttle's check) never forgets the same quiet time twice.
TEST(Policy, PartialDecayIsTakenOnceAtTheNextAttempt) {
  auto cfg = test_config();
  LockState s;
  TimePoint t = from_epoch(1000);
  for (int k = 0; k < 3; ++k) decide(s, {kFail, true, false, t, {}}, cfg);  // 100 s, ends t+100
  for (int k = 0; k < 3; ++k) decide(s, {kFail, true, false, t + seconds(100), {}}, cfg);  // 200 s
  ASSERT_EQ(s.lock_count, 2);
  // The second lock ends at t+300; one quiet period later, one lock is gone.
  const TimePoint later = t + seconds(300 + 350 + 10);
  EXPECT_EQ(decayed_lock_count(s, cfg, later), 1);
  for (int k = 0; k < 5; ++k) expire(s, cfg, later);
  EXPECT_EQ(s.lock_count, 2);
  EXPECT_EQ(decayed_lock_count(s, cfg, later), 1);
  Decision d = decide(s, {kFail, true, false, later, {}}, cfg);
  EXPECT_TRUE(d.counted);
  EXPECT_EQ(s.lock_count, 1);
  // The decay clock restarts at this failure: nothing more is forgotten now.
  EXPECT_EQ(decayed_lock_count(s, cfg, later), 1);
  // While locked, nothing decays.
  decide(s, {kFail, true, false, later, {}}, cfg);
  Decision locked = decide(s, {kFail, true, false, later, {}}, cfg);
  EXPECT_EQ(locked.lock_for, seconds(200));
  EXPECT_EQ(decayed_lock_count(s, cfg, later + seconds(199)), 2);
}

TEST(Policy, ResetClearsEverything) {
  auto cfg = test_config();
  LockState s;
  TimePoint t = from_epoch(1000);
  for (int i = 0; i < 4; ++i) decide(s, {kFail, true, false, t, {}}, cfg);
  reset(s);
  EXPECT_TRUE(is_idle(s, t));
  EXPECT_TRUE(decide(s, {kOk, true, false, t, {}}, cfg).allow);
}

// A trusted success's time is recorded to the minute: a success within
// kSuccessRecorded of the recorded one changes nothing (so nothing is
// written), one at or after it, or a clock that went back, moves it.
struct SuccessTimeCase {
  const char* name;
  int second_at;  // seconds after the first success
  bool moves;
};
class SuccessTime : public ::testing::TestWithParam<SuccessTimeCase> {};
TEST_P(SuccessTime, IsRecordedToTheMinute) {
  const auto& c = GetParam();
  auto cfg = test_config();
  LockState s;
  const TimePoint first = from_epoch(100000);
  Decision d1 = decide(s, {kOk, true, false, first, {}}, cfg);
  EXPECT_TRUE(d1.changed);
  EXPECT_EQ(s.last_success, first);
  const TimePoint second = first + seconds(c.second_at);
  Decision d2 = decide(s, {kOk, true, false, second, {}}, cfg);
  EXPECT_TRUE(d2.allow);
  EXPECT_EQ(d2.changed, c.moves);
  EXPECT_EQ(s.last_success, c.moves ? second : first);
  EXPECT_EQ(success_moves(first, second), c.moves);
}
INSTANTIATE_TEST_SUITE_P(Table, SuccessTime,
                         ::testing::Values(SuccessTimeCase{"Same", 0, false},
                                           SuccessTimeCase{"Within", 59, false},
                                           SuccessTimeCase{"AMinute", 60, true},
                                           SuccessTimeCase{"Later", 3600, true},
                                           SuccessTimeCase{"ClockBack", -1, true}),
                         [](const auto& i) { return std::string(i.param.name); });

// Whatever else a success clears is written whatever the time.
TEST(Policy, ASuccessThatClearsFailuresAlwaysChanges) {
  auto cfg = test_config();
  LockState s;
  const TimePoint t = from_epoch(100000);
  decide(s, {kOk, true, false, t, {}}, cfg);
  decide(s, {kFail, true, false, t + seconds(1), {}}, cfg);
  Decision d = decide(s, {kOk, true, false, t + seconds(2), {}}, cfg);
  EXPECT_TRUE(d.changed);
  EXPECT_TRUE(d.reset);
  EXPECT_TRUE(s.failures.empty());
  EXPECT_EQ(s.last_success, t) << "the time itself stays to the minute";
}

}  // namespace
}  // namespace vigil
