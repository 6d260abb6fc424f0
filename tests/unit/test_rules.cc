// Device rules and source normalisation, table-driven.
#include <gtest/gtest.h>

#include "daemon/core/config.h"
#include "daemon/core/device.h"
#include "daemon/core/rules.h"

namespace vigil {
namespace {

struct NetCase {
  const char* network;
  const char* rhost;
  bool matches;
};
class Networks : public ::testing::TestWithParam<NetCase> {};
TEST_P(Networks, Match) {
  auto n = parse_network(GetParam().network);
  ASSERT_TRUE(n.has_value()) << GetParam().network;
  EXPECT_EQ(network_matches(*n, device::parse_source(GetParam().rhost)), GetParam().matches)
      << GetParam().network << " vs " << GetParam().rhost;
}
INSTANTIATE_TEST_SUITE_P(
    Table, Networks,
    ::testing::Values(NetCase{"10.0.0.0/8", "10.1.2.3", true}, NetCase{"10.0.0.0/8", "11.1.2.3", false},
                      NetCase{"!10.0.0.0/8", "11.1.2.3", true}, NetCase{"!10.0.0.0/8", "10.9.9.9", false},
                      NetCase{"10.0.0.0/8", "::ffff:10.1.2.3", true},
                      NetCase{"192.168.10.0/24", "192.168.10.255", true},
                      NetCase{"192.168.10.0/24", "192.168.11.0", false},
                      NetCase{"2001:db8::/32", "2001:db8:5::1", true},
                      NetCase{"2001:db8::/32", "2001:db9::1", false},
                      NetCase{"2001:db8::/32", "10.0.0.1", false},
                      NetCase{"10.0.0.0/8", "host.example.org", false},
                      NetCase{"!10.0.0.0/8", "host.example.org", true},
                      NetCase{"10.0.0.0/8", "", false}, NetCase{"!10.0.0.0/8", "", true},
                      NetCase{"192.0.2.7", "192.0.2.7", true}, NetCase{"192.0.2.7", "192.0.2.8", false},
                      NetCase{"0.0.0.0/0", "203.0.113.1", true}));

TEST(Networks, BadOnesAreRefused) {
  // A negative prefix once passed as "no prefix" (found by tests/fuzz):
  // "10.0.0.0/-0" matched everything.
  for (const char* bad : {"10.0.0.0/33", "::/129", "10.0.0/8", "example.org", "10.0.0.0/", "10.0.0.0/x", "",
                          "!192.0.2.128/-25", "10.0.0.0/-0", "10.0.0.0/+8", "10.0.0.0/ 8", "::/-1"})
    EXPECT_FALSE(parse_network(bad).has_value()) << bad;
}

struct SourceCase {
  const char* rhost;
  const char* key;
};
class Sources : public ::testing::TestWithParam<SourceCase> {};
TEST_P(Sources, Normalise) { EXPECT_EQ(device::source_key(device::parse_source(GetParam().rhost)), GetParam().key); }
INSTANTIATE_TEST_SUITE_P(Table, Sources,
                         ::testing::Values(SourceCase{"192.0.2.1", "192.0.2.1"},
                                           SourceCase{"::ffff:192.0.2.1", "192.0.2.1"},
                                           SourceCase{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
                                           SourceCase{"[2001:db8::1]", "2001:db8::/64"},
                                           SourceCase{"Host.Example.ORG", "host:host.example.org"},
                                           SourceCase{"", ""}));

// What vigilctl throttle lift SOURCE names: the buckets as listed, in any
// spelling, or every bucket of an address; nothing else.
struct NamedCase {
  const char* written;
  std::vector<std::string> keys;
};
class NamedSources : public ::testing::TestWithParam<NamedCase> {};
TEST_P(NamedSources, NameTheirBuckets) {
  EXPECT_EQ(device::throttle_keys_named(GetParam().written), GetParam().keys) << GetParam().written;
}
INSTANTIATE_TEST_SUITE_P(
    Table, NamedSources,
    ::testing::Values(
        NamedCase{"198.51.100.7", {"198.51.100.7"}},
        NamedCase{"::ffff:198.51.100.7", {"198.51.100.7"}},
        NamedCase{"2001:db8:1:2::9", {"2001:db8:1:2::/64", "2001:db8:1::/56", "2001:db8:1::/48"}},
        NamedCase{"2001:db8:1:2::/64", {"2001:db8:1:2::/64"}},
        NamedCase{"2001:0db8:0001:0002:0000::/64", {"2001:db8:1:2::/64"}},
        NamedCase{"2001:db8:1::/56", {"2001:db8:1::/56"}},
        NamedCase{"2001:db8:1::/48", {"2001:db8:1::/48"}},
        NamedCase{"host:*", {"host:*"}},
        NamedCase{"2001:db8:1::/32", {}},
        NamedCase{"198.51.100.0/24", {}},
        NamedCase{"attacker.example", {}},
        NamedCase{"host:attacker.example", {}},
        NamedCase{"", {}}));

TEST(Devices, Ids) {
  EXPECT_EQ(device::device_id("sshd", "192.0.2.1", "ssh", std::nullopt), "net:sshd@192.0.2.1");
  EXPECT_EQ(device::device_id("login", "", "/dev/tty1", std::nullopt), "tty:login@tty1");
  auto fp = device::ssh_fingerprint(
      "publickey ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n");
  ASSERT_TRUE(fp.has_value());
  EXPECT_EQ(fp->rfind("SHA256:", 0), 0u);
  EXPECT_EQ(device::device_id("sshd", "192.0.2.1", "ssh", fp), "ssh:" + *fp);
  EXPECT_FALSE(device::ssh_fingerprint("password\n").has_value());
  EXPECT_FALSE(device::ssh_fingerprint("publickey ssh-ed25519 !!notbase64\n").has_value());
}

Config rules_config() {
  auto c = parse_config(R"([[devices.rule]]
match  = { groups = ["wheel"], service = "sshd", network = "!10.0.0.0/8" }
action = "deny"

[[devices.rule]]
match  = { device = "unknown" }
action = "require-totp"

[[devices.rule]]
match  = { network = "192.168.10.0/24", device = "known" }
action = "skip-totp"

[[devices.rule]]
match  = { user = ["carol"], tty = "tty*" }
action = "allow"
identity = "tty"

[[devices.rule]]
match  = { user = ["dave"] }
action = "allow"
)",
                        "rules.conf");
  EXPECT_TRUE(c.ok()) << c.error().message;
  return *c;
}

struct RuleCase {
  const char* name;
  RuleInput in;
  const char* action;  // "" for none
};
class Rules : public ::testing::TestWithParam<RuleCase> {};
TEST_P(Rules, FirstMatchWins) {
  static const Config cfg = rules_config();
  RuleInput in = GetParam().in;
  const Rule* r = first_match(cfg.devices.rules, in);
  EXPECT_EQ(r ? std::string(action_name(r->action)) : std::string(), GetParam().action) << GetParam().name;
}
// A known device is identified by its key unless the row says otherwise.
RuleInput input(const char* user, std::vector<std::string> groups, const char* service, const char* rhost,
                const char* tty, bool known, device::Strength strength = device::Strength::kKey) {
  return RuleInput{user, std::move(groups), service, device::parse_source(rhost), tty, known, strength};
}
constexpr auto kByAddress = device::Strength::kAddress;
constexpr auto kByTty = device::Strength::kTty;
INSTANTIATE_TEST_SUITE_P(
    Table, Rules,
    ::testing::Values(
        RuleCase{"wheel_from_outside", input("bob", {"wheel"}, "sshd", "203.0.113.1", "ssh", true), "deny"},
        RuleCase{"wheel_from_hostname", input("bob", {"wheel"}, "sshd", "evil.example", "ssh", true), "deny"},
        RuleCase{"wheel_inside", input("bob", {"wheel"}, "sshd", "10.1.1.1", "ssh", true), ""},
        RuleCase{"wheel_other_service", input("bob", {"wheel"}, "login", "203.0.113.1", "ssh", true), ""},
        RuleCase{"unknown_device", input("alice", {}, "sshd", "203.0.113.1", "ssh", false), "require-totp"},
        RuleCase{"known_in_lan", input("alice", {}, "sshd", "192.168.10.5", "ssh", true), "skip-totp"},
        RuleCase{"known_mapped_in_lan", input("alice", {}, "sshd", "::ffff:192.168.10.5", "ssh", true),
                 "skip-totp"},
        RuleCase{"known_outside", input("alice", {}, "sshd", "203.0.113.1", "ssh", true), ""},
        // A console known only by its tty name is unknown to the rule before
        // (identity "key" by default), so require-totp comes first; known by
        // a key, the allow rule (identity "tty") is reached.
        RuleCase{"carol_console", input("carol", {}, "login", "", "/dev/tty2", true, kByTty), "require-totp"},
        RuleCase{"carol_console_key", input("carol", {}, "login", "", "/dev/tty2", true), "allow"},
        RuleCase{"carol_pts", input("carol", {}, "login", "", "pts/1", true), ""},
        // A device known only by its address (a password login over SSH) or
        // by a terminal name relaxes nothing, and counts as unknown, unless
        // the rule says identity = "address" (or "tty").
        RuleCase{"known_in_lan_by_address", input("alice", {}, "sshd", "192.168.10.5", "ssh", true, kByAddress),
                 "require-totp"},
        RuleCase{"allow_needs_a_key", input("dave", {}, "sshd", "203.0.113.1", "ssh", false, kByAddress),
                 "require-totp"},
        RuleCase{"allow_with_a_key", input("dave", {}, "sshd", "203.0.113.1", "ssh", true), "allow"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Rules, IdentityIsParsedAndChecked) {
  auto c = parse_config("[[devices.rule]]\nmatch = { device = \"known\" }\naction = \"skip-totp\"\n"
                        "identity = \"address\"\n", "r.conf");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->devices.rules[0].identity, device::Strength::kAddress);
  auto bad = parse_config("[[devices.rule]]\nmatch = {}\naction = \"allow\"\nidentity = \"dns\"\n", "r.conf");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("identity must be"), std::string::npos) << bad.error().message;
  auto d = parse_config("", "r.conf");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->devices.remote_services, std::vector<std::string>{"sshd"});
}

TEST(Devices, StrengthAndNoIdentityFromANameOrNothing) {
  EXPECT_EQ(device::strength("ssh:SHA256:x"), device::Strength::kKey);
  EXPECT_EQ(device::strength("net:sshd@192.0.2.1"), device::Strength::kAddress);
  EXPECT_EQ(device::strength("tty:login@tty1"), device::Strength::kTty);
  EXPECT_EQ(device::strength(""), device::Strength::kNone);
  EXPECT_EQ(device::device_id("sshd", "host.example.org", "ssh", std::nullopt), "");
  EXPECT_EQ(device::device_id("cron", "", "", std::nullopt), "");
}

TEST(Rules, CheckConfigNamesTheLine) {
  auto bad = [](const char* text) { return parse_config(text, "r.conf"); };
  auto a = bad("[[devices.rule]]\nmatch = { network = \"10.0.0.0/40\" }\naction = \"deny\"\n");
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.error().message.find("r.conf:2:"), std::string::npos) << a.error().message;
  EXPECT_NE(a.error().message.find("bad network"), std::string::npos);
  auto b = bad("[[devices.rule]]\nmatch = { device = \"known\" }\naction = \"permit\"\n");
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.error().message.find("r.conf:3:"), std::string::npos) << b.error().message;
  EXPECT_NE(b.error().message.find("unknown action"), std::string::npos);
  auto c = bad("[[devices.rule]]\nmatch = { colour = \"red\" }\naction = \"deny\"\n");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("r.conf:2:"), std::string::npos) << c.error().message;
  EXPECT_NE(c.error().message.find("unknown match key"), std::string::npos);
  auto d = bad("[[devices.rule]]\nmatch = { device = \"known\" }\n");
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message.find("no action"), std::string::npos);
  auto e = bad("[[devices.rule]]\nmatch = { }\naction = \"deny\"\nextra = 1\n");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message.find("r.conf:4:"), std::string::npos) << e.error().message;
}

}  // namespace
}  // namespace vigil
