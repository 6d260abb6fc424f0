#include <gtest/gtest.h>
#include <sodium.h>

#include <atomic>
#include <deque>
#include <filesystem>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "daemon/engine/engine.h"
#include "daemon/store/sqlite_store.h"

namespace vigil {
namespace {

namespace fs = std::filesystem;

class FakeClock final : public Clock {
 public:
  TimePoint now() const override { return from_epoch(t_.load()); }
  void advance(long long s) { t_ += s; }

 private:
  std::atomic<long long> t_{1'700'000'000};
};

// Delegates to a real SqliteStore, and fails commits on demand.
class FlakyStore final : public StoreWrapper {
 public:
  explicit FlakyStore(std::unique_ptr<Store> inner) : StoreWrapper(std::move(inner)) {}
  std::atomic<bool> fail_commits{false};
  std::atomic<int> full_sync_begins{0};
  Status begin(bool full) override {
    if (full) ++full_sync_begins;
    return StoreWrapper::begin(full);
  }
  std::atomic<int> commits{0};
  Status commit() override {
    ++commits;
    if (fail_commits) {
      inner().rollback();
      return Error::Store("injected: disk full");
    }
    return StoreWrapper::commit();
  }
};

// Records how each bucket write was asked for; fails commits on demand.
class RecordingStore final : public StoreWrapper {
 public:
  explicit RecordingStore(std::unique_ptr<Store> inner) : StoreWrapper(std::move(inner)) {}
  std::atomic<bool> fail_commits{false};
  Status put(const BucketRecord& r, TimePoint t, Unchanged u) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      puts_.emplace_back(r.key, u);
    }
    return StoreWrapper::put(r, t, u);
  }
  Status commit() override {
    if (fail_commits) {
      inner().rollback();
      return Error::Store("injected: disk full");
    }
    return StoreWrapper::commit();
  }
  // What each write of `key` left unchanged, in order: "uid", "updated",
  // both ("uid updated") or neither ("").
  std::vector<std::string> writes_of(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out;
    for (const auto& [k, u] : puts_)
      if (k == key)
        out.push_back(u.uid && u.updated ? "uid updated" : u.uid ? "uid" : u.updated ? "updated" : "");
    return out;
  }

 private:
  std::mutex mu_;
  std::vector<std::pair<std::string, Unchanged>> puts_;
};

// A root caller's report for alice.
ReportRequest alice_report(std::string nonce, Outcome o) {
  ReportRequest r;
  r.key = "uid:1001";
  r.uid = 1001;
  r.name = "alice";
  r.nonce = std::move(nonce);
  r.outcome = o;
  r.root_caller = true;
  return r;
}

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vigil-engine-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    cfg_.deny = 3;
    cfg_.unlock_time = std::chrono::seconds(600);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<Store> open_store() {
    auto s = SqliteStore::open(dir_ + "/vigil.db");
    EXPECT_TRUE(s.ok());
    return std::move(*s);
  }

  ReportResult report_sync(Engine& e, Outcome o, std::string nonce = "") {
    std::promise<ReportResult> p;
    ReportRequest r = alice_report(std::move(nonce), o);
    e.report(r, [&](ReportResult res) { p.set_value(std::move(res)); });
    return p.get_future().get();
  }

  std::string dir_;
  LockoutConfig cfg_;
  FakeClock clock_;
};

TEST_F(EngineTest, AllFailuresInParallelLockAfterExactlyDeny) {
  Engine e(open_store(), clock_, cfg_);
  e.start();
  constexpr int kN = 64;
  std::vector<std::promise<ReportResult>> proms(kN);
  std::vector<std::thread> threads;
  for (int i = 0; i < kN; ++i)
    threads.emplace_back([&, i] {
      ReportRequest r = alice_report("n" + std::to_string(i), Outcome::kFailure);
      e.report(r, [&, i](ReportResult res) { proms[i].set_value(std::move(res)); });
    });
  for (auto& t : threads) t.join();
  int counted = 0, refused = 0, locked_now = 0;
  for (auto& p : proms) {
    auto r = p.get_future().get();
    counted += r.decision.counted;
    refused += r.decision.refused_locked;
    locked_now += r.decision.locked_now;
  }
  EXPECT_EQ(counted, 3);
  EXPECT_EQ(refused, kN - 3);
  EXPECT_EQ(locked_now, 1);
  // A late right password is refused too.
  EXPECT_FALSE(report_sync(e, Outcome::kSuccess).decision.allow);
  e.stop();
}

