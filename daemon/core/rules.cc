#include "daemon/core/rules.h"

#include <arpa/inet.h>
#include <fnmatch.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace vigil {

std::optional<Network> parse_network(std::string_view text) {
  Network n;
  if (!text.empty() && text[0] == '!') {
    n.negated = true;
    text.remove_prefix(1);
  }
  std::string addr(text);
  int prefix = -1;
  if (auto slash = addr.find('/'); slash != std::string::npos) {
    std::string_view p(addr.data() + slash + 1, addr.size() - slash - 1);
    // Decimal digits only: from_chars alone would take "-25" (then read as no prefix).
    if (p.empty() || p.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
    if (ec != std::errc() || end != p.data() + p.size()) return std::nullopt;
    addr.resize(slash);
  }
  in_addr v4{};
  in6_addr v6{};
  if (inet_pton(AF_INET, addr.c_str(), &v4) == 1) {
    std::memcpy(n.addr.data(), &v4, 4);
    n.prefix = prefix < 0 ? 32 : prefix;
    if (n.prefix > 32) return std::nullopt;
  } else if (inet_pton(AF_INET6, addr.c_str(), &v6) == 1) {
    n.v6 = true;
    std::memcpy(n.addr.data(), v6.s6_addr, 16);
    n.prefix = prefix < 0 ? 128 : prefix;
    if (n.prefix > 128) return std::nullopt;
  } else {
    return std::nullopt;
  }
  return n;
}

bool network_matches(const Network& n, const device::Source& s) {
  bool inside = false;
  const bool family = n.v6 ? s.kind == device::Source::Kind::kV6 : s.kind == device::Source::Kind::kV4;
  if (family) {
    inside = true;
    for (int bit = 0; bit < n.prefix; ++bit) {
      int byte = bit / 8, mask = 0x80 >> (bit % 8);
      if ((n.addr[byte] & mask) != (s.addr[byte] & mask)) {
        inside = false;
        break;
      }
    }
  }
  return n.negated ? !inside : inside;
}

const char* action_name(RuleAction a) {
  switch (a) {
    case RuleAction::kAllow: return "allow";
    case RuleAction::kDeny: return "deny";
    case RuleAction::kRequireTotp: return "require-totp";
    case RuleAction::kSkipTotp: return "skip-totp";
  }
  return "?";
}

namespace {
bool any_of(const std::vector<std::string>& want, const std::string& have) {
  return want.empty() || std::find(want.begin(), want.end(), have) != want.end();
}
}  // namespace

const Rule* first_match(const std::vector<Rule>& rules, const RuleInput& in) {
  for (const auto& r : rules) {
    if (!any_of(r.users, in.user)) continue;
    if (!r.groups.empty() &&
        std::none_of(r.groups.begin(), r.groups.end(), [&](const std::string& g) {
          return std::find(in.groups.begin(), in.groups.end(), g) != in.groups.end();
        }))
      continue;
    if (!any_of(r.services, in.service)) continue;
    if (!r.networks.empty() && std::none_of(r.networks.begin(), r.networks.end(),
                                            [&](const Network& n) { return network_matches(n, in.source); }))
      continue;
    if (!r.tty.empty()) {
      std::string tty = in.tty.starts_with("/dev/") ? in.tty.substr(5) : in.tty;
      if (fnmatch(r.tty.c_str(), tty.c_str(), 0) != 0) continue;
    }
    const bool trusted = in.strength >= r.identity;
    const bool known = in.device_known && trusted;
    if (r.device == Rule::Device::kKnown && !known) continue;
    if (r.device == Rule::Device::kUnknown && known) continue;
    const bool relaxes = r.action == RuleAction::kAllow || r.action == RuleAction::kSkipTotp;
    if (relaxes && !trusted) continue;
    return &r;
  }
  return nullptr;
}

}  // namespace vigil
