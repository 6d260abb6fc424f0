// The daemon's process hardening: no core dumps, the config file's owner and
// mode, the per-uid request budget, root first in the NSS pool, and children
// that inherit no descriptor.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "daemon/os/command.h"
#include "daemon/os/config_file.h"
#include "daemon/os/nss.h"
#include "daemon/os/process_hardening.h"
#include "daemon/rpc/rate_limit.h"

namespace vigil {
namespace {

TEST(ProcessHardening, NoCoreDumpAndNotDumpable) {
  ASSERT_TRUE(harden_process().ok());
  EXPECT_EQ(::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
  rlimit rl{};
  ASSERT_EQ(::getrlimit(RLIMIT_CORE, &rl), 0);
  EXPECT_EQ(rl.rlim_cur, 0u);
  EXPECT_EQ(rl.rlim_max, 0u);
}

// ---- the configuration file ----

struct stat file_stat(mode_t mode, uid_t uid) {
  struct stat st {};
  st.st_mode = mode;
  st.st_uid = uid;
  return st;
}

struct FileCase {
  const char* name;
  mode_t mode;
  uid_t uid;
  const char* expect;  // "" when accepted, else a part of the message
};
class ConfigFileCases : public ::testing::TestWithParam<FileCase> {};

TEST_P(ConfigFileCases, OwnerAndMode) {
  const auto& c = GetParam();
  std::string problem = config_file_problem(file_stat(c.mode, c.uid), "/etc/vigil/vigil.conf", 990);
  if (std::string(c.expect).empty()) {
    EXPECT_EQ(problem, "");
  } else {
    EXPECT_NE(problem.find(c.expect), std::string::npos) << problem;
    EXPECT_NE(problem.find("/etc/vigil/vigil.conf"), std::string::npos) << problem;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, ConfigFileCases,
    ::testing::Values(
        FileCase{"root_0644", S_IFREG | 0644, 0, ""},
        FileCase{"root_0600", S_IFREG | 0600, 0, ""},
        FileCase{"daemon_uid", S_IFREG | 0640, 990, ""},
        FileCase{"user_owned", S_IFREG | 0644, 1001,
                 "owned by uid 1001 with mode 0644: it names commands vigild runs as root"},
        FileCase{"group_writable", S_IFREG | 0664, 0, "mode 0664"},
        FileCase{"other_writable", S_IFREG | 0646, 0, "chmod go-w /etc/vigil/vigil.conf"},
        FileCase{"fix_named", S_IFREG | 0666, 0, "chown root:root /etc/vigil/vigil.conf"},
        FileCase{"directory", S_IFDIR | 0755, 0, "is a directory, not a configuration file"},
        FileCase{"fifo", S_IFIFO | 0600, 0, "is a FIFO"}),
    [](const auto& info) { return std::string(info.param.name); });

class ScratchDir : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vigil-hardening-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  std::string write(const std::string& name, const std::string& text, mode_t mode) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    ::chmod(path.c_str(), mode);
    return path;
  }
  std::string dir_;
};

using LoadDaemonConfig = ScratchDir;

TEST_F(LoadDaemonConfig, ReadsASafeFile) {
  auto c = load_daemon_config(write("vigil.conf", "[lockout]\ndeny = 7\n", 0644));
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->lockout.deny, 7);
}

// vigild stamps the files it read (from each descriptor), as pam_vigil.so
// stamps them from stat; the stamp is published in client.conf.
TEST_F(LoadDaemonConfig, StampsTheFilesItRead) {
  const std::string path = write("vigil.conf", "[lockout]\ndeny = 7\n", 0644);
  ::mkdir((path + ".d").c_str(), 0755);
  write("vigil.conf.d/10-x.conf", "[lockout]\ndeny = 8\n", 0644);
  auto c = load_daemon_config(path);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->lockout.deny, 8);
  ASSERT_TRUE(config_stamp_now(path).has_value());
  EXPECT_EQ(c->source_stamp, *config_stamp_now(path));
  const struct timespec when[2] = {{1, 0}, {1, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (path + ".d/10-x.conf").c_str(), when, 0), 0);
  EXPECT_NE(c->source_stamp, *config_stamp_now(path)) << "a drop-in touched since";
  EXPECT_EQ(last_good_stamp(last_good_text("/s", "/a", true, c->source_stamp)), c->source_stamp);
}

