// The lockout policy, table-driven, with time passed in (no clock).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "daemon/policy.h"

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
  expire(s, cfg, t + seconds(349));
  EXPECT_EQ(s.lock_count, 1);
  expire(s, cfg, t + seconds(350));
  EXPECT_EQ(s.lock_count, 0);
  EXPECT_TRUE(is_idle(s, t + seconds(350)));
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

}  // namespace
}  // namespace vigil
