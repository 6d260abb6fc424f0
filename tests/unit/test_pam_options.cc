#include <gtest/gtest.h>

#include <fcntl.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "pam_module/options.h"
#include "protocol/config_text.h"

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

// A live edit with a mistake: the module goes on with the settings vigild
// last accepted (client.conf), else with the strict defaults; the error is
// reported either way.
struct LastGoodCase {
  const char* name;
  std::vector<std::string_view> args;
  std::optional<std::string> last_good;  // client.conf's text; nullopt: none
  const char* socket;
  bool console_exempt;
  bool says_last_good;
};
class LastGood : public ::testing::TestWithParam<LastGoodCase> {};
TEST_P(LastGood, TakesOverFromABrokenFile) {
  const auto& c = GetParam();
  auto broken = parse_files({ConfigSource{"/etc/vigil/vigil.conf", "[daemon]\nsocket = \"/new.sock\"\n[lockout\n"}});
  ASSERT_FALSE(broken.config_error.empty());
  std::optional<ConfigSource> lg;
  if (c.last_good) lg = ConfigSource{"/run/x/client.conf", *c.last_good};
  auto p = apply_args(c.args, with_last_good(broken, lg));
  EXPECT_TRUE(p.error.empty());
  EXPECT_EQ(p.options.socket, c.socket);
  EXPECT_EQ(p.options.console_exempt, c.console_exempt);
  EXPECT_NE(p.config_error.find(broken.config_error), std::string::npos) << "still reported";
  EXPECT_EQ(p.config_error.find("last good settings vigild published in /run/x/client.conf") != std::string::npos,
            c.says_last_good) << p.config_error;
}
const std::string kLastGood = last_good_text("/srv/vigil.sock", "/srv/admin.sock", true);
INSTANTIATE_TEST_SUITE_P(
    Table, LastGood,
    ::testing::Values(
        LastGoodCase{"Used", {"authfail"}, kLastGood, "/srv/vigil.sock", true, true},
        LastGoodCase{"ArgumentsStillWin", {"authfail", "socket=/arg.sock"}, kLastGood, "/arg.sock", true, true},
        LastGoodCase{"NoneStrictDefaults", {"authfail"}, std::nullopt, "/run/vigil/vigil.sock", false, false},
        LastGoodCase{"BrokenTooStrictDefaults", {"authfail"}, std::string("[daemon"), "/run/vigil/vigil.sock",
                     false, false}),
    [](const auto& i) { return std::string(i.param.name); });

TEST(PamOptions, LastGoodIsBesideTheSocketItWouldUse) {
  EXPECT_EQ(last_good_path_for({"authfail"}), "/run/vigil/client.conf");
  EXPECT_EQ(last_good_path_for({"socket=/srv/v/vigil.sock"}), "/srv/v/client.conf");
  auto fine = parse_files({ConfigSource{"/etc/vigil/vigil.conf", "[lockout]\ndeny = 3\n"}});
  EXPECT_EQ(with_last_good(fine, ConfigSource{"x", kLastGood}).socket, "/run/vigil/vigil.sock")
      << "a file that parses is never replaced";
}

// Only a root-owned file, in a directory only root can write, is trusted.
TEST(PamOptions, LastGoodMustBeRootsAlone) {
  char tmpl[] = "/tmp/vigil-lastgood-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl, path = dir + "/client.conf";
  ASSERT_EQ(chmod(dir.c_str(), 0755), 0);
  FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs(kLastGood.c_str(), f);
  std::fclose(f);
  ASSERT_EQ(chmod(path.c_str(), 0644), 0);
  if (geteuid() == 0) {
    EXPECT_EQ(read_last_good(path), kLastGood);
  }
  ASSERT_EQ(chmod(path.c_str(), 0666), 0);
  EXPECT_FALSE(read_last_good(path).has_value()) << "writable by others";
  ASSERT_EQ(chmod(path.c_str(), 0644), 0);
  ASSERT_EQ(chmod(dir.c_str(), 0777), 0);
  EXPECT_FALSE(read_last_good(path).has_value()) << "in a directory others can write";
  if (geteuid() == 0) {
    ASSERT_EQ(chmod(dir.c_str(), 0755), 0);
    ASSERT_EQ(chown(path.c_str(), 1000, 1000), 0);
    EXPECT_FALSE(read_last_good(path).has_value()) << "not root's";
  }
  std::remove(path.c_str());
  rmdir(dir.c_str());
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
                      BadArg{{"socket=relative"}, std::nullopt}, BadArg{{"nullok=1"}, std::nullopt},
                      BadArg{{"failmode_account=open"}, std::nullopt}));