TEST_F(LoadDaemonConfig, RefusesWhatOthersMayWrite) {
  auto c = load_daemon_config(write("vigil.conf", "[lockout]\ndeny = 7\n", 0666));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("mode 0666"), std::string::npos) << c.error().message;
}

TEST_F(LoadDaemonConfig, ChecksTheTargetOfALink) {
  std::string target = write("real.conf", "", 0666);
  std::string link = dir_ + "/vigil.conf";
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  auto c = load_daemon_config(link);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find(link + " is owned by uid"), std::string::npos) << c.error().message;
}

TEST_F(LoadDaemonConfig, RefusesADirectoryAndAFifoWithoutHanging) {
  auto d = load_daemon_config(dir_);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message.find("is a directory"), std::string::npos) << d.error().message;
  std::string fifo = dir_ + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto f = load_daemon_config(fifo);
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.error().message.find("is a FIFO"), std::string::npos) << f.error().message;
}

TEST_F(LoadDaemonConfig, AMissingFileIsNamed) {
  auto c = load_daemon_config(dir_ + "/none.conf");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find(dir_ + "/none.conf: cannot open"), std::string::npos);
}

// ---- the request budget ----

using Clock = RequestLimiter::Clock;

TEST(RequestLimiter, OneSecondsWorthThenTheRefillRate) {
  RequestLimiter lim;
  const auto t0 = Clock::time_point{} + std::chrono::hours(1);
  for (int i = 0; i < 50; ++i) EXPECT_TRUE(lim.take(1001, 50, t0).allowed) << i;
  auto refused = lim.take(1001, 50, t0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_TRUE(refused.warn) << "the first refusal is logged";
  EXPECT_FALSE(lim.take(1001, 50, t0).warn) << "not every one";
  EXPECT_TRUE(lim.take(1002, 50, t0).allowed) << "another uid has its own budget";
  // 100 ms later: 5 more.
  const auto t1 = t0 + std::chrono::milliseconds(100);
  int allowed = 0;
  for (int i = 0; i < 20; ++i) allowed += lim.take(1001, 50, t1).allowed;
  EXPECT_EQ(allowed, 5);
  // A minute later the budget is full again, and a refusal is logged again.
  const auto t2 = t1 + std::chrono::minutes(1);
  for (int i = 0; i < 50; ++i) EXPECT_TRUE(lim.take(1001, 50, t2).allowed);
  EXPECT_TRUE(lim.take(1001, 50, t2).warn);
}

TEST(RequestLimiter, ZeroMeansNoLimit) {
  RequestLimiter lim;
  const auto t0 = Clock::now();
  for (int i = 0; i < 10000; ++i) ASSERT_TRUE(lim.take(1001, 0, t0).allowed);
}

TEST(RequestLimiter, ForgetsIdleUidsPastItsBound) {
  RequestLimiter lim;
  const auto t0 = Clock::now();
  for (uid_t u = 0; u < RequestLimiter::kMaxTracked; ++u) lim.take(u + 1000, 10, t0);
  EXPECT_EQ(lim.tracked(), RequestLimiter::kMaxTracked);
  lim.take(99999, 10, t0 + std::chrono::seconds(2));
  EXPECT_EQ(lim.tracked(), 1u);
}

// ---- the NSS pool ----

// Holds every pool thread until released.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  std::atomic<int> waiting{0};
  void pass() {
    ++waiting;
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return open; });
  }
  void release() {
    {
      std::lock_guard lock(mu);
      open = true;
    }
    cv.notify_all();
  }
  void wait_for(int n) {
    while (waiting < n) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
};

