// The per-source throttle (password spraying): failures from unknown devices
// count per source across all accounts; past [throttle] deny within window
// the source is refused for a ban that doubles with each offence up to
// max_ban_time and decays one ban per max_ban_time of quiet. IPv6 counts
// per /64, /56 (4 x deny) and /48 (16 x deny); DNS names share one bucket.
// No account is locked by it; known devices are exempt. (vigil.conf(5)
// [throttle]; device.h throttle_keys.)
#include "tests/unit/engine_flow.h"

namespace vigil::flow {
namespace {

constexpr auto kBan = 10min;
constexpr auto kMaxBan = 80min;

class ThrottleFlow : public EngineFlow {
 protected:
  void SetUp() override {
    EngineFlow::SetUp();
    lockout_.deny = 10;  // accounts stay unlocked unless a test says otherwise
    throttle_.deny = 3;
    throttle_.window = 10min;
    throttle_.ban_time = kBan;
    throttle_.max_ban_time = kMaxBan;
  }
  // A failure for a fresh unknown user name from rhost.
  ReportResult spray(const std::string& rhost) {
    return report(unknown_name("spray" + std::to_string(++sprayed_), rhost));
  }
  // alice's right password from rhost, from no device: is it throttled?
  bool throttled_from(const std::string& rhost) {
    auto r = report(login(1001, Outcome::kSuccess, "", rhost));
    EXPECT_NE(r.throttled, r.decision.allow) << rhost;
    return r.throttled;
  }
  // The ban of a source bucket from now, or 0.
  std::chrono::seconds ban_left(const std::string& key) {
    auto b = bucket(key);
    if (!b || !b->state.locked_at(clock_.now())) return 0s;
    return b->state.locked_until - clock_.now();
  }
  int sprayed_ = 0;
};

template <class P>
class ThrottleFlowP : public ThrottleFlow, public ::testing::WithParamInterface<P> {};

TEST_F(ThrottleFlow, FailuresAcrossAccountsThrottleTheSourceNotTheAccounts) {
  const std::string src = "203.0.113.9";
  EXPECT_FALSE(report(login(2001, Outcome::kFailure, "", src)).throttled);
  EXPECT_FALSE(report(login(2002, Outcome::kFailure, "", src)).throttled);
  EXPECT_FALSE(spray(src).throttled) << "the deny-th failure is counted, not refused";
  EXPECT_TRUE(locked("src:" + src));
  EXPECT_EQ(ban_left("src:" + src), kBan);

  EXPECT_TRUE(throttled_from(src)) << "even the right password, for another account";
  EXPECT_FALSE(throttled_from("203.0.113.10")) << "another source";
  EXPECT_FALSE(throttled_from("")) << "a local login has no source";
  // Throttled attempts are not counted against the account they name.
  for (int i = 0; i < lockout_.deny + 1; ++i) {
    auto r = report(login(1001, Outcome::kFailure, "", src));
    EXPECT_TRUE(r.throttled);
    EXPECT_FALSE(r.decision.counted);
  }
  EXPECT_EQ(failures(account_key(1001)), 0u);
  EXPECT_FALSE(locked(account_key(1001)));
  EXPECT_FALSE(locked(account_key(2001)));
  EXPECT_EQ(failures(account_key(2001)), 1u);
}

// Each ban, served in full and followed at once by deny more failures,
// doubles the next, up to max_ban_time.
TEST_F(ThrottleFlow, EachFurtherBanDoublesUpToTheMaximum) {
  const std::string src = "198.51.100.20";
  const std::vector<std::chrono::seconds> expected = {10min, 20min, 40min, 80min, 80min};
  for (size_t round = 0; round < expected.size(); ++round) {
    for (int i = 0; i < throttle_.deny; ++i) EXPECT_FALSE(spray(src).throttled) << round;
    EXPECT_EQ(ban_left("src:" + src), expected[round]) << round;
    clock_.advance(expected[round] - 1s);
    EXPECT_TRUE(throttled_from(src)) << round;
    clock_.advance(1s);
    EXPECT_FALSE(throttled_from(src)) << round;
  }
}

// After three bans (10, 20, 40 minutes), each max_ban_time of quiet from the
// end of the last forgets one doubling.
struct DecayCase {
  int quiet;  // multiples of max_ban_time after the last ban ended
  std::chrono::seconds next_ban;
};
class Decay : public ThrottleFlowP<DecayCase> {};
TEST_P(Decay, ForgetsOneBanPerMaxBanTimeOfQuiet) {
  const std::string src = "198.51.100.21";
  for (auto ban : {10min, 20min, 40min}) {
    for (int i = 0; i < throttle_.deny; ++i) spray(src);
    ASSERT_EQ(ban_left("src:" + src), std::chrono::seconds(ban));
    clock_.advance(ban);
  }
  clock_.advance(GetParam().quiet * kMaxBan);
  for (int i = 0; i < throttle_.deny; ++i) spray(src);
  EXPECT_EQ(ban_left("src:" + src), GetParam().next_ban);
}
INSTANTIATE_TEST_SUITE_P(Table, Decay,
                         ::testing::Values(DecayCase{0, 80min}, DecayCase{1, 40min}, DecayCase{2, 20min},
                                           DecayCase{3, 10min}, DecayCase{5, 10min}),
                         [](const auto& i) { return "Quiet" + std::to_string(i.param.quiet) + "MaxBans"; });

// deny failures must fall within the sliding window.
struct WindowCase {
  std::chrono::seconds gap;  // between consecutive failures
  bool throttled;
};
class SlidingWindow : public ThrottleFlowP<WindowCase> {};
TEST_P(SlidingWindow, CountsOnlyFailuresWithinIt) {
  const std::string src = "198.51.100.22";
  for (int i = 0; i < throttle_.deny; ++i) {
    if (i > 0) clock_.advance(GetParam().gap);
    spray(src);
  }
  EXPECT_EQ(throttled_from(src), GetParam().throttled);
}
INSTANTIATE_TEST_SUITE_P(Table, SlidingWindow,
                         ::testing::Values(WindowCase{0s, true}, WindowCase{299s, true},
                                           WindowCase{300s, false}, WindowCase{360s, false}),
                         [](const auto& i) { return "Gap" + std::to_string(i.param.gap.count()) + "s"; });

// Which failures share a bucket. [throttle] deny = 2 here: an address or
// /64 bans at 2, a /56 at 8, a /48 at 32.
std::vector<std::string> repeat(const std::string& s, int n) { return std::vector<std::string>(n, s); }
// One address in each of n /64s of 2001:db8:1::/56.
std::vector<std::string> in_one_slash56(int n) {
  std::vector<std::string> v;
  char buf[64];
  for (int i = 0; i < n; ++i) {
    std::snprintf(buf, sizeof buf, "2001:db8:1:%x::1", i);
    v.emplace_back(buf);
  }
  return v;
}
// One address in each of n /64s of 2001:db8:1::/48, four per /56.
std::vector<std::string> in_one_slash48(int n) {
  std::vector<std::string> v;
  char buf[64];
  for (int i = 0; i < n; ++i) {
    std::snprintf(buf, sizeof buf, "2001:db8:1:%x::1", (i / 4) * 256 + i % 4);
    v.emplace_back(buf);
  }
  return v;
}

struct SourceCase {
  const char* name;
  std::vector<std::string> failing;
  const char* probe;
  bool throttled;
};
class Sources : public ThrottleFlowP<SourceCase> {};
TEST_P(Sources, ShareABucketAsDocumented) {
  const auto& c = GetParam();
  throttle_.deny = 2;
  for (const auto& rhost : c.failing) EXPECT_FALSE(spray(rhost).throttled) << rhost;
  EXPECT_EQ(throttled_from(c.probe), c.throttled);
}
INSTANTIATE_TEST_SUITE_P(
    Table, Sources,
    ::testing::Values(
        SourceCase{"IPv4", repeat("203.0.113.9", 2), "203.0.113.9", true},
        SourceCase{"IPv4Neighbour", {"203.0.113.9", "203.0.113.10"}, "203.0.113.9", false},
        SourceCase{"MappedIPv4IsIPv4", {"::ffff:203.0.113.9", "203.0.113.9"}, "203.0.113.9", true},
        SourceCase{"Slash64", {"2001:db8:1:2::1", "2001:db8:1:2::2"}, "2001:db8:1:2:abcd::1", true},
        SourceCase{"NeighbourSlash64", {"2001:db8:1:2::1", "2001:db8:1:2::2"}, "2001:db8:1:3::1", false},
        SourceCase{"Slash56", in_one_slash56(8), "2001:db8:1:ff::1", true},
        SourceCase{"Slash56BelowItsThreshold", in_one_slash56(7), "2001:db8:1:ff::1", false},
        SourceCase{"NeighbourSlash56", in_one_slash56(8), "2001:db8:1:100::1", false},
        SourceCase{"Slash48", in_one_slash48(32), "2001:db8:1:ff00::1", true},
        SourceCase{"Slash48BelowItsThreshold", in_one_slash48(31), "2001:db8:1:ff00::1", false},
        SourceCase{"NeighbourSlash48", in_one_slash48(32), "2001:db8:2::1", false},
        SourceCase{"DnsNamesShareOneBucket", {"a.example.org", "B.Example.NET"}, "c.example.com", true},
        SourceCase{"DnsNamesAreNotAddresses", {"a.example.org", "b.example.net"}, "203.0.113.9", false},
        SourceCase{"LocalLoginsHaveNoSource", repeat("", 5), "", false}),
    [](const auto& i) { return std::string(i.param.name); });

TEST_F(ThrottleFlow, TheSourceBucketsAreNamedAsDocumented) {
  throttle_.deny = 2;
  spray("2001:db8:1:2::1");
  spray("2001:db8:1:2::2");
  spray("host.example.org");
  EXPECT_TRUE(locked("src:2001:db8:1:2::/64"));
  EXPECT_EQ(failures("src:2001:db8:1::/56"), 2u);
  EXPECT_FALSE(locked("src:2001:db8:1::/56"));
  EXPECT_EQ(failures("src:2001:db8:1::/48"), 2u);
  EXPECT_EQ(failures("src:host:*"), 1u);
  EXPECT_FALSE(bucket("src:host:host.example.org").has_value()) << "never the name itself";
}

// A known device neither counts toward its source's throttle nor is refused
// by it; the same source's unknown devices are.
TEST_F(ThrottleFlow, KnownDevicesAreExemptAndDoNotCount) {
  const std::string src = "203.0.113.9", dev = "net:sshd@203.0.113.9";
  ASSERT_TRUE(complete_login(login(1001, Outcome::kSuccess, dev, src)));
  for (int i = 0; i < throttle_.deny; ++i)
    EXPECT_TRUE(report(login(1001, Outcome::kFailure, dev, src)).known_device);
  EXPECT_EQ(failures("src:" + src), 0u);
  EXPECT_FALSE(throttled_from(src));
  for (int i = 0; i < throttle_.deny; ++i) spray(src);
  ASSERT_TRUE(locked("src:" + src));
  auto owner = report(login(1001, Outcome::kSuccess, dev, src));
  EXPECT_FALSE(owner.throttled);
  EXPECT_TRUE(owner.decision.allow);
  EXPECT_TRUE(report(login(1002, Outcome::kSuccess, "", src)).throttled) << "bob has no known device there";
}

// [throttle] trusted_networks: never counted per source, never banned; the
// account's own lock still counts the failures.
TEST_F(ThrottleFlow, TrustedNetworksAreNeverBannedButStillLockAccounts) {
  throttle_.trusted_networks = {*parse_network("198.51.100.0/24"), *parse_network("2001:db8:9::/48")};
  for (const std::string src : {"198.51.100.7", "2001:db8:9:1::5"}) {
    for (int i = 0; i < throttle_.deny * 3; ++i) EXPECT_FALSE(spray(src).throttled) << src;
    EXPECT_FALSE(throttled_from(src)) << src;
  }
  EXPECT_FALSE(bucket("src:198.51.100.7").has_value()) << "not even counted";
  for (int i = 0; i < lockout_.deny; ++i) report(login(1002, Outcome::kFailure, "", "198.51.100.7"));
  EXPECT_TRUE(locked("uid:1002")) << "bob's own lock counts them";
  for (int i = 0; i < throttle_.deny; ++i) spray("198.51.101.7");
  EXPECT_TRUE(locked("src:198.51.101.7")) << "next door is not trusted";
}

// Lifting: the ban, the failures and the doubling of the buckets named go;
// the list shows what is left.
TEST_F(ThrottleFlow, LiftingForgetsTheBanAndItsDoubling) {
  const std::string src = "203.0.113.9";
  for (int i = 0; i < throttle_.deny; ++i) spray(src);
  ASSERT_TRUE(locked("src:" + src));
  auto listed = sources();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].key, "src:" + src);
  EXPECT_EQ(lift({"src:" + src}), 1);
  EXPECT_FALSE(throttled_from(src));
  EXPECT_TRUE(sources().empty());
  for (int i = 0; i < throttle_.deny; ++i) spray(src);
  EXPECT_EQ(ban_left("src:" + src), kBan) << "the doubling was forgotten too";
  EXPECT_EQ(lift({"src:198.51.100.1"}), 0) << "a source without state is no error";
}

