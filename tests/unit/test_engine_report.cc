// Report mode ([daemon] mode = "report"; engine.h, "Report mode"): each
// scenario runs in both modes. The state recorded is the same in both; only
// the answer differs, and only where enforce mode refuses a right password,
// a missing factor, the account phase or a token because of a block.
#include "tests/unit/engine_flow.h"

namespace vigil::flow {
namespace {

class ReportMode : public EngineFlowP<DaemonMode> {
 protected:
  void SetUp() override {
    EngineFlow::SetUp();
    mode_ = GetParam();
  }
  bool reporting() const { return GetParam() == DaemonMode::kReport; }
  // What report mode says it did not enforce: `reason` there, nothing here.
  std::string waived(const std::string& reason) const { return reporting() ? reason : std::string(); }

  AccountVerdict account_phase(int64_t uid) {
    RuleInput in{user_name(uid), {}, "sshd", device::parse_source("203.0.113.7"), "ssh", false};
    auto v = call<Result<AccountVerdict>>(
        [&](auto done) { engine().account(uid, "", 0, in, false, done); });
    EXPECT_TRUE(v.ok());
    return v.ok() ? *v : AccountVerdict{};
  }
  BlockResult block(int64_t uid, bool admin) {
    return call<BlockResult>(
        [&](auto done) { engine().block(uid, user_name(uid), "test", "root", admin, done); });
  }
  TokenIssueResult issue(int64_t owner, int64_t by) {
    TokenIssueRequest q;
    q.owner_uid = owner;
    q.owner = user_name(owner);
    q.name = "svc";
    q.scopes = {"api"};
    q.by_uid = by;
    q.by = user_name(by);
    return call<TokenIssueResult>([&](auto done) { engine().token_issue(q, done); });
  }
  TokenCheckResult check(const std::string& secret) {
    return call<TokenCheckResult>(
        [&](auto done) { engine().token_check(tokens::hash_token(secret), "api", done); });
  }
  NotEnforcedLog not_enforced() {
    auto o = call<Result<Overview>>([&](auto done) { engine().overview(done); });
    EXPECT_TRUE(o.ok());
    return o.ok() ? o->not_enforced : NotEnforcedLog{};
  }
  void fail(int64_t uid, int n, const std::string& rhost = "203.0.113.7") {
    for (int i = 0; i < n; ++i) {
      auto r = report(login(uid, Outcome::kFailure, {}, rhost));
      EXPECT_FALSE(r.decision.allow) << "a wrong password fails in both modes";
      EXPECT_EQ(r.not_enforced, "");
    }
  }
};

INSTANTIATE_TEST_SUITE_P(Modes, ReportMode, ::testing::Values(DaemonMode::kEnforce, DaemonMode::kReport),
                         [](const auto& info) { return std::string(mode_name(info.param)); });

TEST_P(ReportMode, ALockIsRecordedTheSameAndEnforcedOnlyInEnforceMode) {
  fail(1001, 3);
  ASSERT_TRUE(locked(account_key(1001)));
  auto r = report(login(1001, Outcome::kSuccess, {}, "203.0.113.7"));
  EXPECT_EQ(r.decision.allow, reporting());
  EXPECT_TRUE(r.decision.refused_locked) << "decided as in enforce mode";
  EXPECT_EQ(r.not_enforced, waived("locked"));
  // Recorded as in enforce mode: still locked, the refusal counted, the
  // success not applied (the failures stay).
  auto b = bucket(account_key(1001));
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->state.locked_at(clock_.now()));
  EXPECT_EQ(b->state.refused, 1);
  EXPECT_EQ(b->state.failures.size(), 3u);
  // A wrong password while locked still fails.
  fail(1001, 1);
}

TEST_P(ReportMode, ABlockIsRecordedTheSameAndEnforcedOnlyInEnforceMode) {
  ASSERT_TRUE(block(1001, false).changed);
  auto r = report(login(1001, Outcome::kSuccess));
  EXPECT_TRUE(r.blocked);
  EXPECT_EQ(r.decision.allow, reporting());
  EXPECT_EQ(r.not_enforced, waived("blocked"));
  EXPECT_TRUE(view(1001).block.has_value());
  auto v = account_phase(1001);
  EXPECT_EQ(v.blocked, !reporting());
  EXPECT_EQ(v.not_enforced, waived("account phase: blocked"));
}

TEST_P(ReportMode, ADenyRuleIsEnforcedOnlyInEnforceMode) {
  Rule deny;
  deny.users = {user_name(1001)};
  deny.action = RuleAction::kDeny;
  deny.line = 7;
  devices_.rules.push_back(deny);
  auto r = report(login(1001, Outcome::kSuccess));
  EXPECT_EQ(r.denied_by_rule, 7);
  EXPECT_EQ(r.decision.allow, reporting());
  EXPECT_EQ(r.not_enforced, waived("deny rule at line 7"));
  auto v = account_phase(1001);
  EXPECT_EQ(v.denied_by_rule, reporting() ? 0 : 7);
  EXPECT_EQ(v.not_enforced, waived("account phase: deny rule at line 7"));
}

TEST_P(ReportMode, AThrottledSourceIsEnforcedOnlyInEnforceMode) {
  throttle_.deny = 2;
  fail(2001, 1, "198.51.100.4");
  fail(2002, 1, "198.51.100.4");
  auto r = report(login(1001, Outcome::kSuccess, {}, "198.51.100.4"));
  EXPECT_TRUE(r.throttled);
  EXPECT_EQ(r.decision.allow, reporting());
  EXPECT_EQ(r.not_enforced, waived("source throttled"));
  EXPECT_TRUE(locked("src:198.51.100.4"));
}

TEST_P(ReportMode, StuffingBlocksInBothModes) {
  block_.attack_sources = 3;
  lockout_.deny = 10;
  for (const char* src : {"203.0.113.1", "203.0.113.2", "203.0.113.3"}) fail(1001, 1, src);
  auto r = report(login(1001, Outcome::kSuccess, {}, "203.0.113.4"));
  EXPECT_TRUE(r.blocked_now);
  EXPECT_EQ(r.decision.allow, reporting());
  EXPECT_EQ(r.not_enforced, waived("blocked now (credential stuffing)"));
  EXPECT_TRUE(view(1001).block.has_value());
}

// A factor the policy requires and the account lacks: refused when enforced.
TEST_P(ReportMode, AMissingRequiredFactorRefusesOnlyInEnforceMode) {
  totp_.require = TotpRequire::kAll;
  ReportRequest q = login(1001, Outcome::kSuccess);
  q.totp_required = true;
  auto r = report(q);
  ASSERT_TRUE(r.verify) << "the host prompts; the engine decides at the code";
  auto v = verify(q, "");
  EXPECT_EQ(v.allow, reporting());
  EXPECT_EQ(v.not_enforced, waived("second factor required, none enrolled"));
}

// An enrolled factor is checked in both modes: a wrong code is a wrong
// credential.
TEST_P(ReportMode, AnEnrolledFactorIsCheckedInBothModes) {
  const Bytes secret = enrol(1001);
  ReportRequest q = login(1001, Outcome::kSuccess);
  ASSERT_TRUE(report(q).verify);
  auto wrong = verify(q, wrong_code(secret, clock_.now()));
  EXPECT_FALSE(wrong.allow);
  EXPECT_TRUE(wrong.counted);
  q = login(1001, Outcome::kSuccess);
  ASSERT_TRUE(report(q).verify);
  EXPECT_TRUE(verify(q, code_at(secret, clock_.now())).allow);
}

// Locked and with a factor: report mode still asks for the code, and lets
// in only the right one; the lock stays.
TEST_P(ReportMode, ALockedAccountWithAFactorStillNeedsItsCode) {
  const Bytes secret = enrol(1001);
  fail(1001, 3);
  ReportRequest q = login(1001, Outcome::kSuccess);
  auto r = report(q);
  EXPECT_EQ(r.verify, reporting());
  EXPECT_FALSE(r.decision.allow);
  if (!reporting()) return;
  EXPECT_FALSE(verify(q, wrong_code(secret, clock_.now())).allow);
  q = login(1001, Outcome::kSuccess);
  ASSERT_TRUE(report(q).verify);
  EXPECT_TRUE(verify(q, code_at(secret, clock_.now())).allow);
  EXPECT_TRUE(locked(account_key(1001))) << "a waived login's success is not applied";
}

// Past the code budget enforce mode checks no code; report mode checks it
// (a right one passes) and counts no wrong one.
TEST_P(ReportMode, TheCodeBudgetIsEnforcedOnlyInEnforceMode) {
  const Bytes secret = enrol(1001);
  auto attempt = [&](const std::string& code) {
    ReportRequest q = login(1001, Outcome::kSuccess);
    q.root_caller = false;  // the limit then locks (it would block from root's unknown device)
    auto r = report(q);
    if (!r.verify) return r.decision.allow;
    return verify(q, code).allow;
  };
  for (int i = 0; i < totp_.max_failures; ++i) EXPECT_FALSE(attempt(wrong_code(secret, clock_.now())));
  EXPECT_EQ(view(1001).otp_failures, totp_.max_failures);
  EXPECT_FALSE(attempt(wrong_code(secret, clock_.now())));
  EXPECT_EQ(view(1001).otp_failures, totp_.max_failures);
  EXPECT_EQ(attempt(code_at(secret, clock_.now())), reporting());
  EXPECT_EQ(not_enforced().counts["code budget exhausted"] > 0, reporting());
}

// A block in report mode revokes, suspends and freezes nothing and ends no
// session; a token check is not refused because of it.
TEST_P(ReportMode, ABlockTouchesTokensAndSessionsOnlyInEnforceMode) {
  int ended = 0;
  engine().on_blocked([&](int64_t, std::string) { ++ended; });
  auto own = issue(1001, 0);
  auto issued = issue(1002, 1001);
  ASSERT_TRUE(own.status.ok() && issued.status.ok());
  ASSERT_TRUE(block(1001, true).changed);
  EXPECT_EQ(ended, reporting() ? 0 : 1);
  auto listing = call<Result<TokenListing>>([&](auto done) { engine().token_list(done); });
  ASSERT_TRUE(listing.ok());
  EXPECT_EQ(listing->freezes.empty(), reporting());
  for (const auto& t : listing->tokens)
    EXPECT_EQ(t.state, reporting() ? tokens::State::kActive : tokens::State::kRevoked) << t.accessor;
  auto c = check(issued.secret);
  EXPECT_EQ(c.verdict, reporting() ? tokens::Verdict::kValid : tokens::Verdict::kFrozen);
  c = check(own.secret);
  EXPECT_EQ(c.verdict, reporting() ? tokens::Verdict::kValid : tokens::Verdict::kFrozen);
  EXPECT_EQ(c.not_enforced, waived("token owner blocked"));
  EXPECT_EQ(not_enforced().counts["block: tokens and sessions untouched"], reporting() ? 1 : 0);
}

TEST_P(ReportMode, WhatWasNotEnforcedIsCounted) {
  fail(1001, 3);
  report(login(1001, Outcome::kSuccess, {}, "203.0.113.7"));
  report(login(1001, Outcome::kSuccess, {}, "203.0.113.7"));
  block(1002, false);
  account_phase(1002);
  auto log = not_enforced();
  if (!reporting()) {
    EXPECT_TRUE(log.counts.empty());
    EXPECT_TRUE(log.latest.empty());
    return;
  }
  EXPECT_EQ(log.counts["locked"], 2);
  EXPECT_EQ(log.counts["account phase: blocked"], 1);
  ASSERT_FALSE(log.latest.empty());
  EXPECT_EQ(log.latest.back().user, user_name(1002));
  EXPECT_EQ(log.latest.back().reason, "account phase: blocked");
  EXPECT_EQ(log.latest.front().user, user_name(1001));
  EXPECT_EQ(log.latest.front().source, "203.0.113.7");
  EXPECT_EQ(log.latest.front().at, clock_.now());
}

// A reload back to enforce: what report mode recorded takes effect.
using ReportModeReload = EngineFlow;
TEST_F(ReportModeReload, ALockRecordedInReportModeTakesEffectInEnforceMode) {
  mode_ = DaemonMode::kReport;
  for (int i = 0; i < 3; ++i) report(login(1001, Outcome::kFailure));
  EXPECT_TRUE(report(login(1001, Outcome::kSuccess)).decision.allow);
  engine().set_config(lockout_, totp_, devices_, block_, throttle_, tokens_, DaemonMode::kEnforce);
  EXPECT_FALSE(report(login(1001, Outcome::kSuccess)).decision.allow);
}

}  // namespace
}  // namespace vigil::flow
