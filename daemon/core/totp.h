// TOTP (RFC 6238, via liboath) and recovery codes: pure functions.
//
// Contract:
//  * match() checks a 6-digit code against the steps now-window..now+window
//    (30-second steps, HMAC-SHA1) with liboath's validator and a constant-time
//    comparison, and returns the matched step. Replay protection (the step
//    must be later than the last accepted one) is the caller's rule.
//  * Recovery codes are 25 base32 characters, shown as
//    XXXXX-XXXXX-XXXXX-XXXXX-XXXXX. The first group is the code id, stored in
//    clear so that checking one costs one hash; the other 20 characters (100
//    random bits) stay secret. The whole code is what is hashed.
//  * No function here logs or keeps anything.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/core/clock.h"
#include "daemon/core/secrets.h"

namespace vigil::totp {

inline constexpr int kStepSeconds = 30;
inline constexpr int kDigits = 6;
inline constexpr int kSecretBytes = 20;
inline constexpr int kRecoveryCodes = 10;
inline constexpr int kRecoveryChars = 25;

int64_t step_at(TimePoint now);
bool looks_like_otp(std::string_view code);
std::optional<int64_t> match(const Bytes& secret, std::string_view code, TimePoint now, int window);

Bytes new_secret();
std::string base32(const Bytes& data);
std::string otpauth_uri(std::string_view issuer, std::string_view user, std::string_view secret_b32);

struct RecoveryCode {
  std::string id;    // first group, upper case
  std::string text;  // normalised: 25 characters, no separators
};
// n fresh codes, formatted for display.
std::vector<std::string> new_recovery_codes(int n);
// Normalises user input (case, dashes, spaces); nullopt if it cannot be one.
std::optional<RecoveryCode> parse_recovery_code(std::string_view input);

}  // namespace vigil::totp