TEST_F(EngineTest, SameNonceCountsOnce) {
  Engine e(open_store(), clock_, cfg_);
  e.start();
  EXPECT_TRUE(report_sync(e, Outcome::kFailure, "same").decision.counted);
  auto again = report_sync(e, Outcome::kFailure, "same");
  EXPECT_TRUE(again.duplicate);
  EXPECT_FALSE(again.decision.counted);
  EXPECT_EQ(again.state.failures.size(), 1u);
  EXPECT_TRUE(report_sync(e, Outcome::kFailure, "other").decision.counted);
  e.stop();
}

TEST_F(EngineTest, StateIsCommittedBeforeTheAnswer) {
  // The store keeps SQLite's lock while it is open (no second connection can
  // read it), so the commits are counted as the answers go out, and the file
  // is read once the engine has stopped.
  auto flaky = std::make_unique<FlakyStore>(open_store());
  FlakyStore* f = flaky.get();
  {
    Engine e(std::move(flaky), clock_, cfg_);
    e.start();
    for (int i = 0; i < 3; ++i) {
      const int before = f->commits;
      std::promise<int> seen;
      e.report(alice_report("c" + std::to_string(i), Outcome::kFailure),
               [&](ReportResult) { seen.set_value(f->commits); });
      EXPECT_GT(seen.get_future().get(), before) << "failure " << i << " was answered before its commit";
    }
    e.stop();
  }
  auto reader = open_store();
  auto rec = reader->load("uid:1001");
  ASSERT_TRUE(rec.ok() && rec->has_value());
  EXPECT_TRUE((*rec)->state.locked_at(clock_.now()));
}

// Under start(post), as in vigild: a success is answered before its batch's
// commit (which is posted behind the answer); a failure only after it, and a
// batch of failures alone commits at once, in the same turn (nothing was
// answered that the commit should follow); a batch that comes before a
// posted commit commits it first; stop() commits a posted one.
TEST_F(EngineTest, PostedBatchAnswersSuccessBeforeCommitAndFailureAfter) {
  auto flaky = std::make_unique<FlakyStore>(open_store());
  FlakyStore* f = flaky.get();
  auto engine = std::make_unique<Engine>(std::move(flaky), clock_, cfg_);
  Engine& e = *engine;
  std::deque<std::function<void()>> posted;
  e.start([&](std::function<void()> fn) { posted.push_back(std::move(fn)); });
  auto run_one = [&] {
    ASSERT_FALSE(posted.empty());
    auto fn = std::move(posted.front());
    posted.pop_front();
    fn();
  };
  // One failure on record first, so that the success below changes state.
  std::optional<ReportResult> fail1;
  int commits_at_fail1 = -1;
  e.report(alice_report("f1", Outcome::kFailure), [&](ReportResult r) {
    commits_at_fail1 = f->commits.load();
    fail1 = std::move(r);
  });
  EXPECT_FALSE(fail1) << "nothing is decided before the posted batch runs";
  run_one();  // the batch: decided, committed, answered
  ASSERT_TRUE(fail1);
  EXPECT_TRUE(fail1->status.ok());
  EXPECT_EQ(commits_at_fail1, 1) << "a failure is answered only after its commit";
  EXPECT_TRUE(posted.empty()) << "a batch of failures alone posts no commit";

  int commits_at_answer = -1;
  e.report(alice_report("s1", Outcome::kSuccess), [&](ReportResult r) {
    EXPECT_TRUE(r.decision.allow);
    commits_at_answer = f->commits.load();
  });
  run_one();
  EXPECT_EQ(commits_at_answer, 1) << "the success was answered before its batch's commit";
  ASSERT_EQ(posted.size(), 1u) << "the commit is posted";
  // A new batch that runs before the posted commit commits it first.
  std::optional<ReportResult> fail2;
  e.report(alice_report("f2", Outcome::kFailure), [&](ReportResult r) { fail2 = std::move(r); });
  auto commit_fn = std::move(posted.front());
  posted.pop_front();
  run_one();  // the new batch: the earlier commit, then its own
  ASSERT_TRUE(fail2);
  EXPECT_EQ(f->commits.load(), 3) << "the earlier batch committed before the new one ran";
  commit_fn();  // the stale posted commit: nothing left to commit
  EXPECT_EQ(f->commits.load(), 3);
  EXPECT_EQ(fail2->state.failures.size(), 1u) << "the success reset the count, then one failure";
  // A failure and a success in one batch: the success answered at once, the
  // commit posted behind it, the failure answered after the commit.
  bool f3_answered = false, s2_answered = false;
  int commits_at_s2 = -1;
  e.report(alice_report("f3", Outcome::kFailure), [&](ReportResult) { f3_answered = true; });
  e.report(alice_report("s2", Outcome::kSuccess), [&](ReportResult) {
    s2_answered = true;
    commits_at_s2 = f->commits.load();
  });
  run_one();
  EXPECT_TRUE(s2_answered);
  EXPECT_EQ(commits_at_s2, 3) << "the success went out before the commit";
  EXPECT_FALSE(f3_answered) << "the failure waits for the posted commit";
  ASSERT_EQ(posted.size(), 1u);
  // stop() commits what is left.
  e.stop();
  engine.reset();  // closes the store: it holds SQLite's lock while open
  EXPECT_TRUE(f3_answered);
  auto rec = open_store()->load("uid:1001");
  ASSERT_TRUE(rec.ok() && rec->has_value());
  EXPECT_EQ((*rec)->state.failures.size(), 0u) << "s2 came after f3 in the batch and reset the count";
}

