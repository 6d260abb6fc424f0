// libFuzzer target: the device rule matcher (daemon/core/rules.h) and the device
// identity it works on (daemon/core/device.h).
//
// The rules are built from the input directly, not through the TOML parser
// (fuzz_config covers [[devices.rule]] in vigil.conf), one line each:
//   rule ACTION [user=a,b] [groups=g,h] [service=s] [network=!10.0.0.0/8,::1]
//        [tty=GLOB] [device=known|unknown]
// networks through parse_network() (a bad one drops the rule, as the config
// parser refuses it). A login is
//   login USER;GROUP,GROUP;SERVICE;RHOST;TTY;known
// with RHOST through device::parse_source(). Every other line is tried as a
// network and as a tty glob, each made into a one-key rule of its own. A few
// fixed logins are always matched too.
//
// Checked besides the sanitizers: the rule first_match() returns is in the
// list, matches the login on each key, and no earlier rule matches it; a
// network's prefix is decimal digits; a network matches the address it was
// written with (negated: does not).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/core/device.h"
#include "daemon/core/rules.h"

namespace {

using vigil::Rule;
using vigil::RuleAction;
using vigil::RuleInput;
using vigil::device::Source;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_rules: invariant broken: %s\n", what);
  std::abort();
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (std::size_t pos = 0; pos <= s.size();) {
    auto e = s.find(sep, pos);
    if (e == std::string_view::npos) e = s.size();
    out.push_back(s.substr(pos, e - pos));
    pos = e + 1;
  }
  return out;
}

std::vector<std::string> strings(std::string_view list) {
  std::vector<std::string> out;
  for (auto x : split(list, ',')) out.emplace_back(x);
  return out;
}

bool contains(const std::vector<std::string>& v, const std::string& x) {
  for (const auto& e : v)
    if (e == x) return true;
  return false;
}

void match(const std::vector<Rule>& rules, const RuleInput& in) {
  const Rule* r = vigil::first_match(rules, in);
  if (!r) return;
  if (r < rules.data() || r >= rules.data() + rules.size()) fail("first_match returned a foreign rule");
  if (!r->users.empty() && !contains(r->users, in.user)) fail("matched another user");
  if (!r->services.empty() && !contains(r->services, in.service)) fail("matched another service");
  if (!r->groups.empty()) {
    bool any = false;
    for (const auto& g : r->groups) any = any || contains(in.groups, g);
    if (!any) fail("matched without a common group");
  }
  if (!r->networks.empty()) {
    bool any = false;
    for (const auto& n : r->networks) any = any || vigil::network_matches(n, in.source);
    if (!any) fail("matched outside every network");
  }
  // A device counts as known to a rule only when its identity is as strong
  // as the rule asks; a relaxing rule never matches a weaker one.
  const bool trusted = in.strength >= r->identity;
  const bool known = in.device_known && trusted;
  if (r->device == Rule::Device::kKnown && !known) fail("known-device rule on an unknown device");
  if (r->device == Rule::Device::kUnknown && known) fail("unknown-device rule on a known device");
  if ((r->action == RuleAction::kAllow || r->action == RuleAction::kSkipTotp) && !trusted)
    fail("a relaxing rule matched a device weaker than its identity");
  // First match: the rules before it, alone, match nothing.
  const std::vector<Rule> before(rules.data(), r);
  if (vigil::first_match(before, in) != nullptr) fail("an earlier rule also matches");
  (void)vigil::action_name(r->action);
}

RuleInput login(std::string_view user, std::string_view groups, std::string_view service,
                std::string_view rhost, std::string_view tty, bool known) {
  RuleInput in;
  in.user = std::string(user);
  if (!groups.empty()) in.groups = strings(groups);
  in.service = std::string(service);
  in.source = vigil::device::parse_source(rhost);
  in.tty = std::string(tty);
  in.device_known = known;
  // The device identity of the same login, and its strength.
  (void)vigil::device::source_key(in.source);
  const std::string id = vigil::device::device_id(service, rhost, tty, std::nullopt);
  in.strength = vigil::device::strength(id);
  if (in.source.kind == Source::Kind::kHost && !id.empty()) fail("a DNS name named a device");
  if (rhost.empty() != (in.source.kind == Source::Kind::kNone)) fail("no source is not kNone");
  if (in.source.kind == Source::Kind::kHost && in.source.host.size() != rhost.size())
    fail("host name changed length");
  return in;
}

