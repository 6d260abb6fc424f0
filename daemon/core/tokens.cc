#include "daemon/core/tokens.h"

#include <sodium.h>

#include <algorithm>

namespace vigil::tokens {

const char* state_name(State s) {
  switch (s) {
    case State::kActive: return "active";
    case State::kSuspended: return "suspended";
    case State::kRevoked: return "revoked";
  }
  return "revoked";
}

std::optional<State> parse_state(std::string_view s) {
  if (s == "active") return State::kActive;
  if (s == "suspended") return State::kSuspended;
  if (s == "revoked") return State::kRevoked;
  return std::nullopt;
}

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::kValid: return "valid";
    case Verdict::kUnknown: return "unknown";
    case Verdict::kExpired: return "expired";
    case Verdict::kRevoked: return "revoked";
    case Verdict::kSuspended: return "suspended";
    case Verdict::kFrozen: return "frozen";
    case Verdict::kNoScope: return "scope";
    case Verdict::kStale: return "stale";
  }
  return "unknown";
}

int http_status(Verdict v) {
  switch (v) {
    case Verdict::kValid: return 200;
    case Verdict::kUnknown:
    case Verdict::kExpired: return 401;
    case Verdict::kStale: return 503;
    default: return 403;
  }
}

std::string new_token() {
  unsigned char raw[32];
  randombytes_buf(raw, sizeof raw);
  char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
  sodium_bin2base64(b64, sizeof b64, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  sodium_memzero(raw, sizeof raw);
  std::string out = std::string(kPrefix) + b64;
  sodium_memzero(b64, sizeof b64);
  return out;
}

std::string new_accessor() {
  static constexpr char kAlphabet[] = "23456789abcdefghjkmnpqrstuvwxyz";
  std::string id = "acc_";
  for (int i = 0; i < 12; ++i) id.push_back(kAlphabet[randombytes_uniform(sizeof(kAlphabet) - 1)]);
  return id;
}

Bytes hash_token(std::string_view token) {
  static constexpr unsigned char kContext[] = "vigil api token v1";
  Bytes h(32);
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, h.size());
  crypto_generichash_update(&st, kContext, sizeof kContext);
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(token.data()), token.size());
  crypto_generichash_final(&st, h.data(), h.size());
  return h;
}

bool well_formed(std::string_view token) {
  if (token.size() != kPrefix.size() + 43 || token.substr(0, kPrefix.size()) != kPrefix) return false;
  return std::all_of(token.begin() + kPrefix.size(), token.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
}

bool valid_scope(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(s[0])) return false;
  return std::all_of(s.begin(), s.end(),
                     [&](char c) { return alnum(c) || c == '.' || c == '_' || c == '-'; });
}

boost::json::object describe(const Token& t) {
  boost::json::object o;
  o["accessor"] = t.accessor;
  o["owner"] = t.owner;
  o["owner_uid"] = t.owner_uid;
  o["name"] = t.name;
  boost::json::array scopes;
  for (const auto& s : t.scopes) scopes.push_back(boost::json::string(s));
  o["scopes"] = std::move(scopes);
  o["created_by"] = t.created_by;
  return o;
}

Verdict decide(const Token* t, std::string_view scope, bool frozen, TimePoint now) {
  if (frozen) return Verdict::kFrozen;
  if (!t) return Verdict::kUnknown;
  if (t->state == State::kRevoked) return Verdict::kRevoked;
  if (t->state == State::kSuspended) return Verdict::kSuspended;
  if (now >= t->expires) return Verdict::kExpired;
  if (!scope.empty() && std::find(t->scopes.begin(), t->scopes.end(), scope) == t->scopes.end())
    return Verdict::kNoScope;
  return Verdict::kValid;
}

}  // namespace vigil::tokens