TEST(LookupPool, NonRootLookupsAreBoundedAndRootsGoFirst) {
  Gate gate;
  std::mutex mu;
  std::vector<std::string> order;
  auto record = [&](std::string what) {
    std::lock_guard lock(mu);
    order.push_back(std::move(what));
  };
  {
    LookupPool pool(2, 3);
    // Non-root lookups get one of the two threads; the other stays for root.
    ASSERT_TRUE(pool.submit(false, [&] { gate.pass(); record("low0"); }));
    gate.wait_for(1);
    for (int i = 1; i <= 3; ++i)
      ASSERT_TRUE(pool.submit(false, [&, i] { record("low" + std::to_string(i)); }));
    EXPECT_FALSE(pool.submit(false, [&] { record("refused"); })) << "3 waiting: the bound";
    std::promise<void> root_done;
    ASSERT_TRUE(pool.submit(true, [&] { record("root"); root_done.set_value(); }));
    EXPECT_EQ(root_done.get_future().wait_for(std::chrono::seconds(5)), std::future_status::ready)
        << "root's lookup ran on the thread non-root lookups may not take";
    gate.release();
    while (pool.waiting() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(order.size(), 5u);
  EXPECT_EQ(order[0], "root");
  EXPECT_EQ(std::set<std::string>(order.begin() + 1, order.end()),
            (std::set<std::string>{"low0", "low1", "low2", "low3"}));
}

TEST(LookupPool, RootIsQueuedAheadWithOneThread) {
  Gate gate;
  std::mutex mu;
  std::vector<std::string> order;
  {
    LookupPool pool(1, 8);
    ASSERT_TRUE(pool.submit(false, [&] { gate.pass(); }));
    gate.wait_for(1);
    for (int i = 0; i < 3; ++i)
      ASSERT_TRUE(pool.submit(false, [&] { std::lock_guard l(mu); order.push_back("low"); }));
    ASSERT_TRUE(pool.submit(true, [&] { std::lock_guard l(mu); order.push_back("root"); }));
    gate.release();
    while (pool.waiting() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(order.size(), 4u);
  EXPECT_EQ(order[0], "root");
}

// ---- children ----

// The child lists its descriptors with `exec ls -l /proc/self/fd`: {fd:
// target}, less the directory ls itself reads.
constexpr char kListFds[] = "exec ls -l /proc/self/fd";

std::map<int, std::string> fds_of(const std::string& output) {
  std::map<int, std::string> out;
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);) {
    auto arrow = line.find(" -> ");
    if (arrow == std::string::npos) continue;
    std::string target = line.substr(arrow + 4);
    if (target.starts_with("/proc/") && target.ends_with("/fd")) continue;
    auto space = line.rfind(' ', arrow - 1);
    out[std::stoi(line.substr(space + 1, arrow - space - 1))] = target;
  }
  return out;
}

std::set<int> keys(const std::map<int, std::string>& m) {
  std::set<int> out;
  for (const auto& [k, v] : m) out.insert(k);
  return out;
}

TEST(RunCommand, TheChildInheritsNoDescriptor) {
  // A descriptor without close-on-exec, as a library might leave one.
  int leak = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(leak, 3);
  auto r = run_command({"sh", "-c", kListFds}, "", std::chrono::seconds(10));
  ::close(leak);
  ASSERT_TRUE(r.ok()) << r.error << r.output;
  EXPECT_EQ(keys(fds_of(r.output)), (std::set<int>{0, 1, 2})) << r.output;
}

using RunExecutable = ScratchDir;

TEST_F(RunExecutable, AScriptRunsFromItsDescriptor) {
  std::string hook = write("hook", std::string("#!/bin/sh\nread line\necho \"got $line\"\n") + kListFds + "\n", 0755);
  int fd = ::open(hook.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  // The path is gone: what runs is the file the descriptor holds.
  ASSERT_EQ(::rename(hook.c_str(), (hook + ".moved").c_str()), 0);
  auto r = run_command({hook}, "hello\n", std::chrono::seconds(10), fd);
  ::close(fd);
  ASSERT_TRUE(r.ok()) << r.error << r.output;
  std::istringstream out(r.output);
  std::string first;
  std::getline(out, first);
  EXPECT_EQ(first, "got hello");
  std::string rest((std::istreambuf_iterator<char>(out)), std::istreambuf_iterator<char>());
  auto fds = fds_of(rest);
  // 0-2 and the script itself at kExecFd (its interpreter reads /dev/fd/3).
  EXPECT_EQ(keys(fds), (std::set<int>{0, 1, 2, kExecFd})) << r.output;
  EXPECT_EQ(fds[kExecFd], hook + ".moved") << r.output;
}

TEST_F(RunExecutable, AFailedExecIsReported) {
  std::string junk = write("junk", "not a program\n", 0755);
  int fd = ::open(junk.c_str(), O_PATH | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  auto r = run_command({junk}, "", std::chrono::seconds(10), fd);
  ::close(fd);
  EXPECT_FALSE(r.started);
  EXPECT_NE(r.error.find("Exec format error"), std::string::npos) << r.error;
}

}  // namespace
}  // namespace vigil
