// The engine's second factor: enrolment, the code after a right password,
// replays, the window, the wrong-code budget and what its limit does.
// (engine.h, "Second factor"; vigil.conf(5) [totp] and [block].)
#include "tests/unit/engine_flow.h"

namespace vigil::flow {
namespace {

// The oracle itself, against RFC 6238 appendix B (SHA-1, last 6 digits) and
// RFC 4648's base32.
TEST(Oracle, MatchesTheRfcVectors) {
  const std::string s = "12345678901234567890";
  const Bytes secret(s.begin(), s.end());
  EXPECT_EQ(base32_decode("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"), secret);
  EXPECT_EQ(code_at(secret, from_epoch(59)), "287082");
  EXPECT_EQ(code_at(secret, from_epoch(1111111109)), "081804");
  EXPECT_EQ(code_at(secret, from_epoch(2000000000)), "279037");
  const std::string w = wrong_code(secret, from_epoch(1111111109));
  EXPECT_EQ(w.size(), 6u);
  EXPECT_NE(w, "081804");
}

using TotpFlow = EngineFlow;

TEST_F(TotpFlow, AnEnrolmentCountsOnlyOnceConfirmed) {
  auto e = totp(TotpOp::kEnroll, 1001, true);
  ASSERT_TRUE(e.status.ok());
  EXPECT_EQ(e.secret_b32.size(), 32u);
  EXPECT_NE(e.uri.find("secret=" + e.secret_b32), std::string::npos);
  const Bytes secret = base32_decode(e.secret_b32);
  auto v = view(1001);
  EXPECT_TRUE(v.totp_pending);
  EXPECT_FALSE(v.totp_active);
  // A pending factor asks nothing yet: the password alone logs in.
  auto r = report(login(1001, Outcome::kSuccess));
  EXPECT_FALSE(r.prompt);
  EXPECT_FALSE(r.verify);
  EXPECT_TRUE(r.decision.allow);

  auto bad = totp(TotpOp::kConfirm, 1001, true, wrong_code(secret, clock_.now()));
  ASSERT_FALSE(bad.status.ok());
  EXPECT_TRUE(bad.status.error().is_refused());
  EXPECT_FALSE(view(1001).totp_active);

  auto good = totp(TotpOp::kConfirm, 1001, true, code_at(secret, clock_.now()));
  ASSERT_TRUE(good.status.ok());
  v = view(1001);
  EXPECT_TRUE(v.totp_active);
  EXPECT_FALSE(v.totp_pending);
  clock_.advance(30s);
  // Now the right password leaves a challenge and is not yet a login.
  r = report(login(1001, Outcome::kSuccess));
  EXPECT_TRUE(r.prompt);
  EXPECT_TRUE(r.verify);
  EXPECT_FALSE(r.decision.allow);
}

struct EnrolCase {
  const char* name;
  bool root_caller;
  bool password_proven;
  bool locked_first;  // the account is locked by wrong passwords
  bool allowed;
};
class SelfEnrolment : public EngineFlowP<EnrolCase> {};
TEST_P(SelfEnrolment, NeedsThePasswordOrRootAndNoLock) {
  const auto& c = GetParam();
  if (c.locked_first) {
    for (int i = 0; i < lockout_.deny; ++i) report(login(1001, Outcome::kFailure));
    ASSERT_TRUE(locked(account_key(1001)));
  }
  auto r = totp(TotpOp::kEnroll, 1001, c.root_caller, {}, c.password_proven);
  EXPECT_EQ(r.status.ok(), c.allowed);
  if (!r.status.ok()) {
    EXPECT_TRUE(r.status.error().is_refused());
  }
  EXPECT_EQ(!r.secret_b32.empty(), c.allowed);
  EXPECT_EQ(view(1001).totp_pending, c.allowed);
}
INSTANTIATE_TEST_SUITE_P(
    Table, SelfEnrolment,
    ::testing::Values(EnrolCase{"UserWithoutPassword", false, false, false, false},
                      EnrolCase{"UserWithPassword", false, true, false, true},
                      EnrolCase{"Root", true, false, false, true},
                      EnrolCase{"UserWhileLocked", false, true, true, false},
                      EnrolCase{"RootWhileLocked", true, false, true, true}),
    [](const auto& i) { return std::string(i.param.name); });

TEST_F(TotpFlow, ARightCodeCompletesTheLoginAndTheChallengeIsUsedUp) {
  const Bytes secret = enrol(1001);
  auto r = login(1001, Outcome::kSuccess);
  ASSERT_TRUE(report(r).verify);
  auto v = verify(r, code_at(secret, clock_.now()));
  EXPECT_TRUE(v.status.ok());
  EXPECT_TRUE(v.allow);
  EXPECT_FALSE(v.counted);
  // The challenge was one use: the same call cannot verify again.
  clock_.advance(30s);
  v = verify(r, code_at(secret, clock_.now()));
  EXPECT_FALSE(v.allow);
  EXPECT_FALSE(v.counted);
  EXPECT_EQ(view(1001).otp_failures, 0);
}

TEST_F(TotpFlow, AWrongCodeIsRefusedAndCountedUntilARightOne) {
  const Bytes secret = enrol(1001);
  auto r = login(1001, Outcome::kSuccess);
  ASSERT_TRUE(report(r).verify);
  auto v = verify(r, wrong_code(secret, clock_.now()));
  EXPECT_FALSE(v.allow);
  EXPECT_TRUE(v.counted);
  EXPECT_FALSE(v.locked_now);
  EXPECT_FALSE(v.blocked_now);
  EXPECT_EQ(view(1001).otp_failures, 1);
  // A right code clears the count.
  EXPECT_TRUE(complete_login(login(1001, Outcome::kSuccess), &secret));
  EXPECT_EQ(view(1001).otp_failures, 0);
}

TEST_F(TotpFlow, ACodeAfterAWrongPasswordIsNeitherCheckedNorUsedUp) {
  const Bytes secret = enrol(1001);
  const std::string code = code_at(secret, clock_.now());
  auto f = login(1001, Outcome::kFailure);
  auto fr = report(f);
  EXPECT_TRUE(fr.prompt) << "the host asks for a code after a wrong password too";
  EXPECT_FALSE(fr.verify);
  auto v = verify(f, code);
  EXPECT_FALSE(v.allow);
  EXPECT_FALSE(v.counted);
  EXPECT_EQ(view(1001).otp_failures, 0);
  // The step was not consumed: the same code still works after the right password.
  auto r = login(1001, Outcome::kSuccess);
  ASSERT_TRUE(report(r).verify);
  EXPECT_TRUE(verify(r, code).allow);
}

TEST_F(TotpFlow, TheConfirmingCodeIsNotAcceptedAgainAtLogin) {
  auto e = totp(TotpOp::kEnroll, 1001, true);
  const Bytes secret = base32_decode(e.secret_b32);
  const std::string code = code_at(secret, clock_.now());
  ASSERT_TRUE(totp(TotpOp::kConfirm, 1001, true, code).status.ok());
  auto r = login(1001, Outcome::kSuccess);
  ASSERT_TRUE(report(r).verify);
  auto v = verify(r, code);
  EXPECT_FALSE(v.allow);
  EXPECT_TRUE(v.counted) << "a replay counts as a wrong code";
}

// After a code of the current step was accepted, a second login at the same
// moment offers the code of step now+offset.
struct ReplayCase {
  const char* name;
  int offset;
  bool accepted;
};
class Replay : public EngineFlowP<ReplayCase> {};
TEST_P(Replay, AStepOnceAcceptedAndEveryEarlierOneAreRefused) {
  const Bytes secret = enrol(1001);
  clock_.advance(5 * 30s);
  auto first = login(1001, Outcome::kSuccess);
  ASSERT_TRUE(report(first).verify);
  ASSERT_TRUE(verify(first, code_at(secret, clock_.now())).allow);
  auto second = login(1001, Outcome::kSuccess);
  ASSERT_TRUE(report(second).verify);
  auto v = verify(second, code_at(secret, clock_.now() + GetParam().offset * 30s));
  EXPECT_EQ(v.allow, GetParam().accepted);
  EXPECT_EQ(v.counted, !GetParam().accepted);
  EXPECT_EQ(view(1001).otp_failures, GetParam().accepted ? 0 : 1);
}
INSTANTIATE_TEST_SUITE_P(Table, Replay,
                         ::testing::Values(ReplayCase{"SameCode", 0, false},
                                           ReplayCase{"EarlierStep", -1, false},
                                           ReplayCase{"LaterStep", 1, true}),
                         [](const auto& i) { return std::string(i.param.name); });

struct WindowCase {
  int window;
  int offset;  // steps from now
  bool accepted;
};
class Window : public EngineFlowP<WindowCase> {};
TEST_P(Window, AcceptsStepsWithinTheWindowOnly) {
  const auto& c = GetParam();
  totp_.window = c.window;
  const Bytes secret = enrol(1001);
  clock_.advance(10 * 30s);  // every step tried is later than the confirming one
  auto r = login(1001, Outcome::kSuccess);
  ASSERT_TRUE(report(r).verify);
  auto v = verify(r, code_at(secret, clock_.now() + c.offset * 30s));
  EXPECT_EQ(v.allow, c.accepted) << "window " << c.window << ", offset " << c.offset;
  EXPECT_EQ(v.counted, !c.accepted);
}
INSTANTIATE_TEST_SUITE_P(Table, Window,
                         ::testing::Values(WindowCase{0, 0, true}, WindowCase{0, -1, false},
                                           WindowCase{0, 1, false}, WindowCase{1, -1, true},
                                           WindowCase{1, 1, true}, WindowCase{1, -2, false},
                                           WindowCase{1, 2, false}, WindowCase{2, -2, true},
                                           WindowCase{2, 2, true}, WindowCase{2, 3, false}),
                         [](const auto& i) {
                           const int o = i.param.offset;
                           return "Window" + std::to_string(i.param.window) + (o < 0 ? "Minus" : "Plus") +
                                  std::to_string(o < 0 ? -o : o);
                         });

// Two logins with one right password each, and one code: exactly one wins.
TEST_F(TotpFlow, ParallelLoginsWithOneCodeLetOneIn) {
  const Bytes secret = enrol(1001);
  auto a = login(1001, Outcome::kSuccess), b = login(1001, Outcome::kSuccess);
  ASSERT_TRUE(report(a).verify);
  ASSERT_TRUE(report(b).verify);
  const std::string code = code_at(secret, clock_.now());
  const bool first = verify(a, code).allow, second = verify(b, code).allow;
  EXPECT_TRUE(first);
  EXPECT_FALSE(second);
}

// Below [totp] max_failures nothing happens to the account, and a right code
// starts the count again. From an unknown device, reported by root (sshd):
// the strictest case, where the limit would block.
TEST_F(TotpFlow, BelowTheLimitWrongCodesOnlyCountAndARightOneResetsThem) {
  totp_.max_failures = 3;
  const Bytes secret = enrol(1001);
  // No device (as for a name-only rhost): never known, even after a login.
  auto from_unknown = [&](Outcome o) { return login(1001, o, "", "203.0.113.50"); };
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < totp_.max_failures - 1; ++i) {
      auto r = from_unknown(Outcome::kSuccess);
      ASSERT_TRUE(report(r).verify);
      auto v = verify(r, wrong_code(secret, clock_.now()));
      EXPECT_TRUE(v.counted);
      EXPECT_FALSE(v.locked_now);
      EXPECT_FALSE(v.blocked_now);
    }
    EXPECT_EQ(view(1001).otp_failures, totp_.max_failures - 1);
    EXPECT_TRUE(complete_login(from_unknown(Outcome::kSuccess), &secret));
    EXPECT_EQ(view(1001).otp_failures, 0);
  }
  EXPECT_FALSE(view(1001).block.has_value());
  EXPECT_FALSE(locked(account_key(1001)));
}

