// The typed API of api_admin.h: exact bytes, round trips, and decoding as the
// daemon always validated.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <functional>
#include <string>
#include <string_view>

#include "tests/unit/api_tables.h"
#include "protocol/api_admin.h"

namespace vigil::proto::api {
namespace {

using test::Decoding;
using test::expect_round_trip;
using test::object_of;
using test::reencode;

namespace json = boost::json;

// ---- samples, as vigild builds them ----

RecoveryEntry bob_request() {
  return RecoveryEntry{"R-abc123", "request", "bob", 1001, "alice", 1000, "lost phone", 100, 200, true};
}
const std::string kBobRequest =
    R"({"id":"R-abc123","kind":"request","user":"bob","uid":1001,"requester":"alice","requester_uid":1000,)"
    R"("reason":"lost phone","created":100,"expires":200,"blocked":true})";

TokenInfo active_token() {
  TokenInfo t;
  t.accessor = "acc_1";
  t.owner = "bob";
  t.owner_uid = 1001;
  t.name = "ci";
  t.scopes = {"deploy", "read"};
  t.created_by = "carol";
  t.created = 100;
  t.expires = 200;
  t.state = "active";
  return t;
}
const std::string kActiveToken =
    R"("accessor":"acc_1","owner":"bob","owner_uid":1001,"name":"ci","scopes":["deploy","read"],)"
    R"("created_by":"carol","created":100,"expires":200,"state":"active","expired":false)";

TokenInfo revoked_token() {
  TokenInfo t = active_token();
  t.state = "revoked";
  t.expired = true;
  t.state_reason = "leaked";
  t.state_changed = 150;
  return t;
}

// Suspended when vigild loaded its state: no time of change, still written.
TokenInfo suspended_token() {
  TokenInfo t = active_token();
  t.state = "suspended";
  t.state_reason = "owner blocked";
  return t;
}

UnblockReply not_blocked() {
  UnblockReply r;
  r.user = "bob";
  return r;
}

UnblockReply recovered() {
  UnblockReply r;
  r.user = "bob";
  r.changed = true;
  r.password = PasswordExpiry{"off", "[recovery] expire_password is off"};
  return r;
}

UnblockReply pending() {
  UnblockReply r;
  r.user = "bob";
  r.pending = true;
  r.id = "R-abc123";
  r.expires = 300;
  return r;
}

AdminAuditReply audit() {
  AdminAuditReply r;
  r.admins = {{"carol", 1002, true, false, 7}, {"dave", 1003, false, true, 0}};
  r.without_totp = {{"bob", 1001, false}};
  r.blocked = {{"uid 5000", 5000, "administrator: phished", 120, "carol"}};
  r.requests = {bob_request()};
  r.warnings = {"only one administrator has a second factor"};
  return r;
}

// The audit in report mode: its section after the others.
AdminAuditReply audit_in_report_mode() {
  AdminAuditReply r;
  r.report_mode = AuditReportMode{true, 100, {{"locked", 3}, {"blocked", 1}},
                                  {{"bob", "locked", "203.0.113.7", "sshd", 150}, {"carol", "blocked", "", "", 140}}};
  return r;
}

// ---- exact bytes ----

struct Encoding {
  const char* name;
  std::function<json::object()> encode;
  std::string json;  // as vigilctl and vigild always wrote it
};

class AdminApiEncoding : public ::testing::TestWithParam<Encoding> {};

TEST_P(AdminApiEncoding, WritesTheFramesOfOld) {
  EXPECT_EQ(json::serialize(GetParam().encode()), GetParam().json);
}

// clang-format off
INSTANTIATE_TEST_SUITE_P(
    Table, AdminApiEncoding,
    ::testing::Values(
        Encoding{"reset", [] { return AccountReset{"alice"}.to_json(); }, R"({"user":"alice"})"},
        Encoding{"reset_empty", [] { return AccountReset{}.to_json(); }, R"({"user":""})"},
        Encoding{"reset_reply", [] { return AccountResetReply{"alice", true}.to_json(); }, R"({"user":"alice","was_locked":true})"},
        Encoding{"block", [] { return AccountBlock{"bob", "phished"}.to_json(); }, R"({"user":"bob","reason":"phished"})"},
        Encoding{"block_empty_reason", [] { return AccountBlock{"bob", ""}.to_json(); }, R"({"user":"bob","reason":""})"},
        Encoding{"block_reply", [] { return AccountBlockReply{"bob", false}.to_json(); }, R"({"user":"bob","changed":false})"},
        Encoding{"unblock", [] { return AccountUnblock{"bob", "r", false, ""}.to_json(); }, R"({"user":"bob","reason":"r"})"},
        Encoding{"unblock_approval", [] { return AccountUnblock{"bob", "r", true, ""}.to_json(); }, R"({"user":"bob","reason":"r","approval":true})"},
        Encoding{"unblock_code", [] { return AccountUnblock{"bob", "r", false, "123456"}.to_json(); }, R"({"user":"bob","reason":"r","verify_code":"123456"})"},
        Encoding{"unblock_reply_nothing", [] { return not_blocked().to_json(); }, R"({"user":"bob","changed":false})"},
        Encoding{"unblock_reply_pending", [] { return pending().to_json(); },
                 R"({"user":"bob","changed":false,"pending":true,"id":"R-abc123","expires":300})"},
        Encoding{"unblock_reply_recovered", [] { return recovered().to_json(); },
                 R"({"user":"bob","changed":true,"devices_forgotten":0,"suspicious_since":0,)"
                 R"("password":{"outcome":"off","message":"[recovery] expire_password is off"},"password_change_required":false})"},
        Encoding{"unblock_reply_recovered_full",
                 [] {
                   UnblockReply r = recovered();
                   r.devices_forgotten = 2;
                   r.suspicious_since = 90;
                   r.password = PasswordExpiry{"expired", "password of bob expired"};
                   r.password_change_required = true;
                   return r.to_json();
                 },
                 R"({"user":"bob","changed":true,"devices_forgotten":2,"suspicious_since":90,)"
                 R"("password":{"outcome":"expired","message":"password of bob expired"},"password_change_required":true})"},
        Encoding{"password_changed", [] { return AccountPasswordChanged{"bob", "ldap tool"}.to_json(); }, R"({"user":"bob","reason":"ldap tool"})"},
        Encoding{"approve", [] { return RecoveryApprove{"R-abc123"}.to_json(); }, R"({"id":"R-abc123"})"},
        Encoding{"recovery_list", [] { return RecoveryList{}.to_json(); }, "{}"},
        Encoding{"recovery_entry", [] { return bob_request().to_json(); }, kBobRequest},
        Encoding{"recovery_list_reply",
                 [] {
                   RecoveryEntry approval = bob_request();
                   approval.kind = "approval";
                   approval.blocked = false;
                   return RecoveryListReply{{bob_request()}, {approval}}.to_json();
                 },
                 R"({"requests":[)" + kBobRequest + R"(],"approvals":[{"id":"R-abc123","kind":"approval","user":"bob",)"
                 R"("uid":1001,"requester":"alice","requester_uid":1000,"reason":"lost phone","created":100,"expires":200,"blocked":false}]})"},
        Encoding{"recovery_list_reply_empty", [] { return RecoveryListReply{}.to_json(); }, R"({"requests":[],"approvals":[]})"},
        Encoding{"audit", [] { return AdminAudit{}.to_json(); }, "{}"},
        Encoding{"audit_reply", [] { return audit().to_json(); },
                 R"({"admins":[{"user":"carol","uid":1002,"totp":true,"blocked":false,"recovery_codes":7},)"
                 R"({"user":"dave","uid":1003,"totp":false,"blocked":true,"recovery_codes":0}],)"
                 R"("without_totp":[{"user":"bob","uid":1001,"admin":false}],)"
                 R"("blocked":[{"user":"uid 5000","uid":5000,"reason":"administrator: phished","since":120,"by":"carol"}],)"
                 R"("requests":[)" + kBobRequest + R"(],"warnings":["only one administrator has a second factor"]})"},
        Encoding{"audit_reply_empty", [] { return AdminAuditReply{}.to_json(); },
                 R"({"admins":[],"without_totp":[],"blocked":[],"requests":[],"warnings":[]})"},
        Encoding{"audit_reply_report_mode", [] { return audit_in_report_mode().to_json(); },
                 R"({"admins":[],"without_totp":[],"blocked":[],"requests":[],"warnings":[],)"
                 R"("report_mode":{"active":true,"since":100,"counts":[{"reason":"locked","count":3},{"reason":"blocked","count":1}],)"
                 R"("latest":[{"user":"bob","reason":"locked","source":"203.0.113.7","service":"sshd","at":150},)"
                 R"({"user":"carol","reason":"blocked","at":140}]}})"},
        Encoding{"token_issue", [] { return TokenIssue{"bob", "ci", {"deploy", "read"}, ""}.to_json(); },
                 R"({"owner":"bob","name":"ci","scopes":["deploy","read"]})"},
        Encoding{"token_issue_ttl", [] { return TokenIssue{"bob", "ci", {"deploy"}, "30d"}.to_json(); },
                 R"({"owner":"bob","name":"ci","scopes":["deploy"],"ttl":"30d"})"},
        Encoding{"token_issue_reply", [] { return TokenIssueReply{active_token(), "bob", "vgl_secret"}.to_json(); },
                 "{" + kActiveToken + R"(,"user":"bob","token":"vgl_secret"})"},
        Encoding{"token_list", [] { return TokenList{}.to_json(); }, "{}"},
        Encoding{"token_list_owner", [] { return TokenList{"bob"}.to_json(); }, R"({"owner":"bob"})"},
        Encoding{"token_list_reply",
                 [] {
                   return TokenListReply{{active_token(), revoked_token()}, true, {{"carol", 1002, 120, "administrator blocked"}}}
                       .to_json();
                 },
                 R"({"tokens":[{)" + kActiveToken + R"(},{"accessor":"acc_1","owner":"bob","owner_uid":1001,"name":"ci",)"
                 R"("scopes":["deploy","read"],"created_by":"carol","created":100,"expires":200,"state":"revoked","expired":true,)"
                 R"("state_reason":"leaked","state_changed":150}],"frozen":true,)"
                 R"("freezes":[{"user":"carol","uid":1002,"since":120,"reason":"administrator blocked"}]})"},
        Encoding{"token_list_reply_empty", [] { return TokenListReply{}.to_json(); }, R"({"tokens":[],"frozen":false,"freezes":[]})"},
        Encoding{"token_show", [] { return TokenShow{"acc_1"}.to_json(); }, R"({"accessor":"acc_1"})"},
        Encoding{"token_show_reply", [] { return TokenShowReply{active_token(), true}.to_json(); },
                 "{" + kActiveToken + R"(,"frozen":true})"},
        Encoding{"token_revoke", [] { return TokenRevoke{"acc_1", "leaked"}.to_json(); }, R"({"accessor":"acc_1","reason":"leaked"})"},
        Encoding{"token_revoke_reply_suspended", [] { return TokenRevokeReply{suspended_token(), false}.to_json(); },
                 R"({"accessor":"acc_1","owner":"bob","owner_uid":1001,"name":"ci","scopes":["deploy","read"],)"
                 R"("created_by":"carol","created":100,"expires":200,"state":"suspended","expired":false,)"
                 R"("state_reason":"owner blocked","state_changed":0,"changed":false})"}),
    [](const auto& info) { return std::string(info.param.name); });
// clang-format on

// ---- round trips ----

TEST(AdminApi, RoundTrips) {
  expect_round_trip(AccountReset{"alice"});
  expect_round_trip(AccountResetReply{"alice", true});
  expect_round_trip(AccountBlock{"bob", "phished"});
  expect_round_trip(AccountBlockReply{"bob", true});
  expect_round_trip(AccountUnblock{"bob", "r", true, ""});
  expect_round_trip(AccountUnblock{"bob", "r", false, "123456"});
  expect_round_trip(not_blocked());
  expect_round_trip(pending());
  expect_round_trip(recovered());
  expect_round_trip(AccountPasswordChanged{"bob", "ldap"});
  expect_round_trip(RecoveryApprove{"R-1"});
  expect_round_trip(RecoveryList{});
  expect_round_trip(RecoveryListReply{{bob_request()}, {bob_request()}});
  expect_round_trip(AdminAudit{});
  expect_round_trip(audit());
  expect_round_trip(audit_in_report_mode());
  expect_round_trip(TokenIssue{"bob", "ci", {"deploy"}, "30d"});
  expect_round_trip(TokenIssueReply{active_token(), "bob", "vgl_secret"});
  expect_round_trip(TokenList{"bob"});
  expect_round_trip(TokenListReply{{active_token(), revoked_token(), suspended_token()}, false, {}});
  expect_round_trip(TokenShow{"acc_1"});
  expect_round_trip(TokenShowReply{revoked_token(), false});
  expect_round_trip(TokenRevoke{"acc_1", "leaked"});
  expect_round_trip(TokenRevokeReply{suspended_token(), true});

  auto back = UnblockReply::from_json(recovered().to_json());
  ASSERT_TRUE(back.ok());
  ASSERT_TRUE(back->password.has_value());
  EXPECT_EQ(back->password->outcome, "off");
  auto list = TokenListReply::from_json(TokenListReply{{revoked_token()}, true, {{"carol", 1002, 120, "r"}}}.to_json());
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->tokens.size(), 1u);
  EXPECT_EQ(list->tokens[0].scopes, (std::vector<std::string>{"deploy", "read"}));
  EXPECT_EQ(list->tokens[0].state_changed, 150);
  ASSERT_EQ(list->freezes.size(), 1u);
  EXPECT_EQ(list->freezes[0].user, "carol");
  auto report = AdminAuditReply::from_json(audit().to_json());
  ASSERT_TRUE(report.ok());
  ASSERT_EQ(report->blocked.size(), 1u);
  EXPECT_EQ(report->blocked[0].uid, 5000);
  EXPECT_EQ(report->requests[0].requester, "alice");
  EXPECT_FALSE(report->report_mode.has_value()) << "absent in enforce mode";
  auto reporting = AdminAuditReply::from_json(audit_in_report_mode().to_json());
  ASSERT_TRUE(reporting.ok() && reporting->report_mode.has_value());
  EXPECT_TRUE(reporting->report_mode->active);
  ASSERT_EQ(reporting->report_mode->latest.size(), 2u);
  EXPECT_EQ(reporting->report_mode->latest[0].source, "203.0.113.7");
  EXPECT_EQ(reporting->report_mode->counts[1].count, 1);
}

TEST(AdminApi, CallsNameTheirMethods) {
  EXPECT_EQ(make_call(AccountReset{}).method, kAccountReset);
  EXPECT_EQ(make_call(AccountBlock{}).method, kAccountBlock);
  EXPECT_EQ(make_call(AccountUnblock{}).method, kAccountUnblock);
  EXPECT_EQ(make_call(AccountPasswordChanged{}).method, kAccountPasswordChanged);
  EXPECT_EQ(make_call(RecoveryApprove{}).method, kRecoveryApprove);
  EXPECT_EQ(make_call(RecoveryList{}).method, kRecoveryList);
  EXPECT_EQ(make_call(AdminAudit{}).method, kAdminAudit);
  EXPECT_EQ(make_call(TokenIssue{}).method, kTokenIssue);
  EXPECT_EQ(make_call(TokenList{}).method, kTokenList);
  EXPECT_EQ(make_call(TokenShow{}).method, kTokenShow);
  EXPECT_EQ(make_call(TokenRevoke{}).method, kTokenRevoke);
}

// ---- the admin gate's step_up_code ----

// Every admin request lets it through unread, whatever its type (the gate
// checks it); a request of the public socket refuses it as unknown.
TEST(AdminApi, StepUpCodePassesAdminRequestsOnly) {
  const std::string code = R"("step_up_code":"123456")";
  EXPECT_EQ(reencode<AccountReset>(R"({"user":"a",)" + code + "}"), R"({"user":"a"})");
  EXPECT_EQ(reencode<AccountBlock>("{" + code + R"(,"user":"a","reason":"r"})"), R"({"user":"a","reason":"r"})");
  EXPECT_EQ(reencode<AccountUnblock>(R"({"user":"a","reason":"r","verify_code":"1",)" + code + "}"),
            R"({"user":"a","reason":"r","verify_code":"1"})");
  EXPECT_EQ(reencode<AccountPasswordChanged>(R"({"user":"a","reason":"r",)" + code + "}"), R"({"user":"a","reason":"r"})");
  EXPECT_EQ(reencode<RecoveryApprove>(R"({"id":"R-1",)" + code + "}"), R"({"id":"R-1"})");
  EXPECT_EQ(reencode<RecoveryList>("{" + code + "}"), "{}");
  EXPECT_EQ(reencode<AdminAudit>(R"({"step_up_code":5})"), "{}");
  EXPECT_EQ(reencode<TokenIssue>(R"({"owner":"a","name":"n","scopes":["s"],)" + code + "}"),
            R"({"owner":"a","name":"n","scopes":["s"]})");
  EXPECT_EQ(reencode<TokenList>("{" + code + "}"), "{}");
  EXPECT_EQ(reencode<TokenShow>(R"({"accessor":"acc_1",)" + code + "}"), R"({"accessor":"acc_1"})");
  EXPECT_EQ(reencode<TokenRevoke>(R"({"accessor":"acc_1","reason":"r",)" + code + "}"), R"({"accessor":"acc_1","reason":"r"})");

  EXPECT_EQ(reencode<RecoveryRequest>(R"({"user":"a","reason":"r",)" + code + "}"), R"(error: unknown parameter "step_up_code")");
  EXPECT_EQ(reencode<DevicesList>("{" + code + "}"), R"(error: unknown parameter "step_up_code")");
  EXPECT_EQ(reencode<Ping>("{" + code + "}"), R"(error: unknown parameter "step_up_code")");
}

// ---- decoding ----

class AdminApiDecoding : public ::testing::TestWithParam<Decoding> {};

TEST_P(AdminApiDecoding, ReadsAsTheDaemonAlwaysDid) {
  EXPECT_EQ(GetParam().decode(GetParam().in), GetParam().out);
}

const auto kReset = reencode<AccountReset>;
const auto kBlock = reencode<AccountBlock>;
const auto kUnblock = reencode<AccountUnblock>;
const auto kUnblockReply = reencode<UnblockReply>;
const auto kApprove = reencode<RecoveryApprove>;
const auto kListReply = reencode<RecoveryListReply>;
const auto kAuditReply = reencode<AdminAuditReply>;
const auto kIssue = reencode<TokenIssue>;
const auto kIssueReply = reencode<TokenIssueReply>;
const auto kListTokens = reencode<TokenList>;
const auto kListTokensReply = reencode<TokenListReply>;
const auto kShowReply = reencode<TokenShowReply>;
const std::string kLongCode(100, '1');
const std::string kActiveTokenObject = "{" + kActiveToken + "}";

// Requests: vigild calls admin_params() first (types, 512 bytes); what the
// struct reads loosely, the method's rules refuse in their own words.
// Replies: open, and strict about what vigild always writes.
// clang-format off
INSTANTIATE_TEST_SUITE_P(
    Table, AdminApiDecoding,
    ::testing::Values(
        Decoding{"reset_unknown", kReset, R"({"user":"a","force":true})", R"(error: unknown parameter "force")"},
        Decoding{"reset_unknown_first", kReset, R"({"user":5,"force":true})", R"(error: unknown parameter "force")"},
        Decoding{"reset_user_loose", kReset, R"({"user":5})", R"({"user":""})"},
        Decoding{"reset_absent", kReset, "{}", R"({"user":""})"},
        Decoding{"reset_long_user_kept", kReset, R"({"user":")" + std::string(600, 'u') + R"("})", R"({"user":")" + std::string(600, 'u') + R"("})"},
        Decoding{"block_loose", kBlock, R"({"user":true,"reason":["x"]})", R"({"user":"","reason":""})"},
        Decoding{"block_unknown", kBlock, R"({"user":"a","reason":"r","approval":true})", R"(error: unknown parameter "approval")"},
        Decoding{"unblock_loose", kUnblock, R"({"user":"a","reason":"r","approval":"yes","verify_code":true})", R"({"user":"a","reason":"r"})"},
        Decoding{"unblock_null_code", kUnblock, R"({"user":"a","reason":"r","verify_code":null})", R"({"user":"a","reason":"r"})"},
        Decoding{"unblock_long_code_kept", kUnblock, R"({"user":"a","reason":"r","verify_code":")" + kLongCode + R"("})", R"({"user":"a","reason":"r","verify_code":")" + kLongCode + R"("})"},
        Decoding{"unblock_both", kUnblock, R"({"user":"a","reason":"r","approval":true,"verify_code":"1"})", R"({"user":"a","reason":"r","approval":true,"verify_code":"1"})"},
        Decoding{"unblock_unknown", kUnblock, R"({"user":"a","reason":"r","code":"1"})", R"(error: unknown parameter "code")"},
        Decoding{"password_changed_unknown", reencode<AccountPasswordChanged>, R"({"user":"a","reason":"r","id":"x"})", R"(error: unknown parameter "id")"},
        Decoding{"approve_loose", kApprove, R"({"id":5})", R"({"id":""})"},
        Decoding{"approve_absent", kApprove, "{}", R"({"id":""})"},
        Decoding{"approve_unknown", kApprove, R"({"id":"R-1","user":"a"})", R"(error: unknown parameter "user")"},
        Decoding{"recovery_list_unknown", reencode<RecoveryList>, R"({"all":true})", R"(error: unknown parameter "all")"},
        Decoding{"audit_unknown", reencode<AdminAudit>, R"({"user":"a"})", R"(error: unknown parameter "user")"},
        Decoding{"issue_scopes_string", kIssue, R"({"owner":"a","name":"n","scopes":"s"})", R"({"owner":"a","name":"n","scopes":[]})"},
        Decoding{"issue_scope_number", kIssue, R"({"owner":"a","name":"n","scopes":["s",1]})", R"({"owner":"a","name":"n","scopes":[]})"},
        Decoding{"issue_ttl_bool", kIssue, R"({"owner":"a","name":"n","scopes":["s"],"ttl":true})", R"({"owner":"a","name":"n","scopes":["s"]})"},
        Decoding{"issue_absent", kIssue, "{}", R"({"owner":"","name":"","scopes":[]})"},
        Decoding{"issue_unknown", kIssue, R"({"owner":"a","name":"n","scopes":["s"],"expires":1})", R"(error: unknown parameter "expires")"},
        Decoding{"token_list_loose", kListTokens, R"({"owner":false})", "{}"},
        Decoding{"token_list_unknown", kListTokens, R"({"owner":"a","name":"n"})", R"(error: unknown parameter "name")"},
        Decoding{"token_show_unknown", reencode<TokenShow>, R"({"accessor":"acc_1","reason":"r"})", R"(error: unknown parameter "reason")"},
        Decoding{"token_show_loose", reencode<TokenShow>, R"({"accessor":1})", R"({"accessor":""})"},
        Decoding{"token_revoke_loose", reencode<TokenRevoke>, R"({"accessor":"acc_1","reason":false})", R"({"accessor":"acc_1","reason":""})"},
        Decoding{"reset_reply_open", reencode<AccountResetReply>, R"({"user":"a","was_locked":true,"new":1})", R"({"user":"a","was_locked":true})"},
        Decoding{"reset_reply_missing", reencode<AccountResetReply>, R"({"user":"a"})", R"(error: missing parameter "was_locked")"},
        Decoding{"block_reply_changed_type", reencode<AccountBlockReply>, R"({"user":"a","changed":"yes"})", R"(error: parameter "changed" must be a boolean)"},
        Decoding{"unblock_reply_no_user", kUnblockReply, R"({"changed":false})", R"(error: missing parameter "user")"},
        Decoding{"unblock_reply_pending", kUnblockReply, R"({"user":"a","changed":false,"pending":true,"id":"R-1","expires":3,"new":1})", R"({"user":"a","changed":false,"pending":true,"id":"R-1","expires":3})"},
        Decoding{"unblock_reply_recovered_bare", kUnblockReply, R"({"user":"a","changed":true})", R"({"user":"a","changed":true,"devices_forgotten":0,"suspicious_since":0,"password_change_required":false})"},
        Decoding{"unblock_reply_password_null", kUnblockReply, R"({"user":"a","changed":true,"devices_forgotten":1,"password":null})", R"({"user":"a","changed":true,"devices_forgotten":1,"suspicious_since":0,"password_change_required":false})"},
        Decoding{"unblock_reply_password_type", kUnblockReply, R"({"user":"a","changed":true,"password":"expired"})", R"(error: parameter "password" must be an object)"},
        Decoding{"unblock_reply_password_message", kUnblockReply, R"({"user":"a","changed":true,"password":{"outcome":"off"}})", R"(error: missing parameter "message")"},
        Decoding{"unblock_reply_forgotten_type", kUnblockReply, R"({"user":"a","changed":true,"devices_forgotten":"2"})", R"(error: parameter "devices_forgotten" must be an integer)"},
        Decoding{"list_reply_missing", kListReply, R"({"requests":[]})", R"(error: missing parameter "approvals")"},
        Decoding{"list_reply_not_objects", kListReply, R"({"requests":[1],"approvals":[]})", R"(error: parameter "requests" must be an array of objects)"},
        Decoding{"list_reply_entry_missing", kListReply, R"({"requests":[{"id":"R-1"}],"approvals":[]})", R"(error: missing parameter "kind")"},
        Decoding{"list_reply_entry_open", kListReply, R"({"requests":[],"approvals":[)" + kBobRequest.substr(0, kBobRequest.size() - 1) + R"(,"new":1}]})", R"({"requests":[],"approvals":[)" + kBobRequest + "]}"},
        Decoding{"audit_reply_missing", kAuditReply, R"({"admins":[],"without_totp":[],"blocked":[],"requests":[]})", R"(error: missing parameter "warnings")"},
        Decoding{"audit_reply_warning_type", kAuditReply, R"({"admins":[],"without_totp":[],"blocked":[],"requests":[],"warnings":[1]})", R"(error: parameter "warnings" must be an array of strings)"},
        Decoding{"audit_reply_admin_uid", kAuditReply, R"({"admins":[{"user":"c","uid":"1","totp":true,"blocked":false}],"without_totp":[],"blocked":[],"requests":[],"warnings":[]})", R"(error: parameter "uid" must be an integer)"},
        Decoding{"issue_reply", kIssueReply, R"({)" + kActiveToken + R"(,"user":"bob","token":"vgl_x","new":1})", R"({)" + kActiveToken + R"(,"user":"bob","token":"vgl_x"})"},
        Decoding{"issue_reply_no_token", kIssueReply, R"({)" + kActiveToken + R"(,"user":"bob"})", R"(error: missing parameter "token")"},
        Decoding{"issue_reply_no_accessor", kIssueReply, R"({"user":"bob","token":"vgl_x"})", R"(error: missing parameter "accessor")"},
        Decoding{"token_list_reply_missing", kListTokensReply, R"({"tokens":[],"frozen":false})", R"(error: missing parameter "freezes")"},
        Decoding{"token_list_reply_scopes_type", kListTokensReply, R"({"tokens":[{"accessor":"a","owner":"b","owner_uid":1,"name":"n","scopes":"s"}],"frozen":false,"freezes":[]})", R"(error: parameter "scopes" must be an array)"},
        Decoding{"show_reply", kShowReply, R"({)" + kActiveToken + R"(,"frozen":false})", R"({)" + kActiveToken + R"(,"frozen":false})"},
        Decoding{"show_reply_changed_type", kShowReply, R"({)" + kActiveToken + R"(,"state_changed":"1","frozen":false})", R"(error: parameter "state_changed" must be an integer)"},
        Decoding{"show_reply_no_frozen", kShowReply, kActiveTokenObject, R"(error: missing parameter "frozen")"}),
    [](const auto& info) { return std::string(info.param.name); });
// clang-format on

TEST(AdminApi, DecodeErrorsAreInvalidParameter) {
  auto r = TokenIssueReply::from_json(object_of(R"({"user":"bob","token":"vgl_x"})"));
  ASSERT_FALSE(r.ok());
  EXPECT_STREQ(r.error().wire_name(), kErrInvalidParameter);
  auto unknown = AccountUnblock::from_json(object_of(R"({"user":"a","reason":"r","verify_code":"1","x":1})"));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().message, R"(unknown parameter "x")");
}

