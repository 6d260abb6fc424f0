#include <gtest/gtest.h>

#include <string>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <thread>

#include "tests/unit/api_tables.h"
#include "protocol/api.h"
#include "protocol/login.h"
#include "protocol/message.h"
#include "protocol/names.h"
#include "protocol/transport.h"

namespace vigil::proto {
namespace {

using test::Decoding;
using test::expect_round_trip;
using test::object_of;
using test::reencode;

TEST(Protocol, CallRoundTrip) {
  Call c{kAuthReport, {}};
  c.params["user"] = "alice";
  auto frame = encode(c);
  ASSERT_TRUE(frame.ok());
  ASSERT_EQ(frame->back(), '\0');
  auto back = decode_call(std::string_view(*frame).substr(0, frame->size() - 1));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->method, kAuthReport);
  EXPECT_EQ(back->params.at("user").as_string(), "alice");
}

TEST(Protocol, ReplyRoundTripSuccessAndError) {
  auto ok = encode(Reply::success({{"verdict", "allow"}}));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, std::string("{\"parameters\":{\"verdict\":\"allow\"}}") + '\0');
  auto err = encode(Reply::failure(kErrPermissionDenied, "no"));
  ASSERT_TRUE(err.ok());
  auto back = decode_reply(std::string_view(*err).substr(0, err->size() - 1));
  ASSERT_TRUE(back.ok());
  EXPECT_FALSE(back->ok());
  EXPECT_EQ(back->error, kErrPermissionDenied);
  EXPECT_EQ(back->message(), "no");
}

TEST(Protocol, EmbeddedNulIsEscapedNotAFrameBreak) {
  Call c{kAuthReport, {}};
  c.params["user"] = std::string("al\0ice", 6);
  auto frame = encode(c);
  ASSERT_TRUE(frame.ok());
  EXPECT_EQ(frame->find('\0'), frame->size() - 1);
}

struct BadFrame {
  const char* name;
  std::string frame;
};

class MalformedCalls : public ::testing::TestWithParam<BadFrame> {};

TEST_P(MalformedCalls, AreErrorValues) {
  auto r = decode_call(GetParam().frame);
  ASSERT_FALSE(r.ok()) << GetParam().name;
  EXPECT_STREQ(r.error().wire_name(), kErrInvalidRequest);
}

INSTANTIATE_TEST_SUITE_P(
    Table, MalformedCalls,
    ::testing::Values(BadFrame{"empty", ""}, BadFrame{"not json", "hello"},
                      BadFrame{"truncated", "{\"method\":\"io.vigil.Daemon.Ping\",\"param"},
                      BadFrame{"array", "[1,2]"}, BadFrame{"no method", "{\"parameters\":{}}"},
                      BadFrame{"method not string", "{\"method\":1}"},
                      BadFrame{"params not object", "{\"method\":\"x\",\"parameters\":[]}"},
                      BadFrame{"extra member", "{\"method\":\"x\",\"evil\":1}"},
                      BadFrame{"invalid utf8", "{\"method\":\"\xff\xfe\"}"},
                      BadFrame{"too deep", std::string(100, '[') + std::string(100, ']')},
                      BadFrame{"oversized", "{\"method\":\"" + std::string(70000, 'a') + "\"}"}),
    [](const auto& info) {
      std::string n = info.param.name;
      for (auto& c : n)
        if (!isalnum(static_cast<unsigned char>(c))) c = '_';
      return n;
    });

TEST(Protocol, MalformedReplies) {
  EXPECT_FALSE(decode_reply("{}").ok());
  EXPECT_FALSE(decode_reply("{\"error\":\"\",\"parameters\":{}}").ok());
  EXPECT_FALSE(decode_reply("{\"parameters\":1}").ok());
  EXPECT_FALSE(decode_reply("garbage").ok());
}

TEST(Protocol, EncodeRefusesOversizedFrames) {
  Call c{kAuthReport, {}};
  c.params["user"] = std::string(kMaxFrame, 'x');
  EXPECT_FALSE(encode(c).ok());
}

