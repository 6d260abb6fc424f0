#include <gtest/gtest.h>

#include "pam_module/options.h"

namespace vigil::pam {
namespace {

TEST(PamOptions, Defaults) {
  auto p = parse_options({}, std::nullopt);
  ASSERT_TRUE(p.error.empty());
  EXPECT_EQ(p.options.mode, Mode::kNone);
  EXPECT_EQ(p.options.socket, "/run/vigil/vigil.sock");
  EXPECT_EQ(p.options.timeout.count(), 2000);
  EXPECT_EQ(p.options.failmode, FailMode::kSecure);
  EXPECT_TRUE(p.options.console_exempt);
}

TEST(PamOptions, ArgumentsOverrideTheConfigFile) {
  std::string conf = "[daemon]\nsocket = \"/from/file.sock\"\n[lockout]\nconsole_exempt = false\n";
  auto p = parse_options({"authsucc", "socket=/from/args.sock", "timeout=500", "failmode=safe", "debug"},
                         conf);
  ASSERT_TRUE(p.error.empty()) << p.error;
  EXPECT_EQ(p.options.mode, Mode::kAuthSucc);
  EXPECT_EQ(p.options.socket, "/from/args.sock");
  EXPECT_EQ(p.options.timeout.count(), 500);
  EXPECT_EQ(p.options.failmode, FailMode::kSafe);
  EXPECT_FALSE(p.options.console_exempt);
  EXPECT_TRUE(p.options.debug);
  auto q = parse_options({"authfail", "console_exempt=yes"}, conf);
  EXPECT_EQ(q.options.socket, "/from/file.sock");
  EXPECT_TRUE(q.options.console_exempt);
}

TEST(PamOptions, ConfPathArgument) {
  EXPECT_EQ(config_path_from_args({"authfail", "conf=/x/y.conf"}), "/x/y.conf");
}

struct BadArg {
  std::vector<std::string_view> args;
  std::optional<std::string> conf;
};
class BadArgs : public ::testing::TestWithParam<BadArg> {};
TEST_P(BadArgs, AreFatal) { EXPECT_FALSE(parse_options(GetParam().args, GetParam().conf).error.empty()); }
INSTANTIATE_TEST_SUITE_P(
    Table, BadArgs,
    ::testing::Values(BadArg{{"bogus"}, std::nullopt}, BadArg{{"timeout=abc"}, std::nullopt},
                      BadArg{{"timeout=5"}, std::nullopt}, BadArg{{"failmode=open"}, std::nullopt},
                      BadArg{{"socket=relative"}, std::nullopt}, BadArg{{"nullok=1"}, std::nullopt}));

class BadConfigFiles : public ::testing::TestWithParam<std::string> {};
TEST_P(BadConfigFiles, FallBackToDefaultsAndArgsWithoutConsoleExemption) {
  auto p = parse_options({"authfail", "socket=/arg.sock"}, GetParam());
  EXPECT_TRUE(p.error.empty());
  EXPECT_FALSE(p.config_error.empty());
  EXPECT_EQ(p.options.mode, Mode::kAuthFail);
  EXPECT_EQ(p.options.socket, "/arg.sock");
  EXPECT_FALSE(p.options.console_exempt);
}
INSTANTIATE_TEST_SUITE_P(Table, BadConfigFiles,
                         ::testing::Values(std::string("[daemon\nsocket="),
                                           std::string("[daemon]\nsocket = 5\n"),
                                           std::string("[daemon]\nsocket = \"rel\"\n"),
                                           std::string("[lockout]\nconsole_exempt = \"no\"\n")));

}  // namespace
}  // namespace vigil::pam
