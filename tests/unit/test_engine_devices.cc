// Known devices: which login makes a device known, their buckets
// ("uid:N:dev:DEVICE"), how long they stay known, what names a device, and
// sudo inside a login session. (vigil.conf(5) [lockout] and [devices];
// ARCHITECTURE.md "One password login".)
#include "tests/unit/engine_flow.h"

namespace vigil::flow {
namespace {

using DeviceFlow = EngineFlow;

const std::string kLaptop = "ssh:SHA256:laptop-key";
const std::string kDesktop = "ssh:SHA256:desktop-key";

bool has_device(const AccountView& v, const std::string& device) {
  for (const auto& d : v.devices)
    if (d.device == device) return true;
  return false;
}

struct TrustCase {
  const char* name;
  bool root_caller;
  Outcome outcome;
  std::string device;
  bool known_after;
};
class WhoTrusts : public EngineFlowP<TrustCase> {};
TEST_P(WhoTrusts, OnlyARootReportedSuccessMakesADeviceKnown) {
  const auto& c = GetParam();
  auto r = login(1001, c.outcome, c.device, "198.51.100.4");
  r.root_caller = c.root_caller;
  auto first = report(r);
  EXPECT_FALSE(first.known_device);
  EXPECT_EQ(first.decision.allow, c.outcome == Outcome::kSuccess);
  auto v = view(1001);
  EXPECT_EQ(v.devices.size(), c.known_after ? 1u : 0u);
  if (c.known_after) {
    EXPECT_TRUE(has_device(v, c.device));
    EXPECT_EQ(v.devices[0].first_seen, clock_.now());
  }
  // The next attempt from that device tells whether it is known.
  auto probe = report(login(1001, Outcome::kFailure, c.device, "198.51.100.4"));
  EXPECT_EQ(probe.known_device, c.known_after);
}
INSTANTIATE_TEST_SUITE_P(
    Table, WhoTrusts,
    ::testing::Values(TrustCase{"RootSuccess", true, Outcome::kSuccess, kLaptop, true},
                      TrustCase{"OwnProcessSuccess", false, Outcome::kSuccess, kLaptop, false},
                      TrustCase{"RootFailure", true, Outcome::kFailure, kLaptop, false},
                      TrustCase{"RootSuccessWithoutDevice", true, Outcome::kSuccess, "", false}),
    [](const auto& i) { return std::string(i.param.name); });

// With a second factor, the right password alone trusts nothing: only the
// complete login (the right code) does.
TEST_F(DeviceFlow, WithAFactorOnlyTheCompleteLoginTrustsTheDevice) {
  const Bytes secret = enrol(1001);
  auto r = login(1001, Outcome::kSuccess, kLaptop, "198.51.100.4");
  ASSERT_TRUE(report(r).verify);
  EXPECT_TRUE(view(1001).devices.empty()) << "a right password alone";
  EXPECT_FALSE(verify(r, wrong_code(secret, clock_.now())).allow);
  EXPECT_TRUE(view(1001).devices.empty()) << "a right password and a wrong code";
  ASSERT_TRUE(complete_login(login(1001, Outcome::kSuccess, kLaptop, "198.51.100.4"), &secret));
  EXPECT_TRUE(has_device(view(1001), kLaptop));
  auto rr = report(login(1001, Outcome::kSuccess, kLaptop, "198.51.100.4"));
  EXPECT_TRUE(rr.known_device);
}

// Failures from a known device count in that device's own bucket: its lock
// leaves the other known devices and the unknown ones open.
TEST_F(DeviceFlow, AKnownDeviceHasABucketOfItsOwn) {
  ASSERT_TRUE(complete_login(login(1001, Outcome::kSuccess, kLaptop)));
  ASSERT_TRUE(complete_login(login(1001, Outcome::kSuccess, kDesktop)));
  for (int i = 0; i < lockout_.deny; ++i) {
    auto r = report(login(1001, Outcome::kFailure, kLaptop));
    EXPECT_TRUE(r.known_device);
    EXPECT_TRUE(r.decision.counted);
    EXPECT_EQ(r.decision.locked_now, i == lockout_.deny - 1);
  }
  auto v = view(1001);
  ASSERT_EQ(v.known_buckets.size(), 1u);
  EXPECT_EQ(v.known_buckets[0].key, known_key(1001, kLaptop));
  EXPECT_TRUE(v.known_buckets[0].state.locked_at(clock_.now()));
  ASSERT_TRUE(v.bucket.has_value());
  EXPECT_TRUE(v.bucket->state.failures.empty()) << "nothing counted in the unknown-device bucket";
  EXPECT_FALSE(locked(account_key(1001)));

  auto laptop = report(login(1001, Outcome::kSuccess, kLaptop));
  EXPECT_TRUE(laptop.decision.refused_locked);
  auto desktop = report(login(1001, Outcome::kSuccess, kDesktop));
  EXPECT_TRUE(desktop.decision.allow);
  EXPECT_TRUE(desktop.known_device);
  auto elsewhere = report(login(1001, Outcome::kSuccess, "ssh:SHA256:new-key"));
  EXPECT_TRUE(elsewhere.decision.allow);
  EXPECT_FALSE(elsewhere.known_device);

  clock_.advance(lockout_.unlock_time);
  EXPECT_TRUE(report(login(1001, Outcome::kSuccess, kLaptop)).decision.allow);
}

// An attacker elsewhere locks the unknown-device bucket, again and again;
// the owner's known device never notices, and the owner's login there does
// not open the lock for the attacker either.
TEST_F(DeviceFlow, TheLockNeverCutsTheOwnerOffAKnownDevice) {
  ASSERT_TRUE(complete_login(login(1001, Outcome::kSuccess, kLaptop, "198.51.100.4")));
  for (int round = 0; round < 3; ++round) {
    // One source, so that the attacker's right password below is no
    // credential stuffing (that would block: test_engine_stuffing.cc).
    for (int i = 0; i < lockout_.deny + 2; ++i)
      report(login(1001, Outcome::kFailure, "net:sshd@203.0.113.10", "203.0.113.10"));
    ASSERT_TRUE(locked(account_key(1001))) << round;
    auto attacker = report(login(1001, Outcome::kSuccess, "net:sshd@203.0.113.10", "203.0.113.10"));
    EXPECT_FALSE(attacker.decision.allow) << round;
    auto owner = report(login(1001, Outcome::kSuccess, kLaptop, "198.51.100.4"));
    EXPECT_TRUE(owner.decision.allow) << round;
    EXPECT_TRUE(owner.known_device) << round;
    EXPECT_TRUE(locked(account_key(1001))) << "the owner's login does not open it for others";
    EXPECT_EQ(failures(known_key(1001, kLaptop)), 0u) << "the attack never counts on the known device";
    clock_.advance(lockout_.max_unlock_time + 1s);  // past any lock of this round
  }
}

struct TrustDaysCase {
  const char* name;
  int refresh_day;  // a login from the device that day; -1: none
  int probe_day;
  bool known;
};
class TrustDays : public EngineFlowP<TrustDaysCase> {};
TEST_P(TrustDays, ADeviceStaysKnownThatLongAfterItsLastLogin) {
  const auto& c = GetParam();
  devices_.trust_days = 30;
  ASSERT_TRUE(complete_login(login(1001, Outcome::kSuccess, kLaptop)));
  int day = 0;
  if (c.refresh_day >= 0) {
    clock_.advance(std::chrono::days(c.refresh_day));
    day = c.refresh_day;
    ASSERT_TRUE(report(login(1001, Outcome::kSuccess, kLaptop)).known_device);
  }
  clock_.advance(std::chrono::days(c.probe_day - day));
  auto probe = report(login(1001, Outcome::kFailure, kLaptop));
  EXPECT_EQ(probe.known_device, c.known);
  // The failure counted where the device belongs now.
  EXPECT_EQ(failures(known_key(1001, kLaptop)), c.known ? 1u : 0u);
  EXPECT_EQ(failures(account_key(1001)), c.known ? 0u : 1u);
}
INSTANTIATE_TEST_SUITE_P(Table, TrustDays,
                         ::testing::Values(TrustDaysCase{"Day29", -1, 29, true},
                                           TrustDaysCase{"Day31", -1, 31, false},
                                           TrustDaysCase{"RefreshedDay29ProbedDay31", 29, 31, true},
                                           TrustDaysCase{"RefreshedDay29ProbedDay60", 29, 60, false}),
                         [](const auto& i) { return std::string(i.param.name); });

// What the device of an sshd login is (device.h, as the dispatcher computes
// it without a key), and so whether a later login is the same known device:
// an address (IPv6 per /64, a mapped IPv4 as IPv4), never a DNS name.
struct AddressCase {
  const char* name;
  const char* login_rhost;
  const char* probe_rhost;
  bool probe_known;
};
class DeviceOfALogin : public EngineFlowP<AddressCase> {};
TEST_P(DeviceOfALogin, IsTheAddressNeverAName) {
  const auto& c = GetParam();
  auto dev = [](const char* rhost) { return device::device_id("sshd", rhost, "ssh", std::nullopt); };
  ASSERT_TRUE(complete_login(login(1001, Outcome::kSuccess, dev(c.login_rhost), c.login_rhost)));
  EXPECT_EQ(view(1001).devices.size(), dev(c.login_rhost).empty() ? 0u : 1u);
  auto probe = report(login(1001, Outcome::kFailure, dev(c.probe_rhost), c.probe_rhost));
  EXPECT_EQ(probe.known_device, c.probe_known);
  // Unknown: the failure counts in the account's unknown-device bucket.
  EXPECT_EQ(failures(account_key(1001)), c.probe_known ? 0u : 1u);
}
INSTANTIATE_TEST_SUITE_P(
    Table, DeviceOfALogin,
    ::testing::Values(AddressCase{"DnsNameNamesNoDevice", "host.example.org", "host.example.org", false},
                      AddressCase{"SameIPv4", "192.0.2.1", "192.0.2.1", true},
                      AddressCase{"OtherIPv4", "192.0.2.1", "192.0.2.2", false},
                      AddressCase{"SameIPv6Slash64", "2001:db8:1:2::5", "2001:db8:1:2:ffff::9", true},
                      AddressCase{"OtherIPv6Slash64", "2001:db8:1:2::5", "2001:db8:1:3::5", false},
                      AddressCase{"MappedIPv4IsIPv4", "::ffff:192.0.2.1", "192.0.2.1", true}),
    [](const auto& i) { return std::string(i.param.name); });

TEST(DeviceId, ARemoteLoginWithoutAddressOrKeyNamesNoDevice) {
  EXPECT_EQ(device::device_id("sshd", "host.example.org", "ssh", std::nullopt), "");
  EXPECT_EQ(device::device_id("sshd", "", "", std::nullopt), "");
  EXPECT_EQ(device::device_id("sshd", "2001:db8:1:2::5", "ssh", std::nullopt), "net:sshd@2001:db8:1:2::/64");
}

// sudo and su report the audit session they run in: they belong to the
// device of that login session, if it is their own uid's; else (another
// uid's session, an unknown one) the device is unknown, whatever the report
// claims. The first record of a session stays.
TEST_F(DeviceFlow, SudoInsideALoginSessionIsThatSessionsDevice) {
  ASSERT_TRUE(complete_login(login(1001, Outcome::kSuccess, kLaptop)));
  engine().session_open(42, 1001, kLaptop);
  engine().session_open(42, 1001, kDesktop);  // a later record changes nothing
  engine().session_open(43, 1002, kLaptop);   // another uid's session
  auto sudo = [&](uint32_t session, std::string claimed) {
    auto r = login(1001, Outcome::kFailure, std::move(claimed));
    r.service = "sudo";
    r.audit_session = session;
    return report(r);
  };
  EXPECT_TRUE(sudo(42, "").known_device);
  EXPECT_FALSE(sudo(43, "").known_device) << "another uid's session";
  EXPECT_FALSE(sudo(44, kLaptop).known_device) << "an unknown session; the claim is not taken";
  EXPECT_EQ(failures(known_key(1001, kLaptop)), 1u);
  EXPECT_EQ(failures(account_key(1001)), 2u);
}

// A device's last login, and the account's last success, are recorded to
// the minute: a repeated login from a known device within a minute commits
// nothing (the WAL does not grow), a later one moves both, and what the
// engine shows is what the store holds (read again after a reopen).
TEST_F(DeviceFlow, RepeatedLoginsFromAKnownDeviceWriteNothingWithinAMinute) {
  ASSERT_TRUE(complete_login(login(1001, Outcome::kSuccess, kLaptop)));
  // The first login as a known device makes that device's bucket.
  ASSERT_TRUE(report(login(1001, Outcome::kSuccess, kLaptop)).known_device);
  const auto first = clock_.now();
  const std::string wal = dir_ + "/vigil.db-wal";
  const auto wal_size = std::filesystem::file_size(wal);
  clock_.advance(30s);
  for (int i = 0; i < 3; ++i) {
    auto r = report(login(1001, Outcome::kSuccess, kLaptop));
    EXPECT_TRUE(r.decision.allow);
    EXPECT_TRUE(r.known_device);
  }
  EXPECT_EQ(std::filesystem::file_size(wal), wal_size) << "a login within the minute committed";
  auto v = view(1001);
  ASSERT_EQ(v.devices.size(), 1u);
  EXPECT_EQ(v.devices[0].last_seen, first);
  ASSERT_TRUE(v.bucket);
  EXPECT_EQ(v.bucket->state.last_success, first);

  clock_.advance(30s);  // a minute after the recorded one
  ASSERT_TRUE(report(login(1001, Outcome::kSuccess, kLaptop)).decision.allow);
  EXPECT_GT(std::filesystem::file_size(wal), wal_size);
  engine_.reset();  // the store closes; a new engine reads it again
  v = view(1001);
  ASSERT_EQ(v.devices.size(), 1u);
  EXPECT_EQ(v.devices[0].first_seen, first);
  EXPECT_EQ(v.devices[0].last_seen, clock_.now());
  ASSERT_TRUE(v.bucket);
  EXPECT_EQ(v.bucket->state.last_success, clock_.now());
}

TEST_F(DeviceFlow, AForgottenDeviceIsUnknownAgain) {
  ASSERT_TRUE(complete_login(login(1001, Outcome::kSuccess, kLaptop)));
  ASSERT_TRUE(complete_login(login(1001, Outcome::kSuccess, kDesktop)));
  auto n = call<Result<int64_t>>(
      [&](auto done) { engine().forget_devices(1001, user_name(1001), kLaptop, done); });
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1);
  EXPECT_FALSE(report(login(1001, Outcome::kFailure, kLaptop)).known_device);
  EXPECT_TRUE(report(login(1001, Outcome::kFailure, kDesktop)).known_device);
}

}  // namespace
}  // namespace vigil::flow
