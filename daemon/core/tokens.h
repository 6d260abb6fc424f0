// Service API tokens: their format, their hash, and the pure decision of a
// check. Unit-tested with tables (tests/unit/test_tokens.cc).
//
// Contract:
//  * A token is "vgl_" followed by 256 random bits in base64url without
//    padding (43 characters). It is shown once and never stored: the store
//    keeps hash_token(), a BLAKE2b-256 digest (the token's 256 random bits
//    make a plain digest as strong as a keyed one).
//  * An accessor ("acc_" + 12 characters) names a token in listings, logs
//    and revocations; it reveals nothing of the token.
//  * decide() is pure: frozen first (every check answers frozen while the
//    API is frozen), then unknown, revoked, suspended, expired, scope.
#pragma once

#include <boost/json/object.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/core/clock.h"
#include "daemon/core/secrets.h"

namespace vigil::tokens {

inline constexpr std::string_view kPrefix = "vgl_";

enum class State { kActive, kSuspended, kRevoked };
const char* state_name(State s);
std::optional<State> parse_state(std::string_view s);

struct Token {
  std::string accessor;
  Bytes hash;                     // hash_token(token)
  int64_t owner_uid = 0;
  std::string owner;
  std::string name;
  std::vector<std::string> scopes;
  int64_t created_by_uid = 0;
  std::string created_by;
  TimePoint created{};
  TimePoint expires{};
  State state = State::kActive;
  std::string state_reason;       // why suspended or revoked
  TimePoint state_changed{};
};

// What a check answers.
// kStale: fleet mode, this host's replica of the fleet's revocations is
// older than [fleet] fence, so no token is vouched for.
enum class Verdict { kValid, kUnknown, kExpired, kRevoked, kSuspended, kFrozen, kNoScope, kStale };
const char* verdict_name(Verdict v);
// HTTP status for nginx auth_request: 200, 401 (unknown, expired), 503
// (stale) or 403.
int http_status(Verdict v);

std::string new_token();     // "vgl_..." from the system CSPRNG
std::string new_accessor();  // "acc_..."
Bytes hash_token(std::string_view token);
// Shape only: the prefix and 43 base64url characters.
bool well_formed(std::string_view token);
// Scopes: 1..64 of [a-z0-9._-], starting with a letter or digit.
bool valid_scope(std::string_view scope);

// What identifies a token to people and other systems: accessor, owner,
// owner_uid, name, scopes, created_by. Never the token or its hash.
boost::json::object describe(const Token& t);

// `t` is null when no token has this hash. `scope` empty: any scope.
Verdict decide(const Token* t, std::string_view scope, bool frozen, TimePoint now);

}  // namespace vigil::tokens