TEST_F(EngineTest, FailedCommitFailsClosedAndRetries) {
  auto flaky = std::make_unique<FlakyStore>(open_store());
  FlakyStore* f = flaky.get();
  auto engine = std::make_unique<Engine>(std::move(flaky), clock_, cfg_);
  Engine& e = *engine;
  e.start();
  f->fail_commits = true;
  auto r = report_sync(e, Outcome::kFailure);
  EXPECT_FALSE(r.status.ok()) << "an unrecorded failure must not be answered as recorded";
  f->fail_commits = false;
  auto r2 = report_sync(e, Outcome::kFailure);
  EXPECT_TRUE(r2.status.ok());
  e.stop();
  engine.reset();  // closes the store: it holds SQLite's lock while open
  auto rec = open_store()->load("uid:1001");
  ASSERT_TRUE(rec.ok() && rec->has_value());
  // The first failure was kept in memory and written with the next batch.
  EXPECT_EQ((*rec)->state.failures.size(), 2u);
}

// The engine tells the store what a bucket write may leave as the store
// holds it (loaded, or committed since), so that the write leaves those
// index entries alone: the uid when it is the stored one, and updated_at
// when the stored one is less than a minute old. A new bucket, or one whose
// first write did not commit, gets both written.
TEST_F(EngineTest, BucketWritesSayWhatTheStoreAlreadyHolds) {
  {
    auto store = std::make_unique<RecordingStore>(open_store());
    RecordingStore* rec = store.get();
    Engine e(std::move(store), clock_, cfg_);
    e.start();
    rec->fail_commits = true;
    EXPECT_FALSE(report_sync(e, Outcome::kFailure, "a").status.ok());
    rec->fail_commits = false;
    EXPECT_TRUE(report_sync(e, Outcome::kFailure, "b").status.ok());
    clock_.advance(59);
    EXPECT_TRUE(report_sync(e, Outcome::kFailure, "c").status.ok());
    e.stop();
    EXPECT_EQ(rec->writes_of("uid:1001"), (std::vector<std::string>{"", "", "uid updated"}));
  }
  auto store = std::make_unique<RecordingStore>(open_store());
  RecordingStore* rec = store.get();
  {
    Engine e(std::move(store), clock_, cfg_);
    e.start();
    clock_.advance(1);
    EXPECT_TRUE(report_sync(e, Outcome::kFailure, "d").status.ok());
    // Loaded from the store: its uid is the stored one; its updated_at is
    // not known, so it is written, and then known.
    clock_.advance(Store::kUpdatedLag.count() - 1);
    EXPECT_TRUE(report_sync(e, Outcome::kFailure, "e").status.ok());
    clock_.advance(1);  // a minute after the last updated_at written
    EXPECT_TRUE(report_sync(e, Outcome::kFailure, "f").status.ok());
    clock_.advance(-3600);  // a clock set back: written
    EXPECT_TRUE(report_sync(e, Outcome::kFailure, "g").status.ok());
    EXPECT_EQ(rec->writes_of("uid:1001"), (std::vector<std::string>{"uid", "uid updated", "uid", "uid"}));
    auto of = rec->buckets_of(1001);
    ASSERT_TRUE(of.ok());
    ASSERT_EQ(of->size(), 1u);
    EXPECT_EQ((*of)[0].key, "uid:1001");
    EXPECT_EQ((*of)[0].state.failures.size(), 3u);  // deny = 3: the rest were refused
    EXPECT_EQ((*of)[0].state.refused, 4);
    e.stop();
  }
}