// Every key an encoder writes, its decoder accepts.
TEST(AdminApi, DecodersAcceptWhatEncodersWrite) {
  EXPECT_TRUE(AccountReset::from_json(AccountReset{"a"}.to_json()).ok());
  EXPECT_TRUE(AccountBlock::from_json(AccountBlock{"a", "r"}.to_json()).ok());
  EXPECT_TRUE(AccountUnblock::from_json(AccountUnblock{"a", "r", true, "1"}.to_json()).ok());
  EXPECT_TRUE(AccountPasswordChanged::from_json(AccountPasswordChanged{"a", "r"}.to_json()).ok());
  EXPECT_TRUE(RecoveryApprove::from_json(RecoveryApprove{"R-1"}.to_json()).ok());
  EXPECT_TRUE(RecoveryList::from_json(RecoveryList{}.to_json()).ok());
  EXPECT_TRUE(AdminAudit::from_json(AdminAudit{}.to_json()).ok());
  EXPECT_TRUE(TokenIssue::from_json(TokenIssue{"a", "n", {"s"}, "1d"}.to_json()).ok());
  EXPECT_TRUE(TokenList::from_json(TokenList{"a"}.to_json()).ok());
  EXPECT_TRUE(TokenShow::from_json(TokenShow{"acc_1"}.to_json()).ok());
  EXPECT_TRUE(TokenRevoke::from_json(TokenRevoke{"acc_1", "r"}.to_json()).ok());
}

}  // namespace
}  // namespace vigil::proto::api