// At the limit the code is not even checked, also once the lock it caused
// is over, until the wrong codes age out of [lockout] fail_interval. (The
// user's own process reports here: its limit locks, never blocks.)
TEST_F(TotpFlow, AtTheLimitCodesAreNotCheckedUntilTheWrongOnesAgeOut) {
  totp_.max_failures = 3;
  const Bytes secret = enrol(1001);
  auto own = [&](Outcome o) {
    auto r = login(1001, o);
    r.root_caller = false;
    return r;
  };
  for (int i = 0; i < totp_.max_failures; ++i) {
    auto r = own(Outcome::kSuccess);
    ASSERT_TRUE(report(r).verify);
    auto v = verify(r, wrong_code(secret, clock_.now()));
    EXPECT_TRUE(v.counted);
    EXPECT_EQ(v.locked_now, i == totp_.max_failures - 1);
    EXPECT_FALSE(v.blocked_now);
  }
  auto refused = report(own(Outcome::kSuccess));
  EXPECT_TRUE(refused.decision.refused_locked);
  EXPECT_FALSE(refused.verify);

  clock_.advance(lockout_.unlock_time + 1s);
  auto r = own(Outcome::kSuccess);
  ASSERT_TRUE(report(r).verify) << "the lock is over";
  auto v = verify(r, code_at(secret, clock_.now()));
  EXPECT_FALSE(v.allow) << "the budget is spent: the right code is not checked";
  EXPECT_FALSE(v.counted);
  EXPECT_EQ(view(1001).otp_failures, totp_.max_failures);

  clock_.advance(lockout_.fail_interval);
  EXPECT_TRUE(complete_login(own(Outcome::kSuccess), &secret));
}

