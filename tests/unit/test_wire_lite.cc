// pam_vigil.so's own codec (protocol/json_lite.h, protocol/api_lite.h)
// against vigild's and vigilctl's (Boost.JSON, protocol/message.h and
// api_codec.h): the module and the daemon must read each other exactly as
// before the module dropped Boost.JSON.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "protocol/api.h"
#include "protocol/api_lite.h"
#include "protocol/json_lite.h"
#include "protocol/message.h"

namespace vigil::proto {
namespace {

namespace json = boost::json;
using lite::JsonValue;

std::optional<json::value> boost_parse(std::string_view text) {
  boost::system::error_code ec;
  json::parse_options opt;
  opt.max_depth = 16;  // vigild's (message.cc)
  json::value v = json::parse(text, ec, {}, opt);
  if (ec || !v.is_object()) return std::nullopt;
  return v;
}

// What the lite parser kept of a value, against Boost's.
void expect_same(const JsonValue& mine, const json::value& theirs, const std::string& where) {
  switch (mine.kind) {
    case JsonValue::Kind::kNull: EXPECT_TRUE(theirs.is_null()) << where; break;
    case JsonValue::Kind::kBool: ASSERT_TRUE(theirs.is_bool()) << where; EXPECT_EQ(mine.boolean, theirs.get_bool()) << where; break;
    case JsonValue::Kind::kInt: ASSERT_TRUE(theirs.is_int64()) << where; EXPECT_EQ(mine.integer, theirs.get_int64()) << where; break;
    case JsonValue::Kind::kString:
      ASSERT_TRUE(theirs.is_string()) << where;
      EXPECT_EQ(mine.string, std::string_view(theirs.get_string())) << where;
      break;
    case JsonValue::Kind::kObject: {
      ASSERT_TRUE(theirs.is_object()) << where;
      const auto& o = theirs.get_object();
      EXPECT_EQ(mine.object->members.size(), o.size()) << where;
      for (const auto& [k, v] : mine.object->members) {
        auto it = o.find(k);
        ASSERT_NE(it, o.end()) << where << "." << k;
        expect_same(v, it->value(), where + "." + k);
      }
      break;
    }
    case JsonValue::Kind::kOther:
      // Arrays, fractions, exponents, integers beyond int64.
      EXPECT_TRUE(theirs.is_array() || theirs.is_double() || theirs.is_uint64()) << where;
      break;
  }
}

TEST(JsonLite, AcceptsAndReadsWhatBoostDoes) {
  const std::vector<std::string> cases = {
      "{}", " {} ", "{}\n", "{\"a\":1}", "{\"a\":-0}", "{\"a\":01}", "{\"a\":-}", "{\"a\":1.5e+3}", "{\"a\":1E5}",
      "{\"a\":1e999}", "{\"a\":99999999999999999999}", "{\"a\":-9223372036854775808}",
      "{\"a\":9223372036854775807}", "{\"a\":9223372036854775808}", "{\"a\":true,\"b\":false,\"c\":null}",
      "{\"a\":nul}", "{\"a\":tru}", "{\"a\":1,\"a\":2}", "{\"error\":\"\",\"error\":\"x\",\"parameters\":{}}",
      "{\"a\":\"\\ud83d\\ude00\"}", "{\"a\":\"\\ud800\"}", "{\"a\":\"\\udc00\"}", "{\"a\":\"\\ud800\\u0041\"}",
      "{\"a\":\"\xff\"}", "{\"a\":\"\xc0\xaf\"}", "{\"a\":\"\xed\xa0\x80\"}", "{\"a\":\"\xf4\x90\x80\x80\"}",
      "{\"a\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}", "{\"a\":[1,2,]}", "{\"a\":1,}", "{\"a\" 1}",
      "{}x", "{} {}", "{\"a\":\"\\u0000\"}", "{\"a\":\"\t\"}", "\xef\xbb\xbf{}", "{\"a\":/*c*/1}",
      "{\"a\":\"\\x\"}", "{\"a\":\"\\/\\b\\f\\n\\r\\t\\\"\\\\\"}", "{\"a\":\"\\u00e9\\u20AC\"}", "{\"a\":\"\\u12\"}",
      "{\"a\":1}\v", "[]", "\"s\"", "1", "", "{", "{\"a\"", "{\"a\":", "{\"a\":\"x",
      "{\"a\":[[[[[[[[[[[[[[1]]]]]]]]]]]]]]}", "{\"a\":[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]}",
      "{\"a\":[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]}", "{\"a\":{\"b\":{\"c\":[{\"d\":[]}]}}}",
      "{\"parameters\":{\"verdict\":\"allow\",\"prompt\":true,\"warning\":\"w\"}}",
  };
  for (const auto& c : cases) {
    std::string why;
    auto mine = lite::parse_json_object(c, &why);
    auto theirs = boost_parse(c);
    ASSERT_EQ(mine.has_value(), theirs.has_value()) << "input: " << c << " (lite: " << why << ")";
    if (!mine) {
      EXPECT_FALSE(why.empty()) << c;
      continue;
    }
    JsonValue top;
    top.kind = JsonValue::Kind::kObject;
    top.object = std::make_unique<lite::JsonObject>(std::move(*mine));
    expect_same(top, *theirs, c);
  }
}

TEST(JsonLite, StringsReadBackAsWritten) {
  std::string all_bytes;
  for (int c = 1; c < 0x80; ++c) all_bytes.push_back(static_cast<char>(c));
  const std::vector<std::string> cases = {"", "plain", "quote \" backslash \\ slash /", std::string("nul\0in", 6),
                                          "\n\r\t\b\f\x01\x1f\x7f", "caf\xc3\xa9 \xf0\x9f\x98\x80", all_bytes};
  for (const auto& s : cases) {
    std::string doc = "{\"k\":";
    lite::append_json_string(doc, s);
    doc += "}";
    auto theirs = boost_parse(doc);
    ASSERT_TRUE(theirs) << doc;
    EXPECT_EQ(std::string_view(theirs->as_object().at("k").as_string()), s);
    auto mine = lite::parse_json_object(doc, nullptr);
    ASSERT_TRUE(mine) << doc;
    EXPECT_EQ(mine->find("k")->string, s);
  }
}

api::Login full_login() {
  api::Login l;
  l.user = "alice";
  l.service = "sshd";
  l.rhost = "203.0.113.7";
  l.tty = "ssh";
  l.ruser = "bob \"quoted\"";
  l.auth_info = "publickey ssh-ed25519 AAAA\nsecond line";
  l.audit_session = 4294967294u;
  l.setuid = true;
  return l;
}

void expect_login(const api::Login& a, const api::Login& b) {
  EXPECT_EQ(a.user, b.user);
  EXPECT_EQ(a.service, b.service);
  EXPECT_EQ(a.rhost, b.rhost);
  EXPECT_EQ(a.tty, b.tty);
  EXPECT_EQ(a.ruser, b.ruser);
  EXPECT_EQ(a.auth_info, b.auth_info);
  EXPECT_EQ(a.audit_session, b.audit_session);
  EXPECT_EQ(a.setuid, b.setuid);
}

// The lite frame, decoded as vigild decodes a call: the same method, and
// the very parameters vigilctl's codec writes for the same request.
template <class T>
Call as_vigild_reads(const T& request) {
  auto frame = api::lite::encode_call(request);
  EXPECT_TRUE(frame);
  EXPECT_EQ(frame->back(), '\0');
  auto call = decode_call(std::string_view(*frame).substr(0, frame->size() - 1));
  EXPECT_TRUE(call) << *frame;
  EXPECT_EQ(call->method, T::kMethod);
  EXPECT_EQ(call->params, api::make_call(request).params) << *frame;
  return *call;
}

TEST(ApiLite, VigildReadsTheModulesCalls) {
  for (bool full : {true, false}) {
    api::Login login = full ? full_login() : api::Login{"u", "", "", "", "", "", 0, false};
    {
      api::AuthReport r{login, kOutcomeFailure, full ? "0123456789abcdef0123456789abcdef" : ""};
      auto got = api::AuthReport::from_json(as_vigild_reads(r).params);
      ASSERT_TRUE(got);
      expect_login(got->login, login);
      EXPECT_EQ(got->outcome, r.outcome);
      EXPECT_EQ(got->nonce, r.nonce);
    }
    {
      api::AuthVerify v{login.user, "n", full ? "123456" : "", !full};
      auto got = api::AuthVerify::from_json(as_vigild_reads(v).params);
      ASSERT_TRUE(got);
      EXPECT_EQ(got->code, v.code);
      EXPECT_EQ(got->no_prompt, v.no_prompt);
    }
    {
      auto got = api::AccountCheck::from_json(as_vigild_reads(api::AccountCheck{login}).params);
      ASSERT_TRUE(got);
      expect_login(got->login, login);
    }
    {
      auto got = api::SessionOpen::from_json(as_vigild_reads(api::SessionOpen{login}).params);
      ASSERT_TRUE(got);
      expect_login(got->login, login);
    }
    {
      auto got = api::PasswordChanged::from_json(as_vigild_reads(api::PasswordChanged{login}).params);
      ASSERT_TRUE(got);
      expect_login(got->login, login);
    }
  }
}

// The worst case of escaping (every byte a control character, \u00XX)
// still fits the buffer encode_call reserves: the frame never reallocates,
// so no freed buffer keeps part of a code.
TEST(ApiLite, TheFrameFitsTheBufferReservedForIt) {
  const std::string worst(200, '\x01');
  api::AuthReport r{api::Login{worst, worst, worst, worst, worst, worst, 4294967294u, true}, worst, worst};
  api::lite::Sizer bound;
  api::AuthReport::fields(r, bound);
  auto frame = api::lite::encode_call(r);
  ASSERT_TRUE(frame);
  EXPECT_LE(frame->size(), bound.n + 6 * std::string_view(api::AuthReport::kMethod).size() + 64);
  EXPECT_GT(frame->size(), 6 * 200 * 8) << "every byte escaped";
  api::AuthVerify v{worst, worst, worst, true};
  api::lite::Sizer vb;
  api::AuthVerify::fields(v, vb);
  auto vf = api::lite::encode_call(v);
  ASSERT_TRUE(vf);
  EXPECT_LE(vf->size(), vb.n + 6 * std::string_view(api::AuthVerify::kMethod).size() + 64);
}

TEST(ApiLite, OversizedCallIsRefused) {
  api::AccountCheck big{api::Login{std::string(kMaxFrame, 'x'), "", "", "", "", "", 0, false}};
  auto frame = api::lite::encode_call(big);
  EXPECT_FALSE(frame);
}

// A reply as vigild writes it, read by the module.
Result<api::lite::Reply> module_reads(const Reply& r) {
  auto frame = encode(r);
  EXPECT_TRUE(frame);
  return api::lite::decode_reply(std::string_view(*frame).substr(0, frame->size() - 1));
}

TEST(ApiLite, TheModuleReadsVigildsReplies) {
  for (const api::AuthReportReply& want : {api::AuthReportReply{kVerdictAllow, false, ""},
                                            api::AuthReportReply{kVerdictVerify, true, "a code will be required"},
                                            api::AuthReportReply{kVerdictDeny, true, ""}}) {
    auto r = module_reads(Reply::success(want.to_json()));
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->ok());
    auto got = api::lite::decode_params<api::AuthReportReply>(r->params);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->verdict, want.verdict);
    EXPECT_EQ(got->prompt, want.prompt);
    EXPECT_EQ(got->warning, want.warning);
  }
  {
    auto r = module_reads(Reply::success(api::AuthVerifyReply{kVerdictAllow, "soon"}.to_json()));
    auto got = api::lite::decode_params<api::AuthVerifyReply>(r->params);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->verdict, kVerdictAllow);
    EXPECT_EQ(got->warning, "soon");
  }
  {
    auto r = module_reads(Reply::success(api::AccountCheckReply{kVerdictDeny}.to_json()));
    auto got = api::lite::decode_params<api::AccountCheckReply>(r->params);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->verdict, kVerdictDeny);
  }
  {
    auto r = module_reads(Reply::failure(kErrPermissionDenied, "no"));
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->ok());
    EXPECT_EQ(r->error, kErrPermissionDenied);
  }
}

