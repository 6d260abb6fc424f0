// Devices: how a login's device is identified. Pure functions.
//
// Contract:
//  * A device is the SSH key fingerprint when sshd exposes the key
//    (SSH_AUTH_INFO_0, "publickey <type> <base64>"); otherwise
//    (service, network source) for remote logins, or (service, tty) for
//    local ones.
//  * Sources are normalised with inet_pton: an IPv4-mapped IPv6 address is
//    IPv4, and IPv6 sources count per /64. A source that is not an address is
//    a hostname (lower-cased); it never matches a network.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::device {

struct Source {
  enum class Kind { kNone, kV4, kV6, kHost } kind = Kind::kNone;
  std::array<uint8_t, 16> addr{};  // v4 in the first 4 bytes; v6 full (not masked)
  std::string host;                // kHost: lower-cased name
};

Source parse_source(std::string_view rhost);
// "198.51.100.7", "2001:db8:1:2::/64", "host:example.org", or "" for none.
std::string source_key(const Source& s);

// The per-source throttle's buckets for one source, each with the factor by
// which its threshold is multiplied. An IPv4 address: itself (1). An IPv6
// address: its /64 (1), /56 (4) and /48 (16), so that rotating through a
// routed prefix does not escape. A DNS name: one bucket shared by every
// name-only source ("host:*", 1), never the name, which whoever controls its
// reverse zone can change at will (sshd's UseDNS no avoids names). None: {}.
struct ThrottleKey {
  std::string key;
  int scale = 1;
};
std::vector<ThrottleKey> throttle_keys(const Source& s);
// The throttle buckets that an administrator's SOURCE names (vigilctl
// throttle lift): a source as throttle_keys writes it ("198.51.100.7",
// "2001:db8:1:2::/64", "host:*"; an IPv6 prefix in any spelling, /64, /56 or
// /48), or an address, which names all of its buckets. Empty when it names
// none (a host name, a prefix of another length, garbage).
std::vector<std::string> throttle_keys_named(std::string_view written);

// "SHA256:<base64, no padding>" of the first public key in SSH_AUTH_INFO_0.
std::optional<std::string> ssh_fingerprint(std::string_view auth_info);

// The device id: "ssh:SHA256:...", "net:<service>@<address>", "tty:<service>@<tty>",
// or "" when the login names no device: no key, no address (a DNS name is
// none: whoever controls a reverse zone can claim any), and no tty.
std::string device_id(std::string_view service, std::string_view rhost, std::string_view tty,
                      const std::optional<std::string>& fingerprint);

// How much a device id says about the device: a key the client proved (sshd
// exposes only keys that authenticated), an address (shared behind a NAT,
// spoofable on a LAN), or only a terminal name (shared by every user, and
// reused). Relaxations need a strong identity (rules.h).
enum class Strength { kNone, kTty, kAddress, kKey };
Strength strength(std::string_view device_id);
const char* strength_name(Strength s);  // "none", "tty", "address", "key"
std::optional<Strength> parse_strength(std::string_view s);

}  // namespace vigil::device
