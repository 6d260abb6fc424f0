// The typed API of api_self.h: exact bytes, round trips, and decoding as the
// daemon always validated.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <functional>
#include <string>

#include "daemon/rpc/request.h"
#include "tests/unit/api_tables.h"
#include "protocol/api_self.h"
#include "protocol/names.h"

namespace vigil::proto::api {
namespace {

using test::Decoding;
using test::expect_round_trip;
using test::object_of;
using test::reencode;

// A fresh account: nothing recorded.
StatusGetReply bob_fresh() {
  StatusGetReply s;
  s.user = "bob";
  s.uid = 1001;
  s.verdict.state = "open";
  s.known_devices = KnownDevicesStatus{};
  s.totp = TotpStatus{};
  return s;
}

// Every member set, every nested object there.
StatusGetReply alice_blocked() {
  StatusGetReply s;
  s.lock = LockStatus{2, true, 1700000300, 1, 3, 1700000000, 1690000000};
  s.user = "alice";
  s.uid = 1000;
  s.admin = true;
  s.verdict = Verdict{"blocked", "stuffing", 0, "", ""};
  s.recent_failures = {FailureEntry{1700000000, "203.0.113.9", "sshd", "", true},
                       FailureEntry{1690000000, "", "login", "tty:login@tty1", false}};
  s.throttled_sources = {ThrottledSource{"203.0.113.9", "203.0.113.9", 1700000600}};
  s.known_devices = KnownDevicesStatus{LockStatus{1, true, 99, 1, 0, 5, 6}, {{"ssh:SHA256:x", 99}}};
  s.password_change_required = true;
  s.password_change = PasswordChangeStatus{10, "carol"};
  s.blocked = true;
  s.block = BlockStatus{"stuffing", 11, "vigild", boost::json::parse(R"({"source":"10.0.0.9","n":[1,2]})")};
  s.devices = 2;
  s.totp = TotpStatus{true, false, true, 8, 1};
  return s;
}

const std::string kZeroLock =
    R"("failures":0,"locked":false,"locked_until":0,"lock_count":0,"refused":0,"last_failure":0,"last_success":0)";

const std::string kOpenVerdict = R"("state":"open","why":"","until":0,"device":"","source":"")";
const std::string kOpen = kOpenVerdict + R"(,"recent_failures":[],"throttled_sources":[])";

struct Encoding {
  const char* name;
  std::function<boost::json::object()> encode;
  std::string json;  // as vigild and vigilctl always wrote it
};

class ApiSelfEncoding : public ::testing::TestWithParam<Encoding> {};

TEST_P(ApiSelfEncoding, WritesTheFramesOfOld) {
  EXPECT_EQ(boost::json::serialize(GetParam().encode()), GetParam().json);
}

INSTANTIATE_TEST_SUITE_P(
    Table, ApiSelfEncoding,
    ::testing::Values(
        Encoding{"status_self", [] { return StatusGet{}.to_json(); }, "{}"},
        Encoding{"status_user", [] { return StatusGet{"bob"}.to_json(); }, R"({"user":"bob"})"},
        Encoding{"status_list", [] { return StatusList{}.to_json(); }, "{}"},
        Encoding{"admin_status_user", [] { return AdminStatusGet{"bob"}.to_json(); }, R"({"user":"bob"})"},
        Encoding{"admin_status_all", [] { return AdminStatusGet{}.to_json(); }, "{}"},
        Encoding{"admin_status_list", [] { return AdminStatusList{}.to_json(); }, "{}"},
        Encoding{"status_reply_fresh", [] { return bob_fresh().to_json(); },
                 "{" + kZeroLock + R"(,"user":"bob","uid":1001,"admin":false,)" + kOpen + R"(,"known_devices":{)" + kZeroLock +
                     R"(,"locked_devices":[]},"password_change_required":false,"blocked":false,"devices":0,)"
                     R"("totp":{"enrolled":false,"pending":false,"required":false,"recovery_codes":0,"failures":0}})"},
        Encoding{"status_reply_full", [] { return alice_blocked().to_json(); },
                 R"({"failures":2,"locked":true,"locked_until":1700000300,"lock_count":1,"refused":3,)"
                 R"("last_failure":1700000000,"last_success":1690000000,"user":"alice","uid":1000,"admin":true,)"
                 R"("state":"blocked","why":"stuffing","until":0,"device":"","source":"",)"
                 R"("recent_failures":[{"at":1700000000,"source":"203.0.113.9","service":"sshd","device":"","counts":true},)"
                 R"({"at":1690000000,"source":"","service":"login","device":"tty:login@tty1","counts":false}],)"
                 R"("throttled_sources":[{"source":"203.0.113.9","bucket":"203.0.113.9","until":1700000600}],)"
                 R"("known_devices":{"failures":1,"locked":true,"locked_until":99,"lock_count":1,"refused":0,)"
                 R"("last_failure":5,"last_success":6,"locked_devices":[{"device":"ssh:SHA256:x","locked_until":99}]},)"
                 R"("password_change_required":true,"password_change":{"since":10,"by":"carol"},"blocked":true,)"
                 R"("block":{"reason":"stuffing","since":11,"by":"vigild","details":{"source":"10.0.0.9","n":[1,2]}},)"
                 R"("devices":2,"totp":{"enrolled":true,"pending":false,"required":true,"recovery_codes":8,"failures":1}})"},
        Encoding{"status_reply_block_without_evidence",
                 [] {
                   auto s = bob_fresh();
                   s.blocked = true;
                   s.block = BlockStatus{"r", 1, "carol", {}};
                   s.known_devices.reset();
                   s.totp.reset();
                   return s.to_json();
                 },
                 "{" + kZeroLock + R"(,"user":"bob","uid":1001,"admin":false,)" + kOpen + R"(,"password_change_required":false,)"
                     R"("blocked":true,"block":{"reason":"r","since":1,"by":"carol"},"devices":0})"},
        Encoding{"status_list_reply",
                 [] {
                   return StatusListReply{{{LockStatus{1, false, 0, 0, 0, 5, 0}, "alice", 1000, false, {"open", "", 0, "", ""}},
                                           {LockStatus{}, "erin", 1005, true, {"blocked", "administrator: x", 0, "", ""}}}}
                       .to_json();
                 },
                 R"({"accounts":[{"failures":1,"locked":false,"locked_until":0,"lock_count":0,"refused":0,)"
                 R"("last_failure":5,"last_success":0,"user":"alice","uid":1000,"blocked":false,)" + kOpenVerdict + R"(},{)" +
                     kZeroLock + R"(,"user":"erin","uid":1005,"blocked":true,"state":"blocked",)"
                     R"("why":"administrator: x","until":0,"device":"","source":""}]})"},
        Encoding{"status_list_reply_empty", [] { return StatusListReply{}.to_json(); }, R"({"accounts":[]})"},
        Encoding{"enroll_self", [] { return TotpEnroll{"", "", "pw"}.to_json(); }, R"({"password":"pw"})"},
        Encoding{"enroll_root", [] { return TotpEnroll{"bob", "", ""}.to_json(); }, R"({"user":"bob"})"},
        Encoding{"enroll_again", [] { return TotpEnroll{"", "123456", "pw"}.to_json(); },
                 R"({"code":"123456","password":"pw"})"},
        Encoding{"enroll_reply", [] { return TotpEnrollReply{"alice", "JBSWY3DP", "otpauth://totp/x"}.to_json(); },
                 R"({"user":"alice","secret":"JBSWY3DP","uri":"otpauth://totp/x"})"},
        Encoding{"confirm", [] { return TotpConfirm{"", "123456"}.to_json(); }, R"({"code":"123456"})"},
        Encoding{"confirm_user", [] { return TotpConfirm{"bob", "123456"}.to_json(); },
                 R"({"user":"bob","code":"123456"})"},
        Encoding{"confirm_reply", [] { return TotpConfirmReply{"alice"}.to_json(); }, R"({"user":"alice"})"},
        Encoding{"disable_root", [] { return TotpDisable{"bob", ""}.to_json(); }, R"({"user":"bob"})"},
        Encoding{"disable_reply", [] { return TotpDisableReply{"bob"}.to_json(); }, R"({"user":"bob"})"},
        Encoding{"codes", [] { return TotpRecoveryCodes{"", "123456"}.to_json(); }, R"({"code":"123456"})"},
        Encoding{"codes_self_bare", [] { return TotpRecoveryCodes{}.to_json(); }, "{}"},
        Encoding{"codes_reply", [] { return TotpRecoveryCodesReply{"alice", {"ab12-cd34", "ef56-gh78"}}.to_json(); },
                 R"({"user":"alice","codes":["ab12-cd34","ef56-gh78"]})"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(ApiSelf, RoundTrips) {
  expect_round_trip(StatusGet{"bob"});
  expect_round_trip(AdminStatusGet{"bob"});
  expect_round_trip(bob_fresh());
  expect_round_trip(alice_blocked());
  expect_round_trip(StatusListReply{{{LockStatus{1, true, 7, 2, 3, 4, 5}, "alice", 1000, false,
                                      {"locked", "3 wrong passwords on known device d", 7, "d", ""}},
                                     {{}, "x", 1002, true, {"blocked", "r", 0, "", ""}}}});
  expect_round_trip(TotpEnroll{"bob", "123456", "pw"});
  expect_round_trip(TotpEnrollReply{"alice", "S", "U"});
  expect_round_trip(TotpConfirm{"bob", "123456"});
  expect_round_trip(TotpDisable{"bob", "123456"});
  expect_round_trip(TotpRecoveryCodes{"bob", "123456"});
  expect_round_trip(TotpRecoveryCodesReply{"alice", {"a", "b"}});

  auto back = StatusGetReply::from_json(alice_blocked().to_json());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->lock.locked_until, 1700000300);
  EXPECT_EQ(back->uid, 1000);
  ASSERT_TRUE(back->known_devices && back->known_devices->locked_devices.size() == 1);
  EXPECT_EQ(back->known_devices->locked_devices[0].device, "ssh:SHA256:x");
  ASSERT_TRUE(back->block);
  EXPECT_EQ(back->block->details.at("source").as_string(), "10.0.0.9");
  ASSERT_TRUE(back->password_change);
  EXPECT_EQ(back->password_change->by, "carol");
  ASSERT_TRUE(back->totp);
  EXPECT_EQ(back->totp->recovery_codes, 8);

  EXPECT_EQ(make_call(StatusGet{}).method, kStatusGet);
  EXPECT_EQ(make_call(StatusList{}).method, kStatusList);
  EXPECT_EQ(make_call(AdminStatusGet{}).method, kStatusGet);
  EXPECT_EQ(make_call(AdminStatusList{}).method, kStatusList);
  EXPECT_EQ(make_call(TotpEnroll{}).method, kTotpEnroll);
  EXPECT_EQ(make_call(TotpConfirm{}).method, kTotpConfirm);
  EXPECT_EQ(make_call(TotpDisable{}).method, kTotpDisable);
  EXPECT_EQ(make_call(TotpRecoveryCodes{}).method, kTotpRecoveryCodes);
}

TEST(ApiSelf, DecodersAcceptWhatEncodersWrite) {
  EXPECT_TRUE(StatusGet::from_json(StatusGet{"a"}.to_json()).ok());
  EXPECT_TRUE(StatusList::from_json(StatusList{}.to_json()).ok());
  EXPECT_TRUE(AdminStatusGet::from_json(AdminStatusGet{"a"}.to_json()).ok());
  EXPECT_TRUE(AdminStatusList::from_json(AdminStatusList{}.to_json()).ok());
  EXPECT_TRUE(StatusGetReply::from_json(bob_fresh().to_json()).ok());
  EXPECT_TRUE(StatusListReply::from_json(StatusListReply{}.to_json()).ok());
  EXPECT_TRUE(TotpEnroll::from_json(TotpEnroll{"a", "1", "p"}.to_json()).ok());
  EXPECT_TRUE(TotpEnrollReply::from_json(TotpEnrollReply{"a", "s", "u"}.to_json()).ok());
  EXPECT_TRUE(TotpConfirmReply::from_json(TotpConfirmReply{"a"}.to_json()).ok());
  EXPECT_TRUE(TotpDisableReply::from_json(TotpDisableReply{"a"}.to_json()).ok());
  EXPECT_TRUE(TotpRecoveryCodesReply::from_json(TotpRecoveryCodesReply{"a", {"c"}}.to_json()).ok());
  auto bad = TotpConfirm::from_json(object_of(R"({"code":1})"));
  ASSERT_FALSE(bad.ok());
  EXPECT_STREQ(bad.error().wire_name(), kErrInvalidParameter);
}

class ApiSelfDecoding : public ::testing::TestWithParam<Decoding> {};

TEST_P(ApiSelfDecoding, ReadsAsTheDaemonAlwaysDid) {
  EXPECT_EQ(GetParam().decode(GetParam().in), GetParam().out);
}

const auto kGet = reencode<StatusGet>;
const auto kList = reencode<StatusList>;
const auto kAdminGet = reencode<AdminStatusGet>;
const auto kAdminList = reencode<AdminStatusList>;
const auto kStatus = reencode<StatusGetReply>;
const auto kAccounts = reencode<StatusListReply>;
const auto kEnroll = reencode<TotpEnroll>;
const auto kConfirm = reencode<TotpConfirm>;
const auto kDisable = reencode<TotpDisable>;
const auto kCodes = reencode<TotpRecoveryCodes>;
const auto kCodesReply = reencode<TotpRecoveryCodesReply>;
const std::string k64(64, '1');
// A reply of an older vigild, without a verdict, reads as an unset one.
const std::string kUnset = R"(,"state":"","why":"","until":0,"device":"","source":"","recent_failures":[],)"
                           R"("throttled_sources":[])";
const std::string k65(65, '1');

// clang-format off
INSTANTIATE_TEST_SUITE_P(
    Table, ApiSelfDecoding,
    ::testing::Values(
        Decoding{"get_unknown", kGet, R"({"user":"a","evil":1})", R"(error: unknown parameter "evil")"},
        Decoding{"get_user_loose", kGet, R"({"user":5})", "{}"},
        Decoding{"get_no_step_up", kGet, R"({"step_up_code":"1"})", R"(error: unknown parameter "step_up_code")"},
        Decoding{"list_user", kList, R"({"user":"a"})", R"(error: unknown parameter "user")"},
        Decoding{"admin_get_step_up", kAdminGet, R"({"user":"a","step_up_code":"123456"})", R"({"user":"a"})"},
        Decoding{"admin_get_step_up_unread", kAdminGet, R"({"step_up_code":5})", "{}"},
        Decoding{"admin_get_unknown", kAdminGet, R"({"user":"a","verify_code":"1"})", R"(error: unknown parameter "verify_code")"},
        Decoding{"admin_get_user_loose", kAdminGet, R"({"user":true})", "{}"},
        Decoding{"admin_list_user", kAdminList, R"({"step_up_code":"1","user":"a"})", R"(error: unknown parameter "user")"},
        Decoding{"admin_list_step_up", kAdminList, R"({"step_up_code":"1"})", "{}"},
        Decoding{"enroll_unknown", kEnroll, R"({"code":"1","token":"t"})", R"(error: unknown parameter "token")"},
        Decoding{"enroll_user_loose", kEnroll, R"({"user":5,"password":"pw"})", R"({"password":"pw"})"},
        Decoding{"enroll_code_64", kEnroll, R"({"code":")" + k64 + R"("})", R"({"code":")" + k64 + R"("})"},
        Decoding{"enroll_code_65", kEnroll, R"({"code":")" + k65 + R"("})", R"(error: parameter "code" is too long)"},
        Decoding{"enroll_code_number", kEnroll, R"({"code":123456})", R"(error: parameter "code" must be a string)"},
        Decoding{"enroll_code_null", kEnroll, R"({"code":null,"password":"pw"})", R"({"password":"pw"})"},
        Decoding{"enroll_password_512", kEnroll, R"({"password":")" + std::string(512, 'p') + R"("})", R"({"password":")" + std::string(512, 'p') + R"("})"},
        Decoding{"enroll_password_513", kEnroll, R"({"password":")" + std::string(513, 'p') + R"("})", R"(error: parameter "password" is too long)"},
        Decoding{"enroll_password_array", kEnroll, R"({"password":["p"]})", R"(error: parameter "password" must be a string)"},
        Decoding{"enroll_code_first", kEnroll, R"({"password":1,"code":2})", R"(error: parameter "code" must be a string)"},
        Decoding{"confirm_password", kConfirm, R"({"code":"1","password":"p"})", R"(error: unknown parameter "password")"},
        Decoding{"confirm_code_65", kConfirm, R"({"code":")" + k65 + R"("})", R"(error: parameter "code" is too long)"},
        Decoding{"confirm_code_object", kConfirm, R"({"code":{}})", R"(error: parameter "code" must be a string)"},
        Decoding{"confirm_empty_code", kConfirm, R"({"user":"a","code":""})", R"({"user":"a"})"},
        Decoding{"disable_code_64", kDisable, R"({"code":")" + k64 + R"("})", R"({"code":")" + k64 + R"("})"},
        Decoding{"disable_code_bool", kDisable, R"({"code":true})", R"(error: parameter "code" must be a string)"},
        Decoding{"codes_unknown", kCodes, R"({"user":"a","all":true})", R"(error: unknown parameter "all")"},
        Decoding{"codes_code_65", kCodes, R"({"code":")" + k65 + R"("})", R"(error: parameter "code" is too long)"},
        Decoding{"status_reply_open", kStatus, R"({"user":"a","uid":7,"new":1})", "{" + kZeroLock + R"(,"user":"a","uid":7,"admin":false)" + kUnset + R"(,"password_change_required":false,"blocked":false,"devices":0})"},
        Decoding{"status_reply_no_user", kStatus, R"({"uid":7})", R"(error: missing parameter "user")"},
        Decoding{"status_reply_locked_string", kStatus, R"({"user":"a","locked":"yes"})", R"(error: parameter "locked" must be a boolean)"},
        Decoding{"status_reply_block_array", kStatus, R"({"user":"a","block":[]})", R"(error: parameter "block" must be an object)"},
        Decoding{"status_reply_block_null", kStatus, R"({"user":"a","block":null})", "{" + kZeroLock + R"(,"user":"a","uid":0,"admin":false)" + kUnset + R"(,"password_change_required":false,"blocked":false,"devices":0})"},
        Decoding{"status_reply_evidence_kept", kStatus, R"({"user":"a","block":{"details":["x",1]}})", "{" + kZeroLock + R"(,"user":"a","uid":0,"admin":false)" + kUnset + R"(,"password_change_required":false,"blocked":false,"block":{"reason":"","since":0,"by":"","details":["x",1]},"devices":0})"},
        Decoding{"status_reply_totp_failures", kStatus, R"({"user":"a","totp":{"failures":"2"}})", R"(error: parameter "failures" must be an integer)"},
        Decoding{"status_reply_failure_no_at", kStatus, R"({"user":"a","recent_failures":[{"source":"s"}]})", R"(error: missing parameter "at")"},
        Decoding{"status_reply_counts_string", kStatus, R"({"user":"a","recent_failures":[{"at":1,"counts":"yes"}]})", R"(error: parameter "counts" must be a boolean)"},
        Decoding{"status_reply_state_number", kStatus, R"({"user":"a","state":1})", R"(error: parameter "state" must be a string)"},
        Decoding{"status_reply_locked_device", kStatus, R"({"user":"a","known_devices":{"locked_devices":[{"locked_until":1}]}})", R"(error: missing parameter "device")"},
        Decoding{"accounts_missing", kAccounts, "{}", R"(error: missing parameter "accounts")"},
        Decoding{"accounts_no_user", kAccounts, R"({"accounts":[{"uid":1}]})", R"(error: missing parameter "user")"},
        Decoding{"accounts_not_objects", kAccounts, R"({"accounts":["a"]})", R"(error: parameter "accounts" must be an array of objects)"},
        Decoding{"codes_reply_missing", kCodesReply, R"({"user":"a"})", R"(error: missing parameter "codes")"},
        Decoding{"codes_reply_number", kCodesReply, R"({"user":"a","codes":["c",1]})", R"(error: parameter "codes" must be an array of strings)"},
        Decoding{"enroll_reply_no_secret", reencode<TotpEnrollReply>, R"({"user":"a","uri":"u"})", R"(error: missing parameter "secret")"},
        Decoding{"confirm_reply_open", reencode<TotpConfirmReply>, R"({"user":"a","new":1})", R"({"user":"a"})"},
        Decoding{"disable_reply_no_user", reencode<TotpDisableReply>, "{}", R"(error: missing parameter "user")"}),
    [](const auto& info) { return std::string(info.param.name); });
// clang-format on

// The request table's validators (dispatch.cc) decode these structs and add
// their rules: what they accept and refuse, in the words they always used.
struct Validation {
  const char* name;
  Socket socket;
  const char* method;
  std::string params;
  std::string refusal;  // "" when accepted
};

class ApiSelfValidation : public ::testing::TestWithParam<Validation> {};

TEST_P(ApiSelfValidation, RefusesInTheValidatorsWords) {
  const Method* m = find_method(GetParam().socket, GetParam().method);
  ASSERT_NE(m, nullptr);
  auto r = m->validate(object_of(GetParam().params));
  if (GetParam().refusal.empty()) {
    EXPECT_FALSE(r.has_value()) << r->message();
  } else {
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->error, kErrInvalidParameter);
    EXPECT_EQ(r->message(), GetParam().refusal);
  }
}

constexpr auto kPub = Socket::kPublic;
constexpr auto kAdm = Socket::kAdmin;

// clang-format off
INSTANTIATE_TEST_SUITE_P(
    Table, ApiSelfValidation,
    ::testing::Values(
        Validation{"get_self", kPub, kStatusGet, "{}", ""},
        Validation{"get_user_any_type", kPub, kStatusGet, R"({"user":5})", ""},
        Validation{"get_unknown", kPub, kStatusGet, R"({"user":"a","evil":1})", R"(unknown parameter "evil")"},
        Validation{"list", kPub, kStatusList, "{}", ""},
        Validation{"list_user", kPub, kStatusList, R"({"user":"a"})", R"(unknown parameter "user")"},
        Validation{"admin_get_user", kAdm, kStatusGet, R"({"user":"bob","step_up_code":"123456"})", ""},
        Validation{"admin_get_all", kAdm, kStatusGet, "{}", ""},
        Validation{"admin_get_unknown", kAdm, kStatusGet, R"({"evil":"x"})", R"(unknown parameter "evil")"},
        Validation{"admin_get_user_number", kAdm, kStatusGet, R"({"user":5})", R"(parameter "user" has the wrong type)"},
        Validation{"admin_get_user_bool", kAdm, kStatusGet, R"({"user":true})", R"(a valid "user" is required)"},
        Validation{"admin_get_user_empty", kAdm, kStatusGet, R"({"user":""})", R"(a valid "user" is required)"},
        Validation{"admin_get_user_300", kAdm, kStatusGet, R"({"user":")" + std::string(300, 'u') + R"("})", R"(a valid "user" is required)"},
        Validation{"admin_get_user_513", kAdm, kStatusGet, R"({"user":")" + std::string(513, 'u') + R"("})", R"(parameter "user" is too long (512 bytes at most))"},
        Validation{"admin_get_step_up_number", kAdm, kStatusGet, R"({"user":"bob","step_up_code":5})", R"(parameter "step_up_code" has the wrong type)"},
        Validation{"admin_list", kAdm, kStatusList, R"({"step_up_code":"1"})", ""},
        Validation{"admin_list_user", kAdm, kStatusList, R"({"user":"bob"})", R"(unknown parameter "user")"},
        Validation{"admin_list_step_up_null", kAdm, kStatusList, R"({"step_up_code":null})", R"(parameter "step_up_code" has the wrong type)"},
        Validation{"enroll", kPub, kTotpEnroll, R"({"user":"a","code":"1","password":"p"})", ""},
        Validation{"enroll_unknown", kPub, kTotpEnroll, R"({"token":"t"})", R"(unknown parameter "token")"},
        Validation{"enroll_code_65", kPub, kTotpEnroll, R"({"code":")" + k65 + R"("})", R"(parameter "code" is too long)"},
        Validation{"enroll_code_number", kPub, kTotpEnroll, R"({"code":1})", R"(parameter "code" must be a string)"},
        Validation{"enroll_password_513", kPub, kTotpEnroll, R"({"password":")" + std::string(513, 'p') + R"("})", R"(parameter "password" is too long)"},
        Validation{"enroll_code_first", kPub, kTotpEnroll, R"({"password":1,"code":2})", R"(parameter "code" must be a string)"},
        Validation{"confirm", kPub, kTotpConfirm, R"({"code":")" + k64 + R"("})", ""},
        Validation{"confirm_password", kPub, kTotpConfirm, R"({"password":"p"})", R"(unknown parameter "password")"},
        Validation{"disable_code_65", kPub, kTotpDisable, R"({"code":")" + k65 + R"("})", R"(parameter "code" is too long)"},
        Validation{"codes_code_array", kPub, kTotpRecoveryCodes, R"({"code":[]})", R"(parameter "code" must be a string)"},
        // Rows of other methods that share these validators.
        Validation{"devices_list_unknown", kPub, kDevicesList, R"({"user":"a","all":true})", R"(unknown parameter "all")"},
        Validation{"ping_unknown", kPub, kPing, R"({"x":1})", R"(unknown parameter "x")"},
        Validation{"recovery_list_user", kAdm, kRecoveryList, R"({"user":"a"})", R"(unknown parameter "user")"},
        Validation{"audit_step_up", kAdm, kAdminAudit, R"({"step_up_code":true})", ""}),
    [](const auto& info) { return std::string(info.param.name); });
// clang-format on

}  // namespace
}  // namespace vigil::proto::api