TEST(PamOptions, TheAccountPhaseHasItsOwnFailmode) {
  auto p = parse_options({"failmode=secure"}, std::nullopt);
  EXPECT_FALSE(p.options.failmode_account.has_value()) << "unset: the account phase follows failmode";
  auto q = parse_options({"failmode=secure", "failmode_account=safe"}, std::nullopt);
  ASSERT_TRUE(q.error.empty()) << q.error;
  EXPECT_EQ(q.options.failmode, FailMode::kSecure);
  EXPECT_EQ(q.options.failmode_account, FailMode::kSafe);
}

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
                                           std::string("[lockout]\nconsole_exempt = \"no\"\n"),
                                           // Found by tests/fuzz: toml++ 3.3 asserted (abort
                                           // in sshd) or reached undefined behaviour on these.
                                           std::string("[&x]\n"), std::string("deny = [ }\n"),
                                           std::string("[lockout]\n# \xef\xbb\xbc\n"),
                                           std::string("[\x18lockout]\n")));

}  // namespace
}  // namespace vigil::pam

namespace vigil::pam {
namespace {

void write_file(const std::string& path, const std::string& text) {
  FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs(text.c_str(), f);
  std::fclose(f);
}

TEST(PamOptions, TheCachedParseFollowsTheFile) {
  char tmpl[] = "/tmp/vigil-pamopts-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string conf = std::string(tmpl) + "/vigil.conf";
  const std::string arg = "conf=" + conf;
  std::vector<std::string_view> args = {"authfail", arg};
  write_file(conf, "[daemon]\nsocket = \"/run/a.sock\"\n");
  EXPECT_EQ(load_options_cached(args).options.socket, "/run/a.sock");
  EXPECT_EQ(load_options_cached(args).options.socket, "/run/a.sock");  // from the cache
  // Same size, new content, at once: the change is seen (the text is compared).
  write_file(conf, "[daemon]\nsocket = \"/run/b.sock\"\n");
  EXPECT_EQ(load_options_cached(args).options.socket, "/run/b.sock");
  // Replaced by another file (a new inode), then removed: seen too.
  write_file(conf + ".new", "[daemon]\nsocket = \"/run/c.sock\"\n");
  ASSERT_EQ(std::rename((conf + ".new").c_str(), conf.c_str()), 0);
  EXPECT_EQ(load_options_cached(args).options.socket, "/run/c.sock");
  std::remove(conf.c_str());
  EXPECT_EQ(load_options_cached(args).options.socket, Options{}.socket);
  // Other arguments are another entry: they never get a stale answer.
  std::vector<std::string_view> other = {"authfail", arg, "socket=/run/d.sock"};
  EXPECT_EQ(load_options_cached(other).options.socket, "/run/d.sock");
  std::remove(tmpl);
}

// vigil.conf.d/*.conf, in name order, over vigil.conf; the cache sees a
// drop-in come and go; a broken drop-in is a config error like a broken file.
TEST(PamOptions, DropInsApplyInOrder) {
  char tmpl[] = "/tmp/vigil-pamopts-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string conf = std::string(tmpl) + "/vigil.conf";
  const std::string dir = conf + ".d";
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  const std::string arg = "conf=" + conf;
  std::vector<std::string_view> args = {"authfail", arg};
  write_file(conf, "[daemon]\nsocket = \"/run/a.sock\"\n");
  EXPECT_EQ(load_options_cached(args).options.socket, "/run/a.sock");
  write_file(dir + "/20-b.conf", "[daemon]\nsocket = \"/run/b.sock\"\n");
  write_file(dir + "/10-x.conf", "[daemon]\nsocket = \"/run/x.sock\"\n[lockout]\nconsole_exempt = false\n");
  write_file(dir + "/30-ignored.conf.bak", "[daemon]\nsocket = \"/run/bak.sock\"\n");
  auto p = load_options_cached(args);
  EXPECT_EQ(p.options.socket, "/run/b.sock");  // 20-b after 10-x; .bak is not read
  EXPECT_FALSE(p.options.console_exempt);       // from 10-x, which 20-b leaves alone
  EXPECT_TRUE(p.config_error.empty()) << p.config_error;
  write_file(dir + "/40-broken.conf", "[daemon\n");
  p = load_options_cached(args);
  EXPECT_NE(p.config_error.find(dir + "/40-broken.conf:1:"), std::string::npos) << p.config_error;
  EXPECT_EQ(p.options.socket, Options{}.socket);
  for (const char* f : {"/20-b.conf", "/10-x.conf", "/30-ignored.conf.bak", "/40-broken.conf"})
    std::remove((dir + f).c_str());
  EXPECT_EQ(load_options_cached(args).options.socket, "/run/a.sock");
  std::remove(dir.c_str());
  std::remove(conf.c_str());
  std::remove(tmpl);
}

// A stack calls the module from several lines with different arguments, in
// turn: the file is parsed once for all of them (a login process pays one
// parse), and each line still gets its own arguments.
TEST(PamOptions, EachModuleLineKeepsItsParse) {
  char tmpl[] = "/tmp/vigil-pamopts-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string conf = std::string(tmpl) + "/vigil.conf";
  const std::string arg = "conf=" + conf;
  write_file(conf, "[daemon]\nsocket = \"/run/a.sock\"\n");
  std::vector<std::string_view> fail = {"authfail", arg}, succ = {"authsucc", arg}, acct = {arg};
  auto before = options_cache_hits();
  for (auto* a : {&fail, &succ, &acct}) EXPECT_EQ(load_options_cached(*a).options.socket, "/run/a.sock");
  EXPECT_EQ(options_cache_hits() - before, 2u) << "the first line parsed; the next two used its parse";
  before = options_cache_hits();
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(load_options_cached(fail).options.mode, Mode::kAuthFail);
    EXPECT_EQ(load_options_cached(succ).options.mode, Mode::kAuthSucc);
    EXPECT_EQ(load_options_cached(acct).options.mode, Mode::kNone);
  }
  EXPECT_EQ(options_cache_hits() - before, 15u) << "every call after the first came from the cache";
  // The arguments still apply on top of the cached parse.
  std::vector<std::string_view> other = {"authfail", arg, "socket=/run/arg.sock"};
  EXPECT_EQ(load_options_cached(other).options.socket, "/run/arg.sock");
  EXPECT_EQ(load_options_cached(fail).options.socket, "/run/a.sock");
  // An edit is still seen by every line.
  write_file(conf, "[daemon]\nsocket = \"/run/z.sock\"\n");
  for (auto* a : {&fail, &succ, &acct}) EXPECT_EQ(load_options_cached(*a).options.socket, "/run/z.sock");
  std::remove(conf.c_str());
  std::remove(tmpl);
}

// What the module hands to toml++: comment-only lines made empty, newlines
// kept; texts where a line starting with '#' might not be a comment are
// left as they are.
TEST(PamOptions, CommentLinesAreBlanked) {
  struct Case {
    const char* in;
    const char* out;
  };
  const Case cases[] = {
      {"# a\n[daemon]\n  # b\n\t# c\nsocket = \"/x\" # kept\n#", "\n[daemon]\n\n\nsocket = \"/x\" # kept\n"},
      {"", ""},
      {"no newline", "no newline"},
      {"a = 1\n\n#\n", "a = 1\n\n\n"},
      {"s = \"\"\"\n# in a string\n\"\"\"\n", "s = \"\"\"\n# in a string\n\"\"\"\n"},
      {"s = \'\'\'\n# in a string\n\'\'\'\n", "s = \'\'\'\n# in a string\n\'\'\'\n"},
      {"# crlf\r\na = 1\r\n", "# crlf\r\na = 1\r\n"},
  };
  for (const auto& c : cases) EXPECT_EQ(without_comment_lines(c.in), c.out) << c.in;
  // Errors still name the line they are on.
  auto p = parse_options({}, std::optional<std::string>("# one\n# two\n[daemon\n"));
  EXPECT_NE(p.config_error.find(":3: "), std::string::npos) << p.config_error;
}

// The stamp of the files, from stat alone: the same files give the same
// stamp; a change of time, a new drop-in or a removed file changes it.
TEST(PamOptions, ConfigStampFollowsTheFiles) {
  char tmpl[] = "/tmp/vigil-stamp-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string conf = std::string(tmpl) + "/vigil.conf";
  EXPECT_FALSE(config_stamp_now(conf).has_value()) << "no file, no stamp";
  write_file(conf, "[lockout]\ndeny = 3\n");
  auto first = config_stamp_now(conf);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->size(), 3u + 16u);
  EXPECT_EQ(config_stamp_now(conf), first) << "nothing changed";
  const struct timespec when[2] = {{1, 0}, {1, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, conf.c_str(), when, 0), 0);
  auto touched = config_stamp_now(conf);
  EXPECT_NE(touched, first) << "the times changed";
  ASSERT_EQ(mkdir((conf + ".d").c_str(), 0755), 0);
  EXPECT_EQ(config_stamp_now(conf), touched) << "an empty drop-in directory adds nothing";
  write_file(conf + ".d/10-x.conf", "[lockout]\ndeny = 4\n");
  EXPECT_NE(config_stamp_now(conf), touched) << "a new drop-in";
  std::remove((conf + ".d/10-x.conf").c_str());
  EXPECT_EQ(config_stamp_now(conf), touched) << "the drop-in gone again";
  // client.conf carries it on a line of its own, before the tables.
  const std::string text = last_good_text("/s/v.sock", "/s/a.sock", true, *first);
  EXPECT_EQ(last_good_stamp(text), *first);
  EXPECT_EQ(last_good_stamp(last_good_text("/s/v.sock", "/s/a.sock", true)), "");
  EXPECT_EQ(last_good_stamp("[daemon]\nstamp = \"v1:0\"\n"), "") << "inside a table it is not the stamp";
  rmdir((conf + ".d").c_str());
  std::remove(conf.c_str());
  rmdir(tmpl);
}