TEST_F(EngineTest, LockExpiresWithTheClock) {
  Engine e(open_store(), clock_, cfg_);
  e.start();
  for (int i = 0; i < 3; ++i) report_sync(e, Outcome::kFailure);
  EXPECT_FALSE(report_sync(e, Outcome::kSuccess).decision.allow);
  clock_.advance(601);
  EXPECT_TRUE(report_sync(e, Outcome::kSuccess).decision.allow);
  e.stop();
}

TEST_F(EngineTest, ResetIsDurable) {
  auto flaky = std::make_unique<FlakyStore>(open_store());
  FlakyStore* f = flaky.get();
  auto engine = std::make_unique<Engine>(std::move(flaky), clock_, cfg_);
  Engine& e = *engine;
  e.start();
  for (int i = 0; i < 3; ++i) report_sync(e, Outcome::kFailure);
  std::promise<ResetResult> p;
  e.reset("uid:1001", 1001, "alice", [&](ResetResult r) { p.set_value(r); });
  auto r = p.get_future().get();
  EXPECT_TRUE(r.status.ok());
  EXPECT_TRUE(r.was_locked);
  EXPECT_EQ(f->full_sync_begins, 1) << "a reset is committed with a full sync";
  e.stop();
  engine.reset();  // closes the store: it holds SQLite's lock while open
  auto rec = open_store()->load("uid:1001");
  ASSERT_TRUE(rec.ok() && rec->has_value());
  EXPECT_TRUE(is_idle((*rec)->state, clock_.now()));
}

}  // namespace
}  // namespace vigil