// Each reply read both ways: the lite codec accepts exactly what
// message.h's decode_reply and api_codec.h's decode<T> accept.
TEST(ApiLite, RepliesAreReadAsVigilctlReadsThem) {
  const std::vector<std::string> frames = {
      R"({"parameters":{"verdict":"allow"}})",
      R"({"parameters":{"verdict":"allow","prompt":"yes","warning":7}})",  // loose: read as unset
      R"({"parameters":{"verdict":"allow","extra":[1,{"x":2}]}})",
      R"({"parameters":{"verdict":5}})",
      R"({"parameters":{"verdict":null}})",
      R"({"parameters":{}})",
      R"({"parameters":[]})",
      R"({"parameters":{"verdict":"allow"},"parameters":{"verdict":"deny"}})",
      R"({"error":"io.vigil.Error.PermissionDenied","parameters":{"message":"m"}})",
      R"({"error":"","parameters":{}})",
      R"({"error":3,"parameters":{}})",
      R"({"verdict":"allow"})",
      R"(not json)",
  };
  for (const auto& f : frames) {
    auto theirs = decode_reply(f);
    auto mine = api::lite::decode_reply(f);
    ASSERT_EQ(bool(theirs), bool(mine)) << f;
    if (!theirs) continue;
    EXPECT_EQ(theirs->error, mine->error) << f;
    auto t = api::AuthReportReply::from_json(theirs->params);
    auto m = api::lite::decode_params<api::AuthReportReply>(mine->params);
    ASSERT_EQ(bool(t), bool(m)) << f;
    if (!t) continue;
    EXPECT_EQ(t->verdict, m->verdict) << f;
    EXPECT_EQ(t->prompt, m->prompt) << f;
    EXPECT_EQ(t->warning, m->warning) << f;
  }
}

}  // namespace
}  // namespace vigil::proto