// What [totp] max_failures wrong codes do, by where they came from: from an
// unknown device, with sshd (root) vouching for the right password, the
// password is someone else's: block. From a known device, only that device's
// bucket locks; from the user's own process, the account locks (never a
// block); on the console, nothing locks.
enum class Effect { kNone, kBlock, kLockAccount, kLockDevice };
struct LimitCase {
  const char* name;
  bool root_caller;
  bool console;
  bool known;
  Effect effect;
};
class CodeLimit : public EngineFlowP<LimitCase> {};
TEST_P(CodeLimit, HasTheEffectOfWhereTheCodesCameFrom) {
  const auto& c = GetParam();
  totp_.max_failures = 3;
  const Bytes secret = enrol(1001);
  const std::string kDevice = "ssh:SHA256:owner-laptop";
  if (c.known) {
    ASSERT_TRUE(complete_login(login(1001, Outcome::kSuccess, kDevice, "198.51.100.4"), &secret));
  }
  auto attempt = [&] {
    ReportRequest r = c.known ? login(1001, Outcome::kSuccess, kDevice, "198.51.100.4")
                              : login(1001, Outcome::kSuccess, "net:sshd@203.0.113.50", "203.0.113.50");
    r.root_caller = c.root_caller;
    if (c.console) {
      r = login(1001, Outcome::kSuccess, "tty:login@tty1");
      r.tty = "tty1";
      r.service = "login";
      r.console = r.exempt = true;
    }
    return r;
  };
  for (int i = 0; i < totp_.max_failures; ++i) {
    auto r = attempt();
    auto rr = report(r);
    ASSERT_TRUE(rr.verify) << i;
    EXPECT_EQ(rr.known_device, c.known);
    auto v = verify(r, wrong_code(secret, clock_.now()));
    EXPECT_TRUE(v.counted);
    const bool last = i == totp_.max_failures - 1;
    EXPECT_EQ(v.blocked_now, last && c.effect == Effect::kBlock) << i;
    EXPECT_EQ(v.locked_now, last && (c.effect == Effect::kLockAccount || c.effect == Effect::kLockDevice)) << i;
  }
  auto v = view(1001);
  EXPECT_EQ(v.block.has_value(), c.effect == Effect::kBlock);
  if (v.block) {
    EXPECT_NE(v.block->reason.find("wrong second-factor codes"), std::string::npos);
  }
  EXPECT_EQ(locked(account_key(1001)), c.effect == Effect::kLockAccount);
  EXPECT_EQ(locked(known_key(1001, kDevice)), c.effect == Effect::kLockDevice);
  // Whatever the effect, the right code does not get in now (blocked,
  // locked, or, on the console, the budget is spent).
  EXPECT_FALSE(complete_login(attempt(), &secret));
}
INSTANTIATE_TEST_SUITE_P(
    Table, CodeLimit,
    ::testing::Values(LimitCase{"UnknownDeviceViaRoot", true, false, false, Effect::kBlock},
                      LimitCase{"UnknownDeviceOwnProcess", false, false, false, Effect::kLockAccount},
                      LimitCase{"KnownDevice", true, false, true, Effect::kLockDevice},
                      LimitCase{"Console", true, true, false, Effect::kNone}),
    [](const auto& i) { return std::string(i.param.name); });