// While the files' stamp is the one in client.conf, the module takes the
// published settings without reading vigil.conf; once the file changes, it
// reads the file again. (client.conf says console_exempt = false and the
// file true here, which vigild never publishes, to see which one is used.)
TEST(PamOptions, PublishedSettingsStandInForTheSameFiles) {
  if (geteuid() != 0) GTEST_SKIP() << "client.conf is trusted only when root's";
  char tmpl[] = "/tmp/vigil-published-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  ASSERT_EQ(chmod(tmpl, 0755), 0);
  const std::string dir = tmpl, conf = dir + "/vigil.conf", sock = dir + "/vigil.sock";
  const std::string client = dir + "/client.conf";
  const std::string conf_arg = "conf=" + conf, sock_arg = "socket=" + sock;
  std::vector<std::string_view> args = {"authfail", conf_arg, sock_arg};
  // vigild publishes; `settled`: written well after the files last changed.
  auto publish = [&](const std::string& stamp, bool settled) {
    write_file(client, last_good_text(sock, dir + "/admin.sock", false, stamp));
    ASSERT_EQ(chmod(client.c_str(), 0644), 0);
    if (settled) {
      struct timespec t[2];
      clock_gettime(CLOCK_REALTIME, &t[0]);
      t[0].tv_sec += kRacyWindowSeconds + 5;
      t[1] = t[0];
      ASSERT_EQ(utimensat(AT_FDCWD, client.c_str(), t, 0), 0);
    }
  };
  write_file(conf, "[lockout]\nconsole_exempt = true\n");
  publish(*config_stamp_now(conf), true);
  auto p = load_options_cached(args);
  EXPECT_FALSE(p.options.console_exempt) << "the published settings, the file unread";
  EXPECT_TRUE(p.config_error.empty()) << p.config_error;
  EXPECT_EQ(p.options.mode, Mode::kAuthFail) << "the arguments still apply";
  // Written right after the file last changed: racy, the file is read.
  publish(*config_stamp_now(conf), false);
  EXPECT_TRUE(load_options_cached(args).options.console_exempt) << "racily published";
  publish(*config_stamp_now(conf), true);
  EXPECT_FALSE(load_options_cached(args).options.console_exempt);
  // A change of mode: the stamp differs, the file is read again.
  ASSERT_EQ(chmod(conf.c_str(), 0640), 0);
  EXPECT_TRUE(load_options_cached(args).options.console_exempt) << "the mode changed";
  // An edit: the stamp differs, the file is read.
  publish(*config_stamp_now(conf), true);
  write_file(conf, "[lockout]\nconsole_exempt = true\ndeny = 3\n");
  EXPECT_TRUE(load_options_cached(args).options.console_exempt) << "the edited file";
  // A stamp from other files: the file is read.
  publish("v1:0000000000000000", true);
  EXPECT_TRUE(load_options_cached(args).options.console_exempt);
  // client.conf not root's alone: never trusted, even with the right stamp.
  publish(*config_stamp_now(conf), true);
  ASSERT_EQ(chmod(client.c_str(), 0666), 0);
  EXPECT_TRUE(load_options_cached(args).options.console_exempt);
  std::remove(client.c_str());
  std::remove(conf.c_str());
  rmdir(tmpl);
}

}  // namespace
}  // namespace vigil::pam

