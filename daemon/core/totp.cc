#include "daemon/core/totp.h"

#include <liboath/oath.h>
#include <sodium.h>

#include <cstdlib>
#include <cstring>

namespace vigil::totp {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

struct Candidate {
  const char* code;
};

// liboath calls this for each step in the window; 0 means "matches".
int constant_time_compare(void* handle, const char* test_otp) {
  const auto* c = static_cast<const Candidate*>(handle);
  if (std::strlen(test_otp) != static_cast<size_t>(kDigits)) return 1;
  return sodium_memcmp(c->code, test_otp, kDigits) == 0 ? 0 : 1;
}

std::string url_encode(std::string_view s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace

int64_t step_at(TimePoint now) { return to_epoch(now) / kStepSeconds; }

bool looks_like_otp(std::string_view code) {
  if (code.size() != static_cast<size_t>(kDigits)) return false;
  for (char c : code)
    if (c < '0' || c > '9') return false;
  return true;
}

std::optional<int64_t> match(const Bytes& secret, std::string_view code, TimePoint now, int window) {
  static const int init = oath_init();
  (void)init;
  if (!looks_like_otp(code)) return std::nullopt;
  char buf[kDigits + 1];
  std::memcpy(buf, code.data(), kDigits);
  buf[kDigits] = '\0';
  Candidate c{buf};
  uint64_t counter = 0;
  int pos = 0;
  int rc = oath_totp_validate4_callback(reinterpret_cast<const char*>(secret.data()), secret.size(),
                                        static_cast<time_t>(to_epoch(now)), kStepSeconds, 0, kDigits,
                                        static_cast<size_t>(window), &pos, &counter, 0,
                                        constant_time_compare, &c);
  sodium_memzero(buf, sizeof buf);
  if (rc < 0) return std::nullopt;
  return static_cast<int64_t>(counter);
}

Bytes new_secret() {
  Bytes s(kSecretBytes);
  randombytes_buf(s.data(), s.size());
  return s;
}

std::string base32(const Bytes& data) {
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (uint8_t b : data) {
    buffer = (buffer << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out.push_back(kAlphabet[(buffer >> (bits - 5)) & 31]);
      bits -= 5;
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (5 - bits)) & 31]);
  return out;
}

std::string otpauth_uri(std::string_view issuer, std::string_view user, std::string_view secret_b32) {
  std::string label = url_encode(issuer) + ":" + url_encode(user);
  return "otpauth://totp/" + label + "?secret=" + std::string(secret_b32) +
         "&issuer=" + url_encode(issuer) + "&algorithm=SHA1&digits=6&period=30";
}

std::vector<std::string> new_recovery_codes(int n) {
  std::vector<std::string> codes;
  for (int i = 0; i < n; ++i) {
    std::string code;
    for (int k = 0; k < kRecoveryChars; ++k) {
      if (k && k % 5 == 0) code.push_back('-');
      code.push_back(kAlphabet[randombytes_uniform(32)]);
    }
    codes.push_back(std::move(code));
  }
  return codes;
}

std::optional<RecoveryCode> parse_recovery_code(std::string_view input) {
  std::string norm;
  for (char c : input) {
    if (c == '-' || c == ' ') continue;
    char u = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c;
    if (!std::strchr(kAlphabet, u) || u == '\0') return std::nullopt;
    norm.push_back(u);
    if (norm.size() > static_cast<size_t>(kRecoveryChars)) return std::nullopt;
  }
  if (norm.size() != static_cast<size_t>(kRecoveryChars)) return std::nullopt;
  return RecoveryCode{norm.substr(0, 5), norm};
}

}  // namespace vigil::totp
