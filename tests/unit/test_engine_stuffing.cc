// Blocks: only signs of compromise block an account. Credential stuffing
// that succeeded (the right password from an unknown device, vouched for by
// root, for an account that needs no code, after failures from [block]
// attack_sources other unknown sources) is refused and blocks; wrong
// passwords alone only lock, unless [block] escalate_after_locks opts in.
// (vigil.conf(5) [block]; the code-limit block is in test_engine_totp.cc.)
#include "tests/unit/engine_flow.h"

namespace vigil::flow {
namespace {

class StuffingFlow : public EngineFlow {
 protected:
  void SetUp() override {
    EngineFlow::SetUp();
    lockout_.deny = 10;  // no lock gets in the way of the rule
    block_.attack_sources = 3;
  }
  // alice's wrong passwords from these sources (no device).
  void fail_from(const std::vector<std::string>& rhosts) {
    for (const auto& rhost : rhosts) {
      auto r = report(login(1001, Outcome::kFailure, "", rhost));
      ASSERT_TRUE(r.decision.counted) << rhost;
    }
  }
  std::optional<BlockRecord> block_of(int64_t uid) { return view(uid).block; }
  AccountVerdict account_phase(int64_t uid, std::string device, bool console) {
    auto v = call<Result<AccountVerdict>>([&](auto done) {
      engine().account(uid, std::move(device), 0, RuleInput{}, console, done);
    });
    EXPECT_TRUE(v.ok());
    return v.ok() ? *v : AccountVerdict{};
  }
};

template <class P>
class StuffingFlowP : public StuffingFlow, public ::testing::WithParamInterface<P> {};

struct StuffingCase {
  const char* name;
  std::vector<std::string> failing;
  const char* success_from;
  bool root_caller;
  bool console;
  std::chrono::seconds wait;  // between the failures and the right password
  bool blocks;
};
class Stuffing : public StuffingFlowP<StuffingCase> {};
TEST_P(Stuffing, TheRightPasswordAfterFailuresFromEnoughSourcesBlocks) {
  const auto& c = GetParam();
  fail_from(c.failing);
  clock_.advance(c.wait);
  auto r = login(1001, Outcome::kSuccess, "", c.success_from);
  r.root_caller = c.root_caller;
  if (c.console) {
    r.rhost = r.source = "";
    r.device = "tty:login@tty1";
    r.tty = "tty1";
    r.console = r.exempt = true;
  }
  auto res = report(r);
  EXPECT_EQ(res.blocked, c.blocks);
  EXPECT_EQ(res.blocked_now, c.blocks);
  EXPECT_EQ(res.decision.allow, !c.blocks);
  auto b = block_of(1001);
  ASSERT_EQ(b.has_value(), c.blocks);
  if (b) {
    EXPECT_NE(b->reason.find("credential stuffing"), std::string::npos) << b->reason;
    EXPECT_EQ(b->by, "vigild");
  }
}
const std::vector<std::string> kThree = {"203.0.113.1", "203.0.113.2", "203.0.113.3"};
INSTANTIATE_TEST_SUITE_P(
    Table, Stuffing,
    ::testing::Values(
        //           name, failing sources, right password from, root, console, wait, blocks
        StuffingCase{"ThreeSourcesThenANewOne", kThree, "203.0.113.4", true, false, 0s, true},
        StuffingCase{"TwoSources", {"203.0.113.1", "203.0.113.2"}, "203.0.113.4", true, false, 0s, false},
        StuffingCase{"OneSourceThreeTimes", {"203.0.113.1", "203.0.113.1", "203.0.113.1"}, "203.0.113.4", true,
                     false, 0s, false},
        StuffingCase{"FromOneOfTheThree", kThree, "203.0.113.3", true, false, 0s, false},
        StuffingCase{"FromOneOfFour", {"203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.5"},
                     "203.0.113.5", true, false, 0s, true},
        StuffingCase{"ReportedByTheUsersOwnProcess", kThree, "203.0.113.4", false, false, 0s, false},
        StuffingCase{"OnTheConsole", kThree, "", true, true, 0s, false},
        StuffingCase{"FailuresOutsideFailInterval", kThree, "203.0.113.4", true, false, 12h + 1s, false},
        StuffingCase{"LocalFailures", {"", "", ""}, "203.0.113.4", true, false, 0s, false},
        StuffingCase{"OneIPv6Slash64", {"2001:db8:0:1::1", "2001:db8:0:1::2", "2001:db8:0:1::3"},
                     "203.0.113.4", true, false, 0s, false},
        StuffingCase{"ThreeIPv6Slash64s", {"2001:db8:0:1::1", "2001:db8:0:2::1", "2001:db8:0:3::1"},
                     "203.0.113.4", true, false, 0s, true}),
    [](const auto& i) { return std::string(i.param.name); });

TEST_F(StuffingFlow, NotFromAKnownDevice) {
  const std::string dev = "ssh:SHA256:owner-key";
  ASSERT_TRUE(complete_login(login(1001, Outcome::kSuccess, dev, "198.51.100.4")));
  fail_from(kThree);
  auto r = report(login(1001, Outcome::kSuccess, dev, "198.51.100.4"));
  EXPECT_TRUE(r.known_device);
  EXPECT_TRUE(r.decision.allow);
  EXPECT_FALSE(r.blocked);
  EXPECT_FALSE(block_of(1001).has_value());
}

// With a second factor the right password is not enough to get in, so it
// is no sign by itself: the code decides (wrong codes block, see
// test_engine_totp.cc).
TEST_F(StuffingFlow, NotWhenTheAccountNeedsACode) {
  const Bytes secret = enrol(1001);
  fail_from(kThree);
  auto r = login(1001, Outcome::kSuccess, "", "203.0.113.4");
  auto res = report(r);
  EXPECT_FALSE(res.blocked);
  EXPECT_TRUE(res.verify);
  EXPECT_TRUE(verify(r, code_at(secret, clock_.now())).allow);
  EXPECT_FALSE(block_of(1001).has_value());
}

// On a host that asks every login for a code (here: another account has a
// factor), the refusal that blocks carries the prompt a wrong password
// carries: the module then asks for a code on both, and the missing prompt
// cannot tell the attacker that the password was right.
TEST_F(StuffingFlow, TheRefusalPromptsLikeAWrongPassword) {
  enrol(1002);
  fail_from(kThree);
  auto wrong = report(login(1001, Outcome::kFailure, "", "203.0.113.5"));
  auto res = report(login(1001, Outcome::kSuccess, "", "203.0.113.4"));
  ASSERT_TRUE(res.blocked_now);
  EXPECT_FALSE(res.decision.allow);
  EXPECT_TRUE(wrong.prompt);
  EXPECT_EQ(res.prompt, wrong.prompt);
}

// A block refuses every password login and the account phase, from known
// devices too, and freezes the factor; the console stays the way in. It
// lasts until recovery, however long.
TEST_F(StuffingFlow, ABlockRefusesAllButTheConsoleAndNeverExpires) {
  const std::string dev = "ssh:SHA256:owner-key";
  ASSERT_TRUE(complete_login(login(1001, Outcome::kSuccess, dev, "198.51.100.4")));
  fail_from(kThree);
  ASSERT_TRUE(report(login(1001, Outcome::kSuccess, "", "203.0.113.4")).blocked_now);
  for (int day : {0, 400}) {
    clock_.advance(std::chrono::days(day));
    auto known = report(login(1001, Outcome::kSuccess, dev, "198.51.100.4"));
    EXPECT_TRUE(known.blocked) << day;
    EXPECT_FALSE(known.blocked_now) << day;
    EXPECT_FALSE(known.decision.allow) << day;
    EXPECT_TRUE(account_phase(1001, dev, false).blocked) << "key logins too";
    EXPECT_FALSE(account_phase(1001, "tty:login@tty1", true).blocked);
    auto console = login(1001, Outcome::kSuccess, "tty:login@tty1");
    console.tty = "tty1";
    console.console = console.exempt = true;
    EXPECT_TRUE(report(console).decision.allow) << day;
    auto enrol = totp(TotpOp::kEnroll, 1001, true);
    ASSERT_FALSE(enrol.status.ok());
    EXPECT_TRUE(enrol.status.error().is_refused()) << "the factor is frozen, even for root";
  }
  EXPECT_TRUE(block_of(1001).has_value());
}

// Wrong passwords alone, from many sources and lock after lock, never block
// (escalate_after_locks is off by default).
TEST_F(StuffingFlow, WrongPasswordsAloneNeverBlock) {
  lockout_.deny = 3;
  for (int round = 0; round < 6; ++round) {
    for (int i = 0; i < lockout_.deny + 2; ++i) {
      const std::string ip = "203.0.113." + std::to_string(1 + i);
      auto r = report(login(1001, Outcome::kFailure, "", ip));
      EXPECT_FALSE(r.blocked);
    }
    ASSERT_TRUE(locked(account_key(1001))) << round;
    clock_.advance(lockout_.max_unlock_time);
  }
  EXPECT_FALSE(block_of(1001).has_value());
  EXPECT_FALSE(report(login(1001, Outcome::kFailure, "", "203.0.113.1")).blocked);
}

// [block] escalate_after_locks = 2: locks of the unknown-device bucket in a
// row, reported by root, block; a root-reported success in between starts
// the count again; the user's own reports and known devices never count.
// Events: L a lock by wrong passwords via sshd, S a complete login via sshd,
// U a lock by the user's own process, K a lock of a known device's bucket.
struct EscalationCase {
  const char* name;
  const char* events;
  bool blocked;
};
class Escalation : public StuffingFlowP<EscalationCase> {};
TEST_P(Escalation, BlocksAfterLocksInARowOnly) {
  lockout_.deny = 3;
  block_.escalate_after_locks = 2;
  const std::string dev = "ssh:SHA256:owner-key";
  ASSERT_TRUE(complete_login(login(1001, Outcome::kSuccess, dev)));
  for (const char* e = GetParam().events; *e; ++e) {
    std::string key = account_key(1001);
    if (*e == 'S') {
      ASSERT_TRUE(complete_login(login(1001, Outcome::kSuccess, "", "203.0.113.1"))) << *e;
      continue;
    }
    for (int i = 0; i < lockout_.deny; ++i) {
      auto r = *e == 'K' ? login(1001, Outcome::kFailure, dev)
                         : login(1001, Outcome::kFailure, "", "203.0.113.1");
      r.root_caller = *e != 'U';
      report(r);
    }
    if (*e == 'K') key = known_key(1001, dev);
    auto b = bucket(key);
    ASSERT_TRUE(b && b->state.locked_at(clock_.now())) << *e;
    clock_.advance(b->state.locked_until - clock_.now());  // just served: no decay
  }
  auto v = view(1001);
  EXPECT_EQ(v.block.has_value(), GetParam().blocked);
  if (v.block) {
    EXPECT_NE(v.block->reason.find("locks in a row"), std::string::npos) << v.block->reason;
  }
  EXPECT_EQ(report(login(1001, Outcome::kSuccess, "", "203.0.113.1")).blocked, GetParam().blocked);
}
INSTANTIATE_TEST_SUITE_P(Table, Escalation,
                         ::testing::Values(EscalationCase{"OneLock", "L", false},
                                           EscalationCase{"TwoLocks", "LL", true},
                                           EscalationCase{"SuccessBetween", "LSL", false},
                                           EscalationCase{"SuccessThenTwo", "LSLL", true},
                                           EscalationCase{"OwnProcess", "UU", false},
                                           EscalationCase{"KnownDevice", "KK", false}),
                         [](const auto& i) { return std::string(i.param.name); });

}  // namespace
}  // namespace vigil::flow