namespace vigil::pam {
namespace {

// client.conf as vigild writes it is read without toml++ (the helper stays
// unloaded at a login), with exactly toml++'s result; any other text is left
// to toml++.
TEST(PamOptions, PublishedTextIsReadWithoutToml) {
  for (const std::string& sock : {std::string("/run/vigil/vigil.sock"), std::string("/run/a \"b\" \\c.sock")})
    for (bool exempt : {true, false})
      for (const std::string& stamp : {std::string(), std::string("v1:0123456789abcdef")}) {
        const std::string text = last_good_text(sock, "/run/vigil/admin.sock", exempt, stamp);
        auto mine = read_published(text);
        ASSERT_TRUE(mine) << text;
        FileOptions theirs = parse_files({ConfigSource{"client.conf", text}});
        ASSERT_TRUE(theirs.config_error.empty()) << theirs.config_error;
        EXPECT_EQ(mine->socket, theirs.socket) << text;
        EXPECT_EQ(mine->console_exempt, theirs.console_exempt) << text;
        EXPECT_EQ(mine->socket, sock);
        EXPECT_EQ(mine->console_exempt, exempt);
      }
  const std::string good = last_good_text("/run/x.sock", "/run/a.sock", false, "v1:00");
  auto edit = [&](const std::string& from, const std::string& to) {
    std::string t = good;
    auto at = t.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return t.replace(at, from.size(), to);
  };
  const std::vector<std::string> others = {
      edit("console_exempt = false", "console_exempt = false # a comment"),
      edit("console_exempt = false", "console_exempt=false"),
      edit("console_exempt = false", "console_exempt = \"false\""),
      edit("socket = \"/run/x.sock\"", "socket = '/run/x.sock'"),
      edit("socket = \"/run/x.sock\"", "socket = \"/run/\\u0078.sock\""),
      edit("socket = \"/run/x.sock\"", "socket = \"relative.sock\""),
      edit("socket = \"/run/x.sock\"", "socket = \"/run/x.sock\"\nsocket = \"/run/y.sock\""),
      edit("socket = \"/run/x.sock\"", "sockets = \"/run/x.sock\""),
      edit("[lockout]\n", "[lockout]\ndeny = 3\n"),
      edit("[lockout]\n", "[daemon]\n"),
      edit("stamp = \"v1:00\"\n[daemon]\n", "[daemon]\nstamp = \"v1:00\"\n"),
      edit("[daemon]\n", "[ daemon ]\n"),
      edit("[daemon]\n", "\t[daemon]\n"),
      "[lockout]\nconsole_exempt = true\n[daemon]\nsocket = \"/run/x.sock\"\n",
      good + "\x01",
  };
  for (const auto& t : others) EXPECT_FALSE(read_published(t)) << t;
  // toml++ still reads the valid ones among them, as before.
  EXPECT_TRUE(parse_files({ConfigSource{"c", others[0]}}).config_error.empty());
  EXPECT_EQ(parse_files({ConfigSource{"c", others[3]}}).socket, "/run/x.sock");
  EXPECT_TRUE(read_published("# only a comment\n")) << "vigild's defaults: no key at all";
}

}  // namespace
}  // namespace vigil::pam