TEST(FrameReader, SplitsFramesAcrossChunks) {
  FrameReader r;
  std::string f;
  r.feed("{\"a\":1}");
  EXPECT_EQ(r.next(&f), FrameReader::State::kNeedMore);
  r.feed(std::string("\0{\"b\"", 5));
  ASSERT_EQ(r.next(&f), FrameReader::State::kFrame);
  EXPECT_EQ(f, "{\"a\":1}");
  EXPECT_EQ(r.next(&f), FrameReader::State::kNeedMore);
  r.feed(std::string(":2}\0", 4));
  ASSERT_EQ(r.next(&f), FrameReader::State::kFrame);
  EXPECT_EQ(f, "{\"b\":2}");
}

TEST(FrameReader, OversizedWithoutTerminatorPoisons) {
  FrameReader r;
  std::string f;
  r.feed(std::string(kMaxFrame, 'x'));
  EXPECT_EQ(r.next(&f), FrameReader::State::kTooLarge);
  r.feed(std::string("{}\0", 3));
  EXPECT_EQ(r.next(&f), FrameReader::State::kTooLarge);
}

TEST(FrameReader, OversizedWithTerminatorIsRefused) {
  FrameReader r;
  std::string f;
  std::string big(kMaxFrame + 10, 'x');
  big.push_back('\0');
  r.feed(big);
  EXPECT_EQ(r.next(&f), FrameReader::State::kTooLarge);
}

TEST(FrameReader, FrameOfExactlyTheCapIsAccepted) {
  FrameReader r;
  std::string f;
  std::string frame(kMaxFrame - 1, 'x');
  frame.push_back('\0');
  r.feed(frame);
  EXPECT_EQ(r.next(&f), FrameReader::State::kFrame);
  EXPECT_EQ(f.size(), kMaxFrame - 1);
}

TEST(Params, TypedAccess) {
  boost::json::object o{{"s", "x"}, {"n", 1}};
  EXPECT_TRUE(get_string(o, "s").ok());
  EXPECT_FALSE(get_string(o, "n").ok());
  EXPECT_FALSE(get_string(o, "missing").ok());
  auto opt = get_optional_string(o, "missing");
  ASSERT_TRUE(opt.ok());
  EXPECT_FALSE(opt->has_value());
  EXPECT_FALSE(get_optional_string(o, "n").ok());
}

struct ConsoleCase {
  const char* rhost;
  const char* tty;
  bool console;
};

class Console : public ::testing::TestWithParam<ConsoleCase> {};
TEST_P(Console, Classifies) {
  EXPECT_EQ(is_console_login(GetParam().rhost, GetParam().tty), GetParam().console)
      << GetParam().rhost << " " << GetParam().tty;
}
INSTANTIATE_TEST_SUITE_P(Table, Console,
                         ::testing::Values(ConsoleCase{"", "tty1", true}, ConsoleCase{"", "/dev/tty12", true},
                                           ConsoleCase{"", "console", true},
                                           ConsoleCase{"", "/dev/console", true},
                                           ConsoleCase{"10.0.0.1", "tty1", false},
                                           ConsoleCase{"", "pts/0", false}, ConsoleCase{"", "ssh", false},
                                           ConsoleCase{"", "tty", false}, ConsoleCase{"", "ttyS0", false},
                                           ConsoleCase{"", "", false}));

// ---- the typed API (api.h) ----

api::Login full_login() {
  return api::Login{"alice", "sshd", "10.0.0.1", "ssh", "bob", "publickey ssh-ed25519 AAAA", 42, true};
}

api::Login carol_on_tty1() {
  api::Login l;
  l.user = "carol";
  l.service = "login";
  l.tty = "tty1";
  return l;
}

api::Login carol_in_session() {
  api::Login l;
  l.user = "carol";
  l.audit_session = 7;
  return l;
}

struct Encoding {
  const char* name;
  std::function<boost::json::object()> encode;
  std::string json;  // as pam_vigil.so and vigild always wrote it
};

class ApiEncoding : public ::testing::TestWithParam<Encoding> {};

TEST_P(ApiEncoding, WritesTheFramesOfOld) {
  EXPECT_EQ(boost::json::serialize(GetParam().encode()), GetParam().json);
}