// [totp] require without an enrolled factor: asked, then refused, except
// within [totp] grace (counted from the first login under the requirement)
// and on the console.
struct RequireCase {
  const char* name;
  std::chrono::seconds grace;
  bool console;
  std::chrono::seconds wait;  // after the account was first seen required
  bool allowed;
};
class RequiredFactor : public EngineFlowP<RequireCase> {};
TEST_P(RequiredFactor, RefusesWithoutEnrolmentOutsideGrace) {
  const auto& c = GetParam();
  totp_.require = TotpRequire::kAll;
  totp_.grace = c.grace;
  auto make = [&](Outcome o) {
    ReportRequest r = c.console ? login(1001, o, "tty:login@tty1")
                                : login(1001, o, "net:sshd@203.0.113.7", "203.0.113.7");
    if (c.console) r.console = r.exempt = true;
    r.totp_required = true;
    return r;
  };
  report(make(Outcome::kFailure));  // first seen required
  clock_.advance(c.wait);
  auto r = make(Outcome::kSuccess);
  auto rr = report(r);
  ASSERT_TRUE(rr.verify) << "asked for a code even without a factor";
  EXPECT_EQ(rr.in_grace, c.allowed);
  auto v = verify(r, "123456");
  EXPECT_EQ(v.allow, c.allowed);
  EXPECT_EQ(v.in_grace, c.allowed);
  EXPECT_FALSE(v.counted);
}
INSTANTIATE_TEST_SUITE_P(
    Table, RequiredFactor,
    ::testing::Values(RequireCase{"NoGrace", 0s, false, 0s, false},
                      RequireCase{"FirstDayOfGrace", 3600s, false, 0s, true},
                      RequireCase{"LastSecondOfGrace", 3600s, false, 3599s, true},
                      RequireCase{"GraceOver", 3600s, false, 3600s, false},
                      RequireCase{"ConsoleWithoutGrace", 0s, true, 0s, true}),
    [](const auto& i) { return std::string(i.param.name); });

