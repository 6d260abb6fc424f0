// Token format, hash and the check decision (daemon/core/tokens.h), table-driven.
#include <gtest/gtest.h>
#include <sodium.h>

#include <set>

#include "daemon/core/tokens.h"

namespace vigil::tokens {
namespace {

TEST(Tokens, FormatAndHash) {
  ASSERT_GE(sodium_init(), 0);
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    std::string t = new_token();
    EXPECT_TRUE(well_formed(t)) << t;
    EXPECT_TRUE(seen.insert(t).second);
  }
  const std::string t = *seen.begin();
  EXPECT_EQ(hash_token(t), hash_token(t));
  EXPECT_NE(hash_token(t), hash_token(t + "x"));
  EXPECT_EQ(hash_token(t).size(), 32u);
  EXPECT_FALSE(well_formed("vgl_short"));
  EXPECT_FALSE(well_formed("xyz_" + t.substr(4)));
  EXPECT_FALSE(well_formed(t.substr(0, 46) + "!"));
  EXPECT_EQ(new_accessor().substr(0, 4), "acc_");
}

TEST(Tokens, Scopes) {
  for (const char* ok : {"api", "reports.read", "a", "0x-y_z", "backup"}) EXPECT_TRUE(valid_scope(ok)) << ok;
  for (const char* bad : {"", "API", "-x", ".x", "a b", "a/b", "a?x=1", "ü"}) EXPECT_FALSE(valid_scope(bad)) << bad;
  EXPECT_FALSE(valid_scope(std::string(65, 'a')));
}

TEST(Tokens, Decide) {
  const TimePoint now = from_epoch(1'800'000'000);
  Token active;
  active.scopes = {"api", "reports"};
  active.expires = now + std::chrono::hours(1);
  Token expired = active;
  expired.expires = now;
  Token suspended = active;
  suspended.state = State::kSuspended;
  Token revoked = active;
  revoked.state = State::kRevoked;
  Token revoked_expired = revoked;
  revoked_expired.expires = now - std::chrono::hours(1);
  struct Row {
    const char* name;
    const Token* token;
    const char* scope;
    bool frozen;
    Verdict want;
    int http;
  } rows[] = {
      {"valid", &active, "api", false, Verdict::kValid, 200},
      {"valid, any scope", &active, "", false, Verdict::kValid, 200},
      {"without the scope", &active, "admin", false, Verdict::kNoScope, 403},
      {"unknown", nullptr, "api", false, Verdict::kUnknown, 401},
      {"expired", &expired, "api", false, Verdict::kExpired, 401},
      {"suspended", &suspended, "api", false, Verdict::kSuspended, 403},
      {"revoked", &revoked, "api", false, Verdict::kRevoked, 403},
      {"revoked beats expired", &revoked_expired, "api", false, Verdict::kRevoked, 403},
      {"frozen: even a valid token", &active, "api", true, Verdict::kFrozen, 403},
      {"frozen: even an unknown one", nullptr, "api", true, Verdict::kFrozen, 403},
  };
  for (const auto& r : rows) {
    Verdict v = decide(r.token, r.scope, r.frozen, now);
    EXPECT_EQ(v, r.want) << r.name << ": " << verdict_name(v);
    EXPECT_EQ(http_status(v), r.http) << r.name;
  }
  // Fleet mode, a replica older than [fleet] fence: no token is vouched
  // for, and nginx's auth_request takes 503 as an error (refused).
  EXPECT_STREQ(verdict_name(Verdict::kStale), "stale");
  EXPECT_EQ(http_status(Verdict::kStale), 503);
}

TEST(Tokens, States) {
  for (State s : {State::kActive, State::kSuspended, State::kRevoked}) EXPECT_EQ(parse_state(state_name(s)), s);
  EXPECT_FALSE(parse_state("bogus").has_value());
}

}  // namespace
}  // namespace vigil::tokens