INSTANTIATE_TEST_SUITE_P(
    Table, ApiEncoding,
    ::testing::Values(
        Encoding{"report_full", [] { return api::AuthReport{full_login(), kOutcomeSuccess, "00ff"}.to_json(); },
                 R"({"user":"alice","service":"sshd","rhost":"10.0.0.1","tty":"ssh","ruser":"bob",)"
                 R"("auth_info":"publickey ssh-ed25519 AAAA","audit_session":42,"setuid":true,)"
                 R"("outcome":"success","nonce":"00ff"})"},
        Encoding{"report_bare", [] { return api::AuthReport{{}, kOutcomeFailure, ""}.to_json(); },
                 R"({"user":"","outcome":"failure"})"},
        Encoding{"account", [] { return api::AccountCheck{carol_on_tty1()}.to_json(); },
                 R"({"user":"carol","service":"login","tty":"tty1"})"},
        Encoding{"session", [] { return api::SessionOpen{carol_in_session()}.to_json(); },
                 R"({"user":"carol","audit_session":7})"},
        Encoding{"password_changed", [] { return api::PasswordChanged{full_login()}.to_json(); },
                 R"({"user":"alice","service":"sshd","rhost":"10.0.0.1","tty":"ssh","ruser":"bob",)"
                 R"("auth_info":"publickey ssh-ed25519 AAAA","audit_session":42,"setuid":true})"},
        Encoding{"verify_empty_code", [] { return api::AuthVerify{"bob", "", "", false}.to_json(); },
                 R"({"user":"bob","code":""})"},
        Encoding{"verify_no_prompt", [] { return api::AuthVerify{"bob", "n1", "123456", true}.to_json(); },
                 R"({"user":"bob","nonce":"n1","code":"123456","no_prompt":true})"},
        Encoding{"ping", [] { return api::Ping{}.to_json(); }, "{}"},
        Encoding{"report_reply", [] { return api::AuthReportReply{kVerdictDeny, false, ""}.to_json(); },
                 R"({"verdict":"deny","prompt":false})"},
        Encoding{"report_reply_warning", [] { return api::AuthReportReply{kVerdictAllow, true, "w"}.to_json(); },
                 R"({"verdict":"allow","prompt":true,"warning":"w"})"},
        Encoding{"account_reply", [] { return api::AccountCheckReply{kVerdictAllow}.to_json(); },
                 R"({"verdict":"allow"})"},
        Encoding{"verify_reply", [] { return api::AuthVerifyReply{kVerdictDeny, ""}.to_json(); },
                 R"({"verdict":"deny"})"},
        Encoding{"session_reply", [] { return api::SessionOpenReply{}.to_json(); }, "{}"},
        Encoding{"password_changed_reply", [] { return api::PasswordChangedReply{"alice", false}.to_json(); },
                 R"({"user":"alice","changed":false})"},
        Encoding{"ping_reply", [] { return api::PingReply{"0.1.0"}.to_json(); }, R"({"version":"0.1.0"})"},
        Encoding{"token_check", [] { return api::TokenCheck{"vgt_secret", ""}.to_json(); },
                 R"({"token":"vgt_secret"})"},
        Encoding{"token_check_scope", [] { return api::TokenCheck{"vgt_secret", "backup.read"}.to_json(); },
                 R"({"token":"vgt_secret","scope":"backup.read"})"},
        Encoding{"token_check_empty", [] { return api::TokenCheck{}.to_json(); }, R"({"token":""})"},
        Encoding{"token_reply_valid",
                 [] { return api::TokenCheckReply{"valid", "alice", {"backup.read", "ci"}}.to_json(); },
                 R"({"verdict":"valid","owner":"alice","scopes":["backup.read","ci"]})"},
        Encoding{"token_reply_unknown", [] { return api::TokenCheckReply{"unknown", "", {}}.to_json(); },
                 R"({"verdict":"unknown"})"},
        Encoding{"devices_list_self", [] { return api::DevicesList{}.to_json(); }, "{}"},
        Encoding{"devices_list_user", [] { return api::DevicesList{"alice"}.to_json(); }, R"({"user":"alice"})"},
        Encoding{"devices_list_reply",
                 [] {
                   return api::DevicesListReply{"alice", 30, {{"ssh:SHA256:x", 100, 200, true}, {"tty1", 0, 5, false}}}
                       .to_json();
                 },
                 R"({"user":"alice","trust_days":30,"devices":[)"
                 R"({"device":"ssh:SHA256:x","first_seen":100,"last_seen":200,"known":true},)"
                 R"({"device":"tty1","first_seen":0,"last_seen":5,"known":false}]})"},
        Encoding{"devices_list_reply_empty", [] { return api::DevicesListReply{"bob", 0, {}}.to_json(); },
                 R"({"user":"bob","trust_days":0,"devices":[]})"},
        Encoding{"devices_forget_one", [] { return api::DevicesForget{"alice", "tty1", false}.to_json(); },
                 R"({"user":"alice","device":"tty1"})"},
        Encoding{"devices_forget_all", [] { return api::DevicesForget{"alice", "", true}.to_json(); },
                 R"({"user":"alice","all":true})"},
        Encoding{"devices_forget_reply", [] { return api::DevicesForgetReply{"alice", 0}.to_json(); },
                 R"({"user":"alice","forgotten":0})"},
        Encoding{"recovery_request", [] { return api::RecoveryRequest{"bob", "lost phone"}.to_json(); },
                 R"({"user":"bob","reason":"lost phone"})"},
        Encoding{"recovery_request_reply", [] { return api::RecoveryRequestReply{"r-1", "bob", false}.to_json(); },
                 R"({"id":"r-1","user":"bob","repeated":false})"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Api, RoundTrips) {
  const auto report = api::AuthReport{full_login(), kOutcomeSuccess, "00ff"}.to_json();
  EXPECT_EQ(reencode<api::AuthReport>(boost::json::serialize(report)), boost::json::serialize(report));
  const auto verify = api::AuthVerify{"bob", "n1", "123456", true}.to_json();
  EXPECT_EQ(reencode<api::AuthVerify>(boost::json::serialize(verify)), boost::json::serialize(verify));
  const auto session = api::SessionOpen{full_login()}.to_json();
  EXPECT_EQ(reencode<api::SessionOpen>(boost::json::serialize(session)), boost::json::serialize(session));
  const auto account = api::AccountCheck{full_login()}.to_json();
  EXPECT_EQ(reencode<api::AccountCheck>(boost::json::serialize(account)), boost::json::serialize(account));
  const auto reply = api::AuthReportReply{kVerdictVerify, true, "soon"}.to_json();
  EXPECT_EQ(reencode<api::AuthReportReply>(boost::json::serialize(reply)), boost::json::serialize(reply));
  EXPECT_EQ(reencode<api::PingReply>(R"({"version":"1"})"), R"({"version":"1"})");

  auto back = api::AuthReport::from_json(report);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->login.user, "alice");
  EXPECT_EQ(back->login.auth_info, "publickey ssh-ed25519 AAAA");
  EXPECT_EQ(back->login.audit_session, 42u);
  EXPECT_TRUE(back->login.setuid);
  EXPECT_EQ(back->outcome, kOutcomeSuccess);
  EXPECT_EQ(back->nonce, "00ff");
  EXPECT_EQ(api::make_call(*back).method, kAuthReport);
  EXPECT_EQ(api::make_call(api::AuthVerify{}).method, kAuthVerify);
}

class ApiDecoding : public ::testing::TestWithParam<Decoding> {};

TEST_P(ApiDecoding, ReadsAsTheDaemonAlwaysDid) {
  EXPECT_EQ(GetParam().decode(GetParam().in), GetParam().out);
}

const auto kReport = reencode<api::AuthReport>;
const auto kAccount = reencode<api::AccountCheck>;
const auto kVerify = reencode<api::AuthVerify>;
const auto kSession = reencode<api::SessionOpen>;
const auto kChanged = reencode<api::PasswordChanged>;
const auto kToken = reencode<api::TokenCheck>;
const auto kTokenReply = reencode<api::TokenCheckReply>;
const auto kDevices = reencode<api::DevicesListReply>;
const auto kForget = reencode<api::DevicesForget>;
const auto kRecovery = reencode<api::RecoveryRequest>;
const std::string kLong(300, 'x');

// clang-format off
INSTANTIATE_TEST_SUITE_P(
    Table, ApiDecoding,
    ::testing::Values(
        Decoding{"unknown_key", kReport, R"({"user":"a","outcome":"failure","evil":1})", R"(error: unknown parameter "evil")"},
        Decoding{"unknown_key_first", kReport, R"({"rhost":5,"evil":1})", R"(error: unknown parameter "evil")"},
        Decoding{"missing_user", kReport, R"({"outcome":"failure"})", R"(error: missing parameter "user")"},
        Decoding{"user_not_string", kReport, R"({"user":5,"outcome":"failure"})", R"(error: parameter "user" must be a string)"},
        Decoding{"missing_outcome", kReport, R"({"user":"a"})", R"(error: missing parameter "outcome")"},
        Decoding{"outcome_array", kReport, R"({"user":"a","outcome":["failure"]})", R"(error: parameter "outcome" must be a string)"},
        Decoding{"outcome_any_string", kReport, R"({"user":"a","outcome":"maybe"})", R"({"user":"a","outcome":"maybe"})"},
        Decoding{"rhost_object", kReport, R"({"user":"a","outcome":"failure","rhost":{"x":1}})", R"(error: parameter "rhost" must be a string)"},
        Decoding{"rhost_null_is_absent", kReport, R"({"user":"a","outcome":"failure","rhost":null})", R"({"user":"a","outcome":"failure"})"},
        Decoding{"long_rhost_kept", kReport, R"({"user":"a","outcome":"failure","rhost":")" + kLong + R"("})", R"({"user":"a","rhost":")" + kLong + R"(","outcome":"failure"})"},
        Decoding{"session_string", kReport, R"({"user":"a","outcome":"failure","audit_session":"1"})", R"(error: parameter "audit_session" must be an integer)"},
        Decoding{"session_null", kReport, R"({"user":"a","outcome":"failure","audit_session":null})", R"(error: parameter "audit_session" must be an integer)"},
        Decoding{"session_unset", kReport, R"({"user":"a","outcome":"failure","audit_session":4294967295})", R"({"user":"a","outcome":"failure"})"},
        Decoding{"session_negative", kReport, R"({"user":"a","outcome":"failure","audit_session":-3})", R"({"user":"a","outcome":"failure"})"},
        Decoding{"session_largest", kReport, R"({"user":"a","outcome":"failure","audit_session":4294967294})", R"({"user":"a","audit_session":4294967294,"outcome":"failure"})"},
        Decoding{"setuid_string", kReport, R"({"user":"a","outcome":"failure","setuid":"yes"})", R"(error: parameter "setuid" must be a boolean)"},
        Decoding{"nonce_128", kReport, R"({"user":"a","outcome":"failure","nonce":")" + std::string(128, 'n') + R"("})", R"({"user":"a","outcome":"failure","nonce":")" + std::string(128, 'n') + R"("})"},
        Decoding{"nonce_129", kReport, R"({"user":"a","outcome":"failure","nonce":")" + std::string(129, 'n') + R"("})", R"(error: parameter "nonce" is too long)"},
        Decoding{"account_loose", kAccount, R"({"user":"a","auth_info":5,"audit_session":"1","setuid":"yes"})", R"({"user":"a"})"},
        Decoding{"account_tty", kAccount, R"({"user":"a","tty":5})", R"(error: parameter "tty" must be a string)"},
        Decoding{"account_unknown", kAccount, R"({"user":"a","outcome":"failure"})", R"(error: unknown parameter "outcome")"},
        Decoding{"session_auth_info", kSession, R"({"user":"a","auth_info":5,"audit_session":1})", R"(error: parameter "auth_info" must be a string)"},
        Decoding{"session_loose", kSession, R"({"user":"a","audit_session":"1","setuid":1})", R"({"user":"a"})"},
        Decoding{"changed_auth_info", kChanged, R"({"user":"a","auth_info":"x"})", R"({"user":"a","auth_info":"x"})"},
        Decoding{"changed_loose", kChanged, R"({"user":"a","audit_session":true,"setuid":null})", R"({"user":"a"})"},
        Decoding{"code_64", kVerify, R"({"user":"a","code":")" + std::string(64, '1') + R"("})", R"({"user":"a","code":")" + std::string(64, '1') + R"("})"},
        Decoding{"code_65", kVerify, R"({"user":"a","code":")" + std::string(65, '1') + R"("})", R"(error: parameter "code" is too long)"},
        Decoding{"code_absent", kVerify, R"({"user":"a"})", R"({"user":"a","code":""})"},
        Decoding{"code_number", kVerify, R"({"user":"a","code":123456})", R"(error: parameter "code" must be a string)"},
        Decoding{"no_prompt_string", kVerify, R"({"user":"a","no_prompt":"x"})", R"(error: parameter "no_prompt" must be a boolean)"},
        Decoding{"verify_unknown", kVerify, R"({"user":"a","outcome":"success"})", R"(error: unknown parameter "outcome")"},
        Decoding{"ping_empty", reencode<api::Ping>, "{}", "{}"},
        Decoding{"ping_unknown", reencode<api::Ping>, R"({"user":"a"})", R"(error: unknown parameter "user")"},
        Decoding{"reply_open", reencode<api::AuthReportReply>, R"({"verdict":"allow","new":1})", R"({"verdict":"allow","prompt":false})"},
        Decoding{"reply_loose", reencode<api::AuthReportReply>, R"({"verdict":"deny","prompt":"yes","warning":5})", R"({"verdict":"deny","prompt":false})"},
        Decoding{"reply_no_verdict", reencode<api::AuthReportReply>, R"({"prompt":true})", R"(error: missing parameter "verdict")"},
        Decoding{"verify_reply", reencode<api::AuthVerifyReply>, R"({"verdict":"allow","warning":"w"})", R"({"verdict":"allow","warning":"w"})"},
        Decoding{"account_reply_bad", reencode<api::AccountCheckReply>, R"({"verdict":1})", R"(error: parameter "verdict" must be a string)"},
        Decoding{"token_unknown", kToken, R"({"token":"t","owner":"a"})", R"(error: unknown parameter "owner")"},
        Decoding{"token_missing", kToken, R"({"scope":"a"})", R"(error: missing parameter "token")"},
        Decoding{"token_number", kToken, R"({"token":5})", R"(error: parameter "token" must be a string)"},
        Decoding{"token_null", kToken, R"({"token":null})", R"(error: parameter "token" must be a string)"},
        Decoding{"token_256", kToken, R"({"token":")" + std::string(256, 't') + R"("})", R"({"token":")" + std::string(256, 't') + R"("})"},
        Decoding{"token_257", kToken, R"({"token":")" + std::string(257, 't') + R"("})", R"(error: parameter "token" is too long)"},
        Decoding{"token_first", kToken, R"({"token":1,"scope":2})", R"(error: parameter "token" must be a string)"},
        Decoding{"scope_null_is_absent", kToken, R"({"token":"t","scope":null})", R"({"token":"t"})"},
        Decoding{"scope_number", kToken, R"({"token":"t","scope":7})", R"(error: parameter "scope" must be a string)"},
        Decoding{"token_reply_open", kTokenReply, R"({"verdict":"valid","owner":"a","scopes":["x"],"new":1})", R"({"verdict":"valid","owner":"a","scopes":["x"]})"},
        Decoding{"token_reply_scopes_type", kTokenReply, R"({"verdict":"valid","scopes":"x"})", R"(error: parameter "scopes" must be an array)"},
        Decoding{"token_reply_scope_type", kTokenReply, R"({"verdict":"valid","scopes":["x",1]})", R"(error: parameter "scopes" must be an array of strings)"},
        Decoding{"devices_reply", kDevices, R"({"user":"a","trust_days":7,"devices":[{"device":"d","first_seen":1,"last_seen":2,"known":true,"new":1}]})", R"({"user":"a","trust_days":7,"devices":[{"device":"d","first_seen":1,"last_seen":2,"known":true}]})"},
        Decoding{"devices_reply_bare", kDevices, R"({"user":"a"})", R"({"user":"a","trust_days":0,"devices":[]})"},
        Decoding{"devices_reply_not_array", kDevices, R"({"user":"a","devices":{}})", R"(error: parameter "devices" must be an array)"},
        Decoding{"devices_reply_not_object", kDevices, R"({"user":"a","devices":["d"]})", R"(error: parameter "devices" must be an array of objects)"},
        Decoding{"devices_reply_no_device", kDevices, R"({"user":"a","devices":[{"first_seen":1}]})", R"(error: missing parameter "device")"},
        Decoding{"devices_reply_seen_string", kDevices, R"({"user":"a","devices":[{"device":"d","first_seen":"1","last_seen":2,"known":true}]})", R"(error: parameter "first_seen" must be an integer)"},
        Decoding{"devices_reply_days_string", kDevices, R"({"user":"a","trust_days":"7"})", R"(error: parameter "trust_days" must be an integer)"},
        Decoding{"forget_unknown", kForget, R"({"user":"a","all":true,"evil":1})", R"(error: unknown parameter "evil")"},
        Decoding{"forget_user_loose", kForget, R"({"user":5,"device":"d"})", R"({"user":"","device":"d"})"},
        Decoding{"forget_all_loose", kForget, R"({"user":"a","all":"yes"})", R"({"user":"a"})"},
        Decoding{"forget_device_null", kForget, R"({"user":"a","device":null,"all":true})", R"({"user":"a","all":true})"},
        Decoding{"forget_device_number", kForget, R"({"user":"a","device":1})", R"(error: parameter "device" must be a string)"},
        Decoding{"forget_device_512", kForget, R"({"user":"a","device":")" + std::string(512, 'd') + R"("})", R"({"user":"a","device":")" + std::string(512, 'd') + R"("})"},
        Decoding{"forget_device_513", kForget, R"({"user":"a","device":")" + std::string(513, 'd') + R"("})", R"(error: parameter "device" is too long)"},
        Decoding{"recovery_unknown", kRecovery, R"({"user":"a","reason":"r","id":"x"})", R"(error: unknown parameter "id")"},
        Decoding{"recovery_loose", kRecovery, R"({"user":5,"reason":["r"]})", R"({"user":"","reason":""})"},
        Decoding{"recovery_absent", kRecovery, "{}", R"({"user":"","reason":""})"},
        Decoding{"recovery_reply", reencode<api::RecoveryRequestReply>, R"({"id":"r","user":"a","repeated":true,"new":1})", R"({"id":"r","user":"a","repeated":true})"},
        Decoding{"recovery_reply_repeated", reencode<api::RecoveryRequestReply>, R"({"id":"r","user":"a","repeated":"yes"})", R"(error: parameter "repeated" must be a boolean)"},
        Decoding{"forget_reply", reencode<api::DevicesForgetReply>, R"({"user":"a","forgotten":3})", R"({"user":"a","forgotten":3})"},
        Decoding{"forget_reply_missing", reencode<api::DevicesForgetReply>, R"({"user":"a"})", R"(error: missing parameter "forgotten")"},
        Decoding{"devices_list_unknown", reencode<api::DevicesList>, R"({"user":"a","all":true})", R"(error: unknown parameter "all")"}),
    [](const auto& info) { return std::string(info.param.name); });
// clang-format on

TEST(Api, DecodeErrorsAreInvalidParameter) {
  auto r = api::AuthVerify::from_json(object_of(R"({"user":"a","code":"123456","no_prompt":1})"));
  ASSERT_FALSE(r.ok());
  EXPECT_STREQ(r.error().wire_name(), kErrInvalidParameter);
  EXPECT_EQ(r.error().message, R"(parameter "no_prompt" must be a boolean)");
}

// Every key an encoder writes, its decoder accepts (Password.Changed's
// auth_info aside: api.h).
TEST(Api, DecodersAcceptWhatEncodersWrite) {
  api::Login l = full_login();
  EXPECT_TRUE(api::AuthReport::from_json(api::AuthReport{l, kOutcomeFailure, "n"}.to_json()).ok());
  EXPECT_TRUE(api::AccountCheck::from_json(api::AccountCheck{l}.to_json()).ok());
  EXPECT_TRUE(api::SessionOpen::from_json(api::SessionOpen{l}.to_json()).ok());
  EXPECT_TRUE(api::AuthVerify::from_json(api::AuthVerify{"a", "n", "1", true}.to_json()).ok());
  l.auth_info.clear();
  EXPECT_TRUE(api::PasswordChanged::from_json(api::PasswordChanged{l}.to_json()).ok());
}

TEST(Api, SelfServiceRoundTrips) {
  const auto token = api::TokenCheck{"vgt_secret", "ci"}.to_json();
  EXPECT_EQ(reencode<api::TokenCheck>(boost::json::serialize(token)), boost::json::serialize(token));
  const auto valid = api::TokenCheckReply{"valid", "alice", {"a", "b"}}.to_json();
  EXPECT_EQ(reencode<api::TokenCheckReply>(boost::json::serialize(valid)), boost::json::serialize(valid));
  const auto list = api::DevicesListReply{"alice", 30, {{"d", 1, 2, true}}}.to_json();
  EXPECT_EQ(reencode<api::DevicesListReply>(boost::json::serialize(list)), boost::json::serialize(list));
  const auto forget = api::DevicesForget{"alice", "d", false}.to_json();
  EXPECT_EQ(reencode<api::DevicesForget>(boost::json::serialize(forget)), boost::json::serialize(forget));
  const auto request = api::RecoveryRequest{"bob", "lost"}.to_json();
  EXPECT_EQ(reencode<api::RecoveryRequest>(boost::json::serialize(request)), boost::json::serialize(request));

  auto back = api::DevicesListReply::from_json(list);
  ASSERT_TRUE(back.ok());
  ASSERT_EQ(back->devices.size(), 1u);
  EXPECT_EQ(back->devices[0].device, "d");
  EXPECT_EQ(back->devices[0].last_seen, 2);
  EXPECT_TRUE(back->devices[0].known);
  EXPECT_EQ(api::make_call(api::TokenCheck{}).method, kTokenCheck);
  EXPECT_EQ(api::make_call(api::DevicesList{}).method, kDevicesList);
  EXPECT_EQ(api::make_call(api::DevicesForget{}).method, kDevicesForget);
  EXPECT_EQ(api::make_call(api::RecoveryRequest{}).method, kRecoveryRequest);
}

TEST(Api, SelfServiceDecodersAcceptWhatEncodersWrite) {
  EXPECT_TRUE(api::TokenCheck::from_json(api::TokenCheck{"t", "s"}.to_json()).ok());
  EXPECT_TRUE(api::DevicesList::from_json(api::DevicesList{"a"}.to_json()).ok());
  EXPECT_TRUE(api::DevicesForget::from_json(api::DevicesForget{"a", "d", true}.to_json()).ok());
  EXPECT_TRUE(api::RecoveryRequest::from_json(api::RecoveryRequest{"a", "r"}.to_json()).ok());
  auto bad = api::TokenCheck::from_json(object_of(R"({"token":"t","scope":1})"));
  ASSERT_FALSE(bad.ok());
  EXPECT_STREQ(bad.error().wire_name(), kErrInvalidParameter);
}


// One call through the module's transport: the request, then the end of the
// stream (the half-close that lets vigild answer and close without waiting
// on the connection again), then the reply.
TEST(Transport, OneCallSendsTheFrameThenItsEnd) {
  char tmpl[] = "/tmp/vigil-transport-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string path = std::string(tmpl) + "/s.sock";
  int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(listener, 4), 0);
  std::string received;
  bool ended = false;
  std::thread server([&] {
    int c = ::accept(listener, nullptr, nullptr);
    if (c < 0) return;
    char buf[256];
    for (;;) {  // until the end of the stream, or 2 s without one
      pollfd p{c, POLLIN, 0};
      if (::poll(&p, 1, 2000) != 1) break;
      ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n == 0) ended = true;
      if (n <= 0) break;
      received.append(buf, static_cast<size_t>(n));
    }
    static const char reply[] = "{\"parameters\":{\"version\":\"t\"}}";
    (void)::send(c, reply, sizeof reply, MSG_NOSIGNAL);  // its NUL included
    ::close(c);
  });
  ClientOptions opt;
  opt.socket_path = path;
  opt.require_root_server = false;
  const std::string frame("{\"method\":\"io.vigil.Daemon.Ping\",\"parameters\":{}}\0", 50);
  FrameCall r = call_frame(opt, frame);
  server.join();
  ::close(listener);
  std::filesystem::remove_all(tmpl);
  ASSERT_EQ(r.transport, Transport::kOk) << r.detail;
  EXPECT_EQ(r.reply, "{\"parameters\":{\"version\":\"t\"}}");
  EXPECT_EQ(received, frame);
  EXPECT_TRUE(ended) << "the call did not half-close after its request";
}

}  // namespace
}  // namespace vigil::proto