namespace vigil {
namespace {

template <class R, class F>
R wait_for(F start) {
  std::promise<R> p;
  start([&p](R r) { p.set_value(std::move(r)); });
  return p.get_future().get();
}

TEST_F(EngineTest, AnUnblockThatCannotCommitLeavesTheBlock) {
  auto flaky = std::make_unique<FlakyStore>(open_store());
  FlakyStore* f = flaky.get();
  auto engine = std::make_unique<Engine>(std::move(flaky), clock_, cfg_);
  Engine& e = *engine;
  e.start();
  ASSERT_GE(sodium_init(), 0);
  TokenIssueRequest ti;
  ti.owner_uid = 1003;
  ti.owner = "carol";
  ti.name = "sync";
  ti.scopes = {"api"};
  auto issued = wait_for<TokenIssueResult>([&](auto done) { e.token_issue(ti, done); });
  ASSERT_TRUE(issued.status.ok());
  // alice is an administrator: her block freezes the token API.
  auto b = wait_for<BlockResult>([&](auto done) { e.block(1001, "alice", "test", "root", true, done); });
  ASSERT_TRUE(b.status.ok() && b.changed);
  f->fail_commits = true;
  RecoverRequest req;
  req.uid = 1001;
  req.name = "alice";
  req.actor_uid = 1004;
  req.by = "dave";
  auto r = wait_for<RecoverResult>([&](auto done) { e.recover(req, done); });
  EXPECT_FALSE(r.status.ok());
  EXPECT_FALSE(r.changed);
  // Memory keeps the block, and the retried write keeps it on disk.
  f->fail_commits = false;
  auto view = wait_for<Result<AccountView>>([&](auto done) { e.get("uid:1001", 1001, done); });
  ASSERT_TRUE(view.ok());
  EXPECT_TRUE(view->block.has_value());
  report_sync(e, Outcome::kFailure);  // any batch: retries the writes
  auto c = wait_for<TokenCheckResult>([&](auto done) { e.token_check(tokens::hash_token(issued.secret), "api", done); });
  EXPECT_EQ(c.verdict, tokens::Verdict::kFrozen);
  e.stop();
  engine.reset();  // closes the store: it holds SQLite's lock while open
  auto store = open_store();
  auto block = store->load_block(1001);
  ASSERT_TRUE(block.ok());
  EXPECT_TRUE(block->has_value()) << "a failed unblock must never land later";
  EXPECT_EQ(store->list_freezes()->size(), 1u) << "nor its lifting of the freeze";
}

TEST_F(EngineTest, RecoverRefusesSelfAndRecordsHistoryWithTheUnblock) {
  Engine e(open_store(), clock_, cfg_);
  e.start();
  wait_for<BlockResult>([&](auto done) { e.block(1001, "alice", "test", "root", false, done); });
  RecoverRequest self;
  self.uid = 1001;
  self.name = "alice";
  self.actor_uid = 1001;
  auto r = wait_for<RecoverResult>([&](auto done) { e.recover(self, done); });
  ASSERT_FALSE(r.status.ok());
  EXPECT_TRUE(r.status.error().is_refused());
  EXPECT_NE(r.status.error().message.find("your own block"), std::string::npos);
  RecoverRequest glass;
  glass.uid = 1001;
  glass.name = "alice";
  glass.by = "root";
  glass.history = HistoryRecord{0, clock_.now(), "break-glass", 1001, "alice", "root", "why", false};
  r = wait_for<RecoverResult>([&](auto done) { e.recover(glass, done); });
  EXPECT_TRUE(r.status.ok());
  EXPECT_TRUE(r.changed);
  auto h = wait_for<Result<std::vector<HistoryRecord>>>([&](auto done) { e.take_unreported_history(done); });
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h->size(), 1u);
  EXPECT_EQ((*h)[0].reason, "why");
  e.stop();
}

}  // namespace
}  // namespace vigil