// "rule ACTION key=value ..." -> a rule; false when it would not be accepted.
bool rule_line(std::string_view line, Rule* r) {
  auto words = split(line, ' ');
  if (words.size() < 2) return false;
  const std::string_view action = words[1];
  if (action == "allow") r->action = RuleAction::kAllow;
  else if (action == "deny") r->action = RuleAction::kDeny;
  else if (action == "require-totp") r->action = RuleAction::kRequireTotp;
  else if (action == "skip-totp") r->action = RuleAction::kSkipTotp;
  else return false;
  for (std::size_t i = 2; i < words.size(); ++i) {
    const auto eq = words[i].find('=');
    if (eq == std::string_view::npos) return false;
    const std::string_view key = words[i].substr(0, eq), value = words[i].substr(eq + 1);
    if (key == "user") r->users = strings(value);
    else if (key == "groups") r->groups = strings(value);
    else if (key == "service") r->services = strings(value);
    else if (key == "tty") r->tty = std::string(value);
    else if (key == "device" && value == "known") r->device = Rule::Device::kKnown;
    else if (key == "device" && value == "unknown") r->device = Rule::Device::kUnknown;
    else if (key == "identity") {
      auto s = vigil::device::parse_strength(value);
      if (!s) return false;
      r->identity = *s;
    }
    else if (key == "network") {
      for (auto x : split(value, ',')) {
        auto n = vigil::parse_network(x);
        if (!n) return false;
        r->networks.push_back(*n);
      }
    } else {
      return false;
    }
  }
  return true;
}

void network_line(std::string_view line, std::vector<Rule>* made) {
  auto n = vigil::parse_network(line);
  if (!n) return;
  if (n->prefix < 0 || n->prefix > (n->v6 ? 128 : 32)) fail("prefix out of range");
  // CIDR: [!]ADDRESS[/DIGITS], nothing else.
  if (auto slash = line.find('/'); slash != std::string_view::npos) {
    const auto digits = line.substr(slash + 1);
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string_view::npos)
      fail("a prefix that is not a decimal number accepted");
  }
  std::string_view addr = line;
  if (!addr.empty() && addr[0] == '!') addr.remove_prefix(1);
  addr = addr.substr(0, addr.find('/'));
  Source s = vigil::device::parse_source(addr);
  const bool same_family = n->v6 ? s.kind == Source::Kind::kV6 : s.kind == Source::Kind::kV4;
  if (same_family && vigil::network_matches(*n, s) == n->negated) fail("a network misjudges its own address");
  Rule r;
  r.networks.push_back(*n);
  made->push_back(std::move(r));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view all(reinterpret_cast<const char*>(data), size);

  std::vector<Rule> rules, made;
  std::vector<RuleInput> inputs = {
      login("root", "root", "sshd", "10.1.2.3", "ssh", false),
      login("alice", "alice,sudo,wheel", "login", "", "/dev/tty1", true),
      login("bob", "bob,users", "sshd", "2001:db8::1", "", false),
      login("carol", "", "sudo", "::ffff:192.0.2.7", "/dev/pts/3", true),
      login("dave", "staff", "sshd", "Host.Example.ORG", "", false),
  };
  for (auto line : split(all, '\n')) {
    if (line.starts_with("rule ")) {
      Rule r;
      r.line = static_cast<int>(rules.size() + 1);
      if (rule_line(line, &r) && rules.size() < 64) rules.push_back(std::move(r));
    } else if (line.starts_with("login ")) {
      auto f = split(line.substr(6), ';');
      f.resize(6);
      if (inputs.size() < 64) inputs.push_back(login(f[0], f[1], f[2], f[3], f[4], f[5] == "known"));
    } else if (made.size() < 64) {
      network_line(line, &made);
      Rule glob;
      glob.tty = std::string(line.substr(0, 256));
      if (!glob.tty.empty()) made.push_back(std::move(glob));
    }
  }

  for (const auto& in : inputs) {
    match(rules, in);
    match(made, in);
  }
  return 0;
}
