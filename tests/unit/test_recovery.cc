// The recovery rules (daemon/core/recovery.h), table-driven.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "daemon/core/recovery.h"

namespace vigil::recovery {
namespace {

constexpr int64_t kAlice = 1001, kBob = 1002, kCarol = 1003, kDave = 1004;

std::vector<Admin> admins(std::initializer_list<std::pair<int64_t, bool>> list) {
  std::vector<Admin> out;
  for (auto [uid, blocked] : list) out.push_back(Admin{uid, "u" + std::to_string(uid), blocked});
  return out;
}

// "" expects the action to be allowed; otherwise a fragment of the refusal.
struct UnblockRow {
  const char* name;
  int64_t actor;
  int64_t target;
  bool target_admin;
  Verification how;
  std::vector<Admin> admins;
  const char* refusal;
};

TEST(Recovery, UnblockRules) {
  const auto three = admins({{kAlice, false}, {kBob, true}, {kDave, false}});
  const auto two = admins({{kAlice, false}, {kBob, true}});
  const auto last = admins({{kAlice, true}, {kBob, true}, {kDave, true}});
  const std::vector<UnblockRow> rows = {
      {"self, blocked", kBob, kBob, true, Verification::kCode, three, "your own block"},
      {"self, even with approval", kBob, kBob, true, Verification::kApproval, three, "your own block"},
      {"self, as an employee", kCarol, kCarol, false, Verification::kNone, three, "your own block"},
      {"admin without verification", kAlice, kBob, true, Verification::kNone, three,
       "needs identity verification"},
      {"admin with a code", kAlice, kBob, true, Verification::kCode, three, ""},
      {"admin with approval, a third admin exists", kAlice, kBob, true, Verification::kApproval, three, ""},
      {"admin with approval, no third admin", kAlice, kBob, true, Verification::kApproval, two,
       "no third active administrator"},
      {"a blocked third admin does not count", kAlice, kBob, true, Verification::kApproval,
       admins({{kAlice, false}, {kBob, true}, {kDave, true}}), "no third active administrator"},
      {"employee: no verification needed", kAlice, kCarol, false, Verification::kNone, three, ""},
      {"employee, even when every admin is blocked (root acts)", 0, kCarol, false,
       Verification::kNone, last, ""},
      {"the last admin: nobody left", 0, kBob, true, Verification::kCode, last, kNobodyLeft},
      {"the last admin, even with approval", 0, kBob, true, Verification::kApproval, last, kNobodyLeft},
  };
  for (const auto& r : rows) {
    UnblockCase c;
    c.actor_uid = r.actor;
    c.target_uid = r.target;
    c.target_name = "target";
    c.target_admin = r.target_admin;
    c.how = r.how;
    c.admins = r.admins;
    auto got = unblock_refusal(c);
    if (std::string(r.refusal).empty()) {
      EXPECT_FALSE(got.has_value()) << r.name << ": " << got.value_or("");
    } else {
      ASSERT_TRUE(got.has_value()) << r.name;
      EXPECT_NE(got->find(r.refusal), std::string::npos) << r.name << ": " << *got;
    }
  }
}

TEST(Recovery, WhoMayUseTheAdminSocket) {
  struct Row {
    int64_t uid;
    bool admin, blocked, allow_root;
    const char* refusal;
  } rows[] = {
      {kAlice, true, false, false, ""},
      {kAlice, true, true, false, "your account is blocked"},
      {kCarol, false, false, false, "not an administrator"},
      {kCarol, false, false, true, "not an administrator"},
      {0, false, false, false, "allow_root"},
      {0, false, false, true, ""},
  };
  for (const auto& r : rows) {
    auto got = admin_refusal(r.uid, r.admin, r.blocked, r.allow_root);
    if (std::string(r.refusal).empty()) {
      EXPECT_FALSE(got.has_value()) << r.uid << ": " << got.value_or("");
    } else {
      ASSERT_TRUE(got.has_value()) << r.uid;
      EXPECT_NE(got->find(r.refusal), std::string::npos) << *got;
    }
  }
}

TEST(Recovery, ApprovalRules) {
  const TimePoint t0 = from_epoch(1'800'000'000);
  RecoveryRecord r;
  r.id = "R-abc234";
  r.kind = RecoveryRecord::Kind::kApproval;
  r.uid = kBob;
  r.name = "bob";
  r.requester_uid = kAlice;
  r.expires = t0 + std::chrono::hours(24);
  struct Row {
    int64_t approver;
    TimePoint at;
    const char* refusal;
  } rows[] = {
      {kDave, t0, ""},
      {kAlice, t0, "you filed this request"},
      {kBob, t0, "your own block"},
      {kDave, t0 + std::chrono::hours(24), "has expired"},
  };
  for (const auto& row : rows) {
    auto got = approve_refusal(r, row.approver, row.at);
    if (std::string(row.refusal).empty()) {
      EXPECT_FALSE(got.has_value()) << got.value_or("");
    } else {
      ASSERT_TRUE(got.has_value()) << row.approver;
      EXPECT_NE(got->find(row.refusal), std::string::npos) << *got;
    }
  }
  r.kind = RecoveryRecord::Kind::kRequest;
  auto got = approve_refusal(r, kDave, t0);
  ASSERT_TRUE(got.has_value());
  EXPECT_NE(got->find("not an unblock waiting for approval"), std::string::npos);
}

TEST(Recovery, RequestRules) {
  const auto three = admins({{kAlice, false}, {kBob, true}, {kDave, false}});
  EXPECT_FALSE(request_refusal(kCarol, false, kBob, three).has_value());
  EXPECT_NE(request_refusal(kCarol, false, kCarol, three)->find("for yourself"), std::string::npos);
  EXPECT_NE(request_refusal(kCarol, true, kBob, three)->find("your account is blocked"), std::string::npos);
  // bob is the only administrator left, and he is blocked.
  const auto none = admins({{kAlice, true}, {kBob, true}});
  EXPECT_EQ(request_refusal(kCarol, false, kBob, none), std::string(kNobodyLeft));
  // An employee's request needs someone to handle it, too.
  EXPECT_EQ(request_refusal(kBob, false, kCarol, admins({{kAlice, true}})), std::string(kNobodyLeft));
}

TEST(Recovery, AuditWarnings) {
  auto w = audit_warnings(admins({{kAlice, false}}), {}, {});
  ASSERT_EQ(w.size(), 2u);
  EXPECT_NE(w[0].find("fewer than three administrators (1)"), std::string::npos);
  EXPECT_EQ(w[1], "administrator u1001 has no second factor");

  const std::map<int64_t, int64_t> codes{{kAlice, 10}, {kBob, 1}, {kDave, 3}};
  EXPECT_TRUE(audit_warnings(admins({{kAlice, false}, {kBob, false}, {kDave, false}}),
                             {kAlice, kBob, kDave}, codes)
                  .empty());
  // A factor with no recovery code left: a lost phone needs another admin.
  w = audit_warnings(admins({{kAlice, false}, {kBob, false}, {kDave, false}}), {kAlice, kBob, kDave},
                     {{kAlice, 10}, {kDave, 3}});
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0], "administrator u1002 has no recovery codes left: a lost phone then needs another administrator "
                  "(vigilctl totp recovery-codes u1002)");

  w = audit_warnings(admins({{kAlice, true}, {kBob, true}, {kDave, true}}), {kAlice, kBob, kDave}, codes);
  ASSERT_EQ(w.size(), 3u) << "each blocked admin is unrecoverable when all are blocked";
  for (const auto& s : w) EXPECT_NE(s.find(kNobodyLeft), std::string::npos) << s;
}

}  // namespace
}  // namespace vigil::recovery