namespace vigil {
namespace {

TEST_F(EngineTest, AnAdminBlockRevokesAndFreezesInItsOwnTransaction) {
  ASSERT_GE(sodium_init(), 0);
  std::string secret;
  {
    auto flaky = std::make_unique<FlakyStore>(open_store());
    FlakyStore* f = flaky.get();
    auto engine = std::make_unique<Engine>(std::move(flaky), clock_, cfg_);
    Engine& e = *engine;
    e.start();
    TokenIssueRequest req;
    req.owner_uid = 1002;
    req.owner = "bob";
    req.name = "cron";
    req.scopes = {"api"};
    req.by_uid = 0;
    req.by = "root";
    auto issued = wait_for<TokenIssueResult>([&](auto done) { e.token_issue(req, done); });
    ASSERT_TRUE(issued.status.ok());
    secret = issued.secret;
    auto b = wait_for<BlockResult>([&](auto done) { e.block(1002, "bob", "test", "root", true, done); });
    ASSERT_TRUE(b.status.ok());
    const int commits = f->commits;
    e.stop();
    EXPECT_EQ(f->commits.load(), commits) << "no commit after the block's: the file holds what it committed";
    engine.reset();  // closes the store: it holds SQLite's lock while open
    auto store = open_store();
    auto toks = store->list_tokens();
    ASSERT_TRUE(toks.ok());
    ASSERT_EQ(toks->size(), 1u);
    EXPECT_EQ((*toks)[0].state, tokens::State::kRevoked);
    EXPECT_EQ(store->list_freezes()->size(), 1u);
    EXPECT_EQ(store->list_outbox()->size(), 1u) << "the revoke hooks' outbox item";
  }
  // A new engine (a restart) answers from the stored state.
  Engine e(open_store(), clock_, cfg_);
  e.start();
  auto c = wait_for<TokenCheckResult>([&](auto done) { e.token_check(tokens::hash_token(secret), "api", done); });
  EXPECT_EQ(c.verdict, tokens::Verdict::kFrozen);
  e.stop();
}

// [tokens] freeze_on: whose block freezes the token API (a table), and with
// "any", a recovery lifts it only when no other freezing block remains.
class TokenFreeze : public EngineTest {
 protected:
  Engine& engine(vigil::FreezeOn on, BlockConfig block = {}) {
    TokensConfig tokens;
    tokens.freeze_on = on;
    engine_ = std::make_unique<Engine>(open_store(), clock_, cfg_, nullptr, TotpConfig{}, DevicesConfig{}, block,
                                       ThrottleConfig{}, tokens);
    engine_->start();
    return *engine_;
  }
  void TearDown() override {
    if (engine_) engine_->stop();
    engine_.reset();
    EngineTest::TearDown();
  }
  // A token of alice (uid 1001, never blocked here), to see the API's state.
  std::string alices_token() {
    EXPECT_GE(sodium_init(), 0);
    TokenIssueRequest req;
    req.owner_uid = 1001;
    req.owner = "alice";
    req.name = "probe";
    req.scopes = {"api"};
    auto r = wait_for<TokenIssueResult>([&](auto done) { engine_->token_issue(req, done); });
    EXPECT_TRUE(r.status.ok());
    return r.secret;
  }
  tokens::Verdict check(const std::string& secret) {
    return wait_for<TokenCheckResult>(
               [&](auto done) { engine_->token_check(tokens::hash_token(secret), "api", done); })
        .verdict;
  }
  void block(int64_t uid, const std::string& name, bool admin) {
    auto b = wait_for<BlockResult>([&](auto done) { engine_->block(uid, name, "test", "root", admin, done); });
    ASSERT_TRUE(b.status.ok() && b.changed);
  }
  void recover(int64_t uid, const std::string& name) {
    RecoverRequest req;
    req.uid = uid;
    req.name = name;
    req.actor_uid = 1009;
    req.by = "erin";
    auto r = wait_for<RecoverResult>([&](auto done) { engine_->recover(req, done); });
    ASSERT_TRUE(r.status.ok() && r.changed) << (r.status.ok() ? "" : r.status.error().message);
  }
  std::unique_ptr<Engine> engine_;
};

struct FreezeCase {
  const char* name;
  vigil::FreezeOn on;
  bool admin;  // the blocked account is an administrator's
  bool frozen;
};
class FreezeTable : public TokenFreeze, public ::testing::WithParamInterface<FreezeCase> {};

TEST_P(FreezeTable, WhoseBlockFreezesTheApi) {
  const auto& c = GetParam();
  engine(c.on);
  const std::string probe = alices_token();
  block(1003, "carol", c.admin);
  EXPECT_EQ(check(probe), c.frozen ? tokens::Verdict::kFrozen : tokens::Verdict::kValid);
  recover(1003, "carol");
  EXPECT_EQ(check(probe), tokens::Verdict::kValid) << "the recovery lifts the freeze";
}

INSTANTIATE_TEST_SUITE_P(
    Table, FreezeTable,
    ::testing::Values(FreezeCase{"admins_employee", vigil::FreezeOn::kAdmins, false, false},
                      FreezeCase{"admins_admin", vigil::FreezeOn::kAdmins, true, true},
                      FreezeCase{"any_employee", vigil::FreezeOn::kAny, false, true},
                      FreezeCase{"any_admin", vigil::FreezeOn::kAny, true, true}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_F(TokenFreeze, AnyRecoveryUnfreezesOnlyWhenNoFreezingBlockRemains) {
  engine(vigil::FreezeOn::kAny);
  const std::string probe = alices_token();
  block(1003, "carol", false);
  block(1004, "dave", true);
  block(1005, "frank", false);
  recover(1003, "carol");
  EXPECT_EQ(check(probe), tokens::Verdict::kFrozen) << "dave's and frank's blocks still freeze it";
  recover(1004, "dave");
  EXPECT_EQ(check(probe), tokens::Verdict::kFrozen) << "frank's block still freezes it";
  recover(1005, "frank");
  EXPECT_EQ(check(probe), tokens::Verdict::kValid);
  // ...and a restart reads the same from the store.
  engine_->stop();
  engine_.reset();  // closes the store: it holds SQLite's lock while open
  engine(vigil::FreezeOn::kAny);
  EXPECT_EQ(check(probe), tokens::Verdict::kValid);
}

// A block on wrong passwords alone ([block] escalate_after_locks) freezes
// nothing, even with "any": nobody on the network can freeze the API.
TEST_F(TokenFreeze, AnyNeverFreezesOnWrongPasswordsAlone) {
  BlockConfig block;
  block.escalate_after_locks = 1;
  Engine& e = engine(vigil::FreezeOn::kAny, block);
  const std::string probe = alices_token();
  for (int i = 0; i < 3; ++i) {
    ReportRequest r = alice_report("f" + std::to_string(i), Outcome::kFailure);
    r.key = "uid:1003";
    r.uid = 1003;
    r.name = "carol";
    wait_for<ReportResult>([&](auto done) { e.report(r, done); });
  }
  auto view = wait_for<Result<AccountView>>([&](auto done) { e.get("uid:1003", 1003, done); });
  ASSERT_TRUE(view.ok());
  ASSERT_TRUE(view->block.has_value()) << "escalated";
  EXPECT_EQ(check(probe), tokens::Verdict::kValid);
}

// Every refusal is answered after its batch's commit, as a wrong password is
// (issue #15: no timing difference). With commits failing, an answer given
// before the commit would carry an ok status; one given after carries the
// failure.
class RefusalTiming : public EngineTest {
 protected:
  ReportResult refused_while_failing(Engine& e, FlakyStore* store, ReportRequest r) {
    store->fail_commits = true;
    std::promise<ReportResult> p;
    e.report(r, [&](ReportResult res) { p.set_value(std::move(res)); });
    auto res = p.get_future().get();
    store->fail_commits = false;
    return res;
  }
  FlakyStore* flaky_ = nullptr;
  std::unique_ptr<Store> flaky_store() {
    auto s = std::make_unique<FlakyStore>(open_store());
    flaky_ = s.get();
    return s;
  }
};

TEST_F(RefusalTiming, LockedRefusalWaitsForTheCommit) {
  Engine e(flaky_store(), clock_, cfg_);
  e.start();
  for (int i = 0; i < 3; ++i) report_sync(e, Outcome::kFailure);
  auto r = refused_while_failing(e, flaky_, alice_report("late", Outcome::kSuccess));
  EXPECT_TRUE(r.decision.refused_locked);
  EXPECT_FALSE(r.status.ok());
  e.stop();
}

TEST_F(RefusalTiming, BlockedRefusalWaitsForTheCommit) {
  Engine e(flaky_store(), clock_, cfg_);
  e.start();
  std::promise<BlockResult> b;
  e.block(1001, "alice", "test", "root", false, [&](BlockResult r) { b.set_value(r); });
  ASSERT_TRUE(b.get_future().get().status.ok());
  auto r = refused_while_failing(e, flaky_, alice_report("x", Outcome::kSuccess));
  EXPECT_TRUE(r.blocked);
  EXPECT_FALSE(r.status.ok());
  e.stop();
}

TEST_F(RefusalTiming, ThrottledRefusalWaitsForTheCommit) {
  ThrottleConfig throttle;
  throttle.deny = 2;
  Engine e(flaky_store(), clock_, cfg_, nullptr, {}, {}, {}, throttle);
  e.start();
  auto from = [](std::string user, int64_t uid, std::string nonce, Outcome o) {
    ReportRequest r = alice_report(std::move(nonce), o);
    r.key = "uid:" + std::to_string(uid);
    r.uid = uid;
    r.name = std::move(user);
    r.source = "203.0.113.9";
    r.rhost = "203.0.113.9";
    return r;
  };
  for (int i = 0; i < 2; ++i) {
    std::promise<ReportResult> p;
    e.report(from("u" + std::to_string(i), 2000 + i, "n", Outcome::kFailure),
             [&](ReportResult res) { p.set_value(std::move(res)); });
    p.get_future().get();
  }
  auto r = refused_while_failing(e, flaky_, from("alice", 1001, "x", Outcome::kSuccess));
  EXPECT_TRUE(r.throttled);
  EXPECT_FALSE(r.status.ok());
  e.stop();
}

TEST_F(RefusalTiming, RuleDenialWaitsForTheCommit) {
  DevicesConfig devices;
  Rule deny;
  deny.users = {"alice"};
  deny.action = RuleAction::kDeny;
  deny.line = 7;
  devices.rules.push_back(deny);
  Engine e(flaky_store(), clock_, cfg_, nullptr, {}, devices);
  e.start();
  auto r = refused_while_failing(e, flaky_, alice_report("x", Outcome::kSuccess));
  EXPECT_EQ(r.denied_by_rule, 7);
  EXPECT_FALSE(r.status.ok());
  e.stop();
}

TEST_F(RefusalTiming, AVerifyWithoutAChallengeWaitsForTheCommit) {
  Engine e(flaky_store(), clock_, cfg_);
  e.start();
  flaky_->fail_commits = true;
  std::promise<VerifyResult> p;
  e.verify(VerifyRequest{"uid:1001", 1001, "alice", "no-such-call", "", true},
           [&](VerifyResult r) { p.set_value(std::move(r)); });
  auto r = p.get_future().get();
  flaky_->fail_commits = false;
  EXPECT_FALSE(r.allow);
  EXPECT_FALSE(r.status.ok());
  e.stop();
}

// A flood of reports forgets the oldest calls first, never every call at
// once: a call in progress of someone else keeps its single count.
TEST_F(EngineTest, ANonceFloodForgetsTheOldestNotEveryone) {
  Engine e(open_store(), clock_, cfg_);
  e.start();
  auto flood = [&](int from, int n) {
    std::vector<std::promise<ReportResult>> proms(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      ReportRequest r = alice_report("flood-" + std::to_string(from + i), Outcome::kFailure);
      r.key = "name:flooder";
      r.uid.reset();
      r.name.clear();
      e.report(r, [&, i](ReportResult res) { proms[static_cast<size_t>(i)].set_value(std::move(res)); });
    }
    for (auto& p : proms) p.get_future().get();
  };
  const int half = static_cast<int>(Engine::kNonceMax * 3 / 5);
  flood(0, half);
  EXPECT_TRUE(report_sync(e, Outcome::kFailure, "alice-call").decision.counted);
  flood(half, half);
  auto again = report_sync(e, Outcome::kFailure, "alice-call");
  EXPECT_TRUE(again.duplicate) << "alice's call was forgotten by someone else's flood";
  EXPECT_EQ(again.state.failures.size(), 1u);
  e.stop();
}

// A token's check consults its owner's block, and tokens are reconciled with
// the blocks at load: a database where a blocked owner's token is still
// active (restored from a backup) never lets that token pass.
TEST_F(EngineTest, TokensAgreeWithBlocks) {
  std::string secret;
  Bytes hash;
  {
    Engine e(open_store(), clock_, cfg_);
    e.start();
    std::promise<TokenIssueResult> p;
    TokenIssueRequest req;
    req.owner_uid = 1001;
    req.owner = "alice";
    req.name = "svc";
    req.scopes = {"reports"};
    e.token_issue(req, [&](TokenIssueResult r) { p.set_value(std::move(r)); });
    auto issued = p.get_future().get();
    ASSERT_TRUE(issued.status.ok());
    secret = issued.secret;
    hash = tokens::hash_token(secret);
    e.stop();
  }
  {  // The block lands without its token change (as from an older backup).
    auto s = open_store();
    ASSERT_TRUE(s->begin().ok());
    ASSERT_TRUE(s->put_block(1001, BlockRecord{"restored", clock_.now(), "test", "{}"}).ok());
    ASSERT_TRUE(s->commit().ok());
  }
  auto engine = std::make_unique<Engine>(open_store(), clock_, cfg_);
  Engine& e = *engine;
  e.start();
  std::promise<TokenCheckResult> p;
  e.token_check(hash, "reports", [&](TokenCheckResult r) { p.set_value(std::move(r)); });
  EXPECT_EQ(p.get_future().get().verdict, tokens::Verdict::kSuspended);
  e.stop();
  engine.reset();  // closes the store: it holds SQLite's lock while open
  // ...and the suspension was written.
  auto listed = open_store()->list_tokens();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].state, tokens::State::kSuspended);
}

}  // namespace
}  // namespace vigil
