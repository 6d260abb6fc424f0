#include "daemon/core/device.h"

#include <arpa/inet.h>
#include <sodium.h>

#include <cctype>
#include <cstring>
#include <vector>

namespace vigil::device {

Source parse_source(std::string_view rhost) {
  Source s;
  if (rhost.empty()) return s;
  std::string text(rhost);
  // "[2001:db8::1]" and a zone id "%eth0" are accepted.
  if (text.size() > 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
  if (auto pct = text.find('%'); pct != std::string::npos) text.resize(pct);
  in_addr v4{};
  in6_addr v6{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    s.kind = Source::Kind::kV4;
    std::memcpy(s.addr.data(), &v4, 4);
  } else if (inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(v6.s6_addr, kMapped, 12) == 0) {
      s.kind = Source::Kind::kV4;
      std::memcpy(s.addr.data(), v6.s6_addr + 12, 4);
    } else {
      s.kind = Source::Kind::kV6;
      std::memcpy(s.addr.data(), v6.s6_addr, 16);
    }
  } else {
    s.kind = Source::Kind::kHost;
    for (char c : rhost) s.host.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return s;
}

std::string source_key(const Source& s) {
  char buf[INET6_ADDRSTRLEN];
  switch (s.kind) {
    case Source::Kind::kNone: return {};
    case Source::Kind::kV4: inet_ntop(AF_INET, s.addr.data(), buf, sizeof buf); return buf;
    case Source::Kind::kV6: {
      uint8_t prefix[16] = {};
      std::memcpy(prefix, s.addr.data(), 8);
      inet_ntop(AF_INET6, prefix, buf, sizeof buf);
      return std::string(buf) + "/64";
    }
    case Source::Kind::kHost: return "host:" + s.host;
  }
  return {};
}

namespace {
std::string v6_prefix(const Source& s, int bits) {
  uint8_t prefix[16] = {};
  std::memcpy(prefix, s.addr.data(), static_cast<size_t>(bits / 8));
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, prefix, buf, sizeof buf);
  return std::string(buf) + "/" + std::to_string(bits);
}
}  // namespace

std::vector<ThrottleKey> throttle_keys(const Source& s) {
  switch (s.kind) {
    case Source::Kind::kNone: return {};
    case Source::Kind::kV4: return {{source_key(s), 1}};
    case Source::Kind::kV6: return {{v6_prefix(s, 64), 1}, {v6_prefix(s, 56), 4}, {v6_prefix(s, 48), 16}};
    case Source::Kind::kHost: return {{"host:*", 1}};
  }
  return {};
}

std::vector<std::string> throttle_keys_named(std::string_view written) {
  if (written == "host:*") return {"host:*"};
  std::string_view addr = written;
  std::string suffix;
  if (auto slash = written.find('/'); slash != std::string_view::npos) {
    addr = written.substr(0, slash);
    suffix = std::string(written.substr(slash));
    if (suffix != "/64" && suffix != "/56" && suffix != "/48") return {};
  }
  const Source s = parse_source(addr);
  if (s.kind != Source::Kind::kV4 && s.kind != Source::Kind::kV6) return {};
  if (!suffix.empty() && s.kind != Source::Kind::kV6) return {};
  std::vector<std::string> out;
  for (auto& k : throttle_keys(s))
    if (suffix.empty() || k.key.ends_with(suffix)) out.push_back(std::move(k.key));
  return out;
}

std::optional<std::string> ssh_fingerprint(std::string_view auth_info) {
  // Lines like "publickey ssh-ed25519 AAAAC3Nza...". Take the first.
  while (!auth_info.empty()) {
    auto nl = auth_info.find('\n');
    std::string_view line = auth_info.substr(0, nl);
    auth_info = nl == std::string_view::npos ? std::string_view{} : auth_info.substr(nl + 1);
    if (!line.starts_with("publickey ")) continue;
    line.remove_prefix(10);
    auto sp = line.find(' ');
    if (sp == std::string_view::npos) continue;
    std::string_view b64 = line.substr(sp + 1);
    if (auto end = b64.find(' '); end != std::string_view::npos) b64 = b64.substr(0, end);
    std::vector<unsigned char> blob(b64.size());
    size_t len = 0;
    if (sodium_base642bin(blob.data(), blob.size(), b64.data(), b64.size(), nullptr, &len, nullptr,
                          sodium_base64_VARIANT_ORIGINAL) != 0 || len == 0)
      continue;
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, blob.data(), len);
    char out[sodium_base64_ENCODED_LEN(sizeof h, sodium_base64_VARIANT_ORIGINAL_NO_PADDING)];
    sodium_bin2base64(out, sizeof out, h, sizeof h, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
    return std::string("SHA256:") + out;
  }
  return std::nullopt;
}

std::string device_id(std::string_view service, std::string_view rhost, std::string_view tty,
                      const std::optional<std::string>& fingerprint) {
  if (fingerprint) return "ssh:" + *fingerprint;
  std::string svc = service.empty() ? "?" : std::string(service);
  const Source src = parse_source(rhost);
  if (src.kind == Source::Kind::kV4 || src.kind == Source::Kind::kV6)
    return "net:" + svc + "@" + source_key(src);
  if (src.kind == Source::Kind::kHost) return {};  // a name is no address
  std::string t(tty);
  if (t.starts_with("/dev/")) t = t.substr(5);
  if (t.empty()) return {};
  return "tty:" + svc + "@" + t;
}

Strength strength(std::string_view id) {
  if (id.starts_with("ssh:")) return Strength::kKey;
  if (id.starts_with("net:")) return Strength::kAddress;
  if (id.starts_with("tty:")) return Strength::kTty;
  return Strength::kNone;
}

const char* strength_name(Strength s) {
  switch (s) {
    case Strength::kNone: return "none";
    case Strength::kTty: return "tty";
    case Strength::kAddress: return "address";
    case Strength::kKey: return "key";
  }
  return "none";
}

std::optional<Strength> parse_strength(std::string_view s) {
  for (auto v : {Strength::kTty, Strength::kAddress, Strength::kKey})
    if (s == strength_name(v)) return v;
  return std::nullopt;
}

}  // namespace vigil::device
