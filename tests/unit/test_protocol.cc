#include <gtest/gtest.h>

#include <string>

#include "protocol/login.h"
#include "protocol/message.h"
#include "protocol/names.h"

namespace vigil::proto {
namespace {

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

}  // namespace
}  // namespace vigil::proto
