// Device rules: ordered, first match wins. Pure.
//
//   [[devices.rule]]
//   match  = { groups = ["wheel"], service = "sshd", network = "!10.0.0.0/8" }
//   action = "deny"
//
// Contract:
//  * A match may name user, groups, service (a string or a list: any of),
//    network (CIDR, IPv4 or IPv6, "!" negates; a list: any of), tty (a glob),
//    and device ("known" or "unknown"). Every key given must match; an empty
//    match matches everything.
//  * A source that is a host name, or no source at all (a local login), never
//    matches a network and always matches a negated one.
//  * Actions: allow (stop here), deny (refuse, in auth and account),
//    require-totp, skip-totp. skip-totp relaxes only the second factor, never
//    a lock or a block.
//  * Identity: a rule's `identity` ("key" by default, or "address", "tty")
//    is the weakest device identity it trusts (device.h). A device known by
//    a weaker one counts as unknown for `device`, and a relaxing rule (allow,
//    skip-totp) does not match a login whose device is weaker: a password
//    login over SSH (its source address only) or a terminal name never
//    relaxes anything unless the rule says so.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "daemon/core/device.h"

namespace vigil {

struct Network {
  bool negated = false;
  bool v6 = false;
  std::array<uint8_t, 16> addr{};
  int prefix = 0;
};

// "10.0.0.0/8", "!2001:db8::/32", "192.0.2.7" (a single address). nullopt if bad.
std::optional<Network> parse_network(std::string_view text);
bool network_matches(const Network& n, const device::Source& s);

enum class RuleAction { kAllow, kDeny, kRequireTotp, kSkipTotp };
const char* action_name(RuleAction a);

struct Rule {
  std::vector<std::string> users, groups, services;
  std::vector<Network> networks;  // any of
  std::string tty;                // glob; empty: any
  enum class Device { kAny, kKnown, kUnknown } device = Device::kAny;
  RuleAction action = RuleAction::kAllow;
  device::Strength identity = device::Strength::kKey;  // the weakest identity it trusts
  int line = 0;  // in the config file, for logs
};

struct RuleInput {
  std::string user;
  std::vector<std::string> groups;
  std::string service;
  device::Source source;
  std::string tty;
  bool device_known = false;
  device::Strength strength = device::Strength::kNone;  // of the login's device
};

// The first matching rule, or nullptr.
const Rule* first_match(const std::vector<Rule>& rules, const RuleInput& in);

}  // namespace vigil