TEST_F(ThrottleFlow, DenyZeroTurnsItOff) {
  throttle_.deny = 0;
  for (int i = 0; i < 50; ++i) spray("203.0.113.9");
  EXPECT_FALSE(throttled_from("203.0.113.9"));
  EXPECT_FALSE(bucket("src:203.0.113.9").has_value());
}

// An attempt refused while its source is throttled is activity on the
// account: it keeps the account's lock doubling from decaying
// (vigil.conf(5) max_unlock_time).
struct AliveCase {
  const char* name;
  bool throttled_attempt;
  std::chrono::seconds next_lock;
};
class DoublingAlive : public ThrottleFlowP<AliveCase> {};
TEST_P(DoublingAlive, AThrottledAttemptKeepsTheAccountsDoubling) {
  lockout_.deny = 3;
  lockout_.unlock_time = 10min;
  lockout_.max_unlock_time = 60min;
  auto fail = [&](const std::string& src) { return report(login(1001, Outcome::kFailure, "", src)); };
  for (int i = 0; i < lockout_.deny; ++i) fail("203.0.113.1");
  ASSERT_TRUE(locked(account_key(1001)));
  clock_.advance(60min);  // the lock ended 50 minutes ago
  if (GetParam().throttled_attempt) {
    for (int i = 0; i < throttle_.deny; ++i) spray("203.0.113.2");
    auto r = fail("203.0.113.2");
    ASSERT_TRUE(r.throttled);
    EXPECT_TRUE(r.state.failures.empty()) << "refused, not counted";
  }
  clock_.advance(30min);  // 80 minutes since the lock ended
  ReportResult last;
  for (int i = 0; i < lockout_.deny; ++i) last = fail("203.0.113.3");
  EXPECT_TRUE(last.decision.locked_now);
  EXPECT_EQ(last.decision.lock_for, GetParam().next_lock);
}
INSTANTIATE_TEST_SUITE_P(Table, DoublingAlive,
                         ::testing::Values(AliveCase{"QuietDecays", false, 10min},
                                           AliveCase{"ThrottledAttackKeepsIt", true, 20min}),
                         [](const auto& i) { return std::string(i.param.name); });

}  // namespace
}  // namespace vigil::flow