TEST_F(TotpFlow, TheUserDisablesTheFactorOnlyWithACurrentCode) {
  const Bytes secret = enrol(1001);
  auto none = totp(TotpOp::kDisable, 1001, false);
  ASSERT_FALSE(none.status.ok());
  EXPECT_TRUE(none.status.error().is_refused());
  auto wrong = totp(TotpOp::kDisable, 1001, false, wrong_code(secret, clock_.now()));
  ASSERT_FALSE(wrong.status.ok());
  EXPECT_EQ(view(1001).otp_failures, 1) << "a wrong proof counts like a wrong code at login";
  EXPECT_TRUE(view(1001).totp_active);
  ASSERT_TRUE(totp(TotpOp::kDisable, 1001, false, code_at(secret, clock_.now())).status.ok());
  EXPECT_FALSE(view(1001).totp_active);
  // No factor left on the host: the password alone logs in again.
  auto r = report(login(1001, Outcome::kSuccess));
  EXPECT_FALSE(r.prompt);
  EXPECT_TRUE(r.decision.allow);
}

TEST_F(TotpFlow, ARecoveryCodeWorksOnce) {
  enrol(1001);
  auto rc = totp(TotpOp::kRecoveryCodes, 1001, true);
  ASSERT_TRUE(rc.status.ok());
  ASSERT_EQ(rc.codes.size(), 10u);
  auto r = login(1001, Outcome::kSuccess);
  ASSERT_TRUE(report(r).verify);
  auto v = verify(r, rc.codes[0]);
  EXPECT_TRUE(v.allow);
  EXPECT_TRUE(v.recovery_code);
  r = login(1001, Outcome::kSuccess);
  ASSERT_TRUE(report(r).verify);
  v = verify(r, rc.codes[0]);
  EXPECT_FALSE(v.allow);
  EXPECT_TRUE(v.counted);
  EXPECT_EQ(view(1001).recovery_codes, 9);
}

}  // namespace
}  // namespace vigil::flow
