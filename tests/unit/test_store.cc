#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <vector>

#include "daemon/store/sqlite_statement.h"
#include "daemon/store/sqlite_store.h"
#include "daemon/os/state_dir.h"

namespace vigil {
namespace {

namespace fs = std::filesystem;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vigil-store-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    db_ = dir_ + "/vigil.db";
  }
  void TearDown() override { fs::remove_all(dir_); }

  BucketRecord sample() {
    BucketRecord r;
    r.key = "uid:1001";
    r.uid = 1001;
    r.name = "alice";
    r.state.failures = {from_epoch(100), from_epoch(200)};
    r.state.locked_until = from_epoch(900);
    r.state.lock_count = 2;
    r.state.refused = 7;
    r.state.last_failure = from_epoch(200);
    r.state.last_success = from_epoch(50);
    return r;
  }

  // Creates the database at the current schema, then adds bucket rows
  // written by hand (`values`: the VALUES list for key, uid, name, failures,
  // locked_until, lock_count, refused, last_failure, last_success,
  // updated_at), as another version or a damaged file would leave them.
  void insert_raw_buckets(const std::string& values) {
    {
      auto s = SqliteStore::open(db_);
      ASSERT_TRUE(s.ok()) << s.error().message;
    }
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(db_.c_str(), &db), SQLITE_OK);
    const std::string sql =
        "INSERT INTO buckets(key, uid, name, failures, locked_until, lock_count, refused,"
        " last_failure, last_success, updated_at) VALUES " + values;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }

  std::string dir_, db_;
};

TEST_F(StoreTest, WriteAndReadBack) {
  auto s = SqliteStore::open(db_);
  ASSERT_TRUE(s.ok()) << s.error().message;
  ASSERT_TRUE((*s)->begin().ok());
  ASSERT_TRUE((*s)->put(sample(), from_epoch(300), Unchanged{}).ok());
  ASSERT_TRUE((*s)->commit().ok());
  auto r = (*s)->load("uid:1001");
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->state, sample().state);
  EXPECT_EQ((*r)->name, "alice");
  EXPECT_EQ((*r)->uid, 1001);
  auto missing = (*s)->load("uid:42");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
}

// The failure log: newest first, kept across a reopen; a prune drops those
// older than its cutoff and each account's beyond the newest kFailuresKept.
TEST_F(StoreTest, FailureLogKeepsTheNewestOfEachAccount) {
  {
    auto s = SqliteStore::open(db_);
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->begin().ok());
    for (int i = 0; i < 40; ++i)
      ASSERT_TRUE((*s)->add_failure(FailureRecord{1001, from_epoch(1000 + i), "uid:1001", "198.51.100.7", "sshd"}).ok());
    ASSERT_TRUE((*s)->add_failure(FailureRecord{1002, from_epoch(100), "uid:1002:dev:tty:login@tty1", "", "login"}).ok());
    ASSERT_TRUE((*s)->add_failure(FailureRecord{1002, from_epoch(600), "uid:1002", "2001:db8::/64", "sshd"}).ok());
    ASSERT_TRUE((*s)->commit().ok());
  }
  auto s = SqliteStore::open(db_);
  ASSERT_TRUE(s.ok());
  auto bob = (*s)->failures_of(1002, 10);
  ASSERT_TRUE(bob.ok());
  ASSERT_EQ(bob->size(), 2u);
  EXPECT_EQ((*bob)[0].at, from_epoch(600)) << "newest first";
  EXPECT_EQ((*bob)[1].bucket, "uid:1002:dev:tty:login@tty1");
  EXPECT_EQ((*bob)[1].service, "login");
  EXPECT_EQ((*s)->failures_of(1001, 5)->size(), 5u) << "at most the limit";
  ASSERT_TRUE((*s)->prune(from_epoch(2000), from_epoch(500), 100, std::chrono::seconds(100)).ok());
  auto alice = (*s)->failures_of(1001, 100);
  ASSERT_EQ(alice->size(), static_cast<size_t>(Store::kFailuresKept));
  EXPECT_EQ(alice->back().at, from_epoch(1000 + 40 - Store::kFailuresKept)) << "the oldest went";
  bob = (*s)->failures_of(1002, 10);
  ASSERT_EQ(bob->size(), 1u) << "older than the cutoff";
  EXPECT_EQ((*bob)[0].source, "2001:db8::/64");
}

// The statement cache behind SqliteStore::prepare(): one statement per text,
// kept prepared; a nested lease of the same text gets one of its own; a
// released lease leaves nothing bound and no cursor open; beyond its capacity
// nothing more is kept.
TEST(StatementCache, LeasesOneStatementPerTextAndResetsIt) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(":memory:", &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE t(v INTEGER); INSERT INTO t VALUES(1),(2),(3);", nullptr, nullptr,
                         nullptr),
            SQLITE_OK);
  const char* const kAbove = "SELECT v FROM t WHERE v > ?1 ORDER BY v";
  {
    StatementCache cache(2);
    sqlite3_stmt* first = nullptr;
    {
      StatementLease a;
      ASSERT_EQ(cache.lease(db, kAbove, 0, a), SQLITE_OK);
      EXPECT_TRUE(a.cached());
      a->bind_int64(1, 1);
      ASSERT_EQ(a->step(), SQLITE_ROW);
      EXPECT_EQ(a->int64(0), 2);  // the cursor stays open on row 2
      first = sqlite3_next_stmt(db, nullptr);
      // Nested, the same text: a statement of its own, its own cursor.
      StatementLease b;
      ASSERT_EQ(cache.lease(db, kAbove, 0, b), SQLITE_OK);
      EXPECT_FALSE(b.cached());
      b->bind_int64(1, 0);
      ASSERT_EQ(b->step(), SQLITE_ROW);
      EXPECT_EQ(b->int64(0), 1);
      ASSERT_EQ(a->step(), SQLITE_ROW);
      EXPECT_EQ(a->int64(0), 3);
    }
    EXPECT_EQ(cache.size(), 1u);
    {
      // The kept one again: from its first row, with nothing bound (NULL:
      // "v > NULL" matches no row), and no statement left busy.
      StatementLease a;
      ASSERT_EQ(cache.lease(db, kAbove, 0, a), SQLITE_OK);
      EXPECT_TRUE(a.cached());
      EXPECT_EQ(sqlite3_next_stmt(db, nullptr), first);
      EXPECT_EQ(sqlite3_stmt_busy(first), 0);
      EXPECT_EQ(a->step(), SQLITE_DONE);
    }
    StatementLease c, d, e;
    ASSERT_EQ(cache.lease(db, "SELECT 1", 0, c), SQLITE_OK);
    ASSERT_EQ(cache.lease(db, "SELECT 2", 0, d), SQLITE_OK);
    EXPECT_TRUE(c.cached());
    EXPECT_FALSE(d.cached()) << "beyond the capacity of 2";
    EXPECT_EQ(cache.size(), 2u);
    // A statement that does not prepare: SQLite's code, nothing kept.
    EXPECT_NE(cache.lease(db, "SELECT FROM", 0, e), SQLITE_OK);
    EXPECT_EQ(cache.size(), 2u);
    c = StatementLease();
    d = StatementLease();
    cache.clear();
    EXPECT_EQ(sqlite3_next_stmt(db, nullptr), nullptr) << "clear() finalizes them all";
  }
  EXPECT_EQ(sqlite3_close(db), SQLITE_OK);
}

// The pages a transaction wrote: the frames of the -wal file from byte
// `from` on (each a 24-byte header, whose first 4 bytes are the page number,
// then the page).
std::vector<uint32_t> wal_pages(const std::string& wal, std::uintmax_t from) {
  std::ifstream f(wal, std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto be32 = [&](std::size_t at) {
    return (uint32_t(uint8_t(data[at])) << 24) | (uint32_t(uint8_t(data[at + 1])) << 16) |
           (uint32_t(uint8_t(data[at + 2])) << 8) | uint32_t(uint8_t(data[at + 3]));
  };
  std::vector<uint32_t> pages;
  if (data.size() < 32) return pages;
  const std::size_t frame = 24 + be32(8);
  for (std::size_t at = 32; at + frame <= data.size(); at += frame)
    if (at >= from) pages.push_back(be32(at));
  return pages;
}

// What each page of the database holds (SQLite's dbstat table).
std::map<uint32_t, std::string> page_owners(const std::string& db_path) {
  std::map<uint32_t, std::string> out;
  sqlite3* db = nullptr;
  if (sqlite3_open(db_path.c_str(), &db) != SQLITE_OK) return out;
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT name, pageno FROM dbstat", -1, &st, nullptr) == SQLITE_OK) {
    while (sqlite3_step(st) == SQLITE_ROW)
      out[uint32_t(sqlite3_column_int64(st, 1))] = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

// The tables and indexes that `pages` belong to, "?" for a page dbstat does
// not know. Opens the database file: only while no store holds it.
std::set<std::string> page_names(const std::string& db_path, const std::vector<uint32_t>& pages) {
  auto owners = page_owners(db_path);
  std::set<std::string> names;
  for (auto p : pages) names.insert(owners.count(p) ? owners[p] : "?");
  return names;
}

// Rewriting a bucket used to rewrite its entry in the buckets_uid index too,
// since the upsert set the uid every time: one page more in every failure's
// commit. A caller that knows the stored uid is the record's now says so,
// and the index is left alone.
TEST_F(StoreTest, BucketWritesTouchTheUidIndexOnlyWhenTheUidChanges) {
  std::vector<uint32_t> first, same, changed, cleared;
  {
    auto s = SqliteStore::open(db_);
    ASSERT_TRUE(s.ok()) << s.error().message;
    BucketRecord r = sample();
    auto write = [&](std::vector<uint32_t>* pages, bool uid_stored) {
      std::error_code ec;
      const auto from = fs::file_size(db_ + "-wal", ec);
      ASSERT_TRUE((*s)->begin().ok());
      ASSERT_TRUE((*s)->put(r, from_epoch(300), Unchanged{uid_stored, false}).ok());
      ASSERT_TRUE((*s)->commit().ok());
      *pages = wal_pages(db_ + "-wal", ec ? 0 : from);
    };
    write(&first, true);  // a new key gets its uid all the same
    r.state.refused = 8;  // the same uid
    write(&same, true);
    r.uid = 2002;
    write(&changed, false);
    r.uid.reset();  // the name no longer resolves
    write(&cleared, false);
  }
  auto names = [&](const std::vector<uint32_t>& pages) { return page_names(db_, pages); };
  ASSERT_FALSE(same.empty());
  EXPECT_TRUE(names(same).count("buckets"));
  EXPECT_FALSE(names(same).count("buckets_uid")) << "the uid index was rewritten with the same uid";
  EXPECT_TRUE(names(changed).count("buckets_uid"));
  EXPECT_TRUE(names(cleared).count("buckets_uid"));

  EXPECT_TRUE(names(first).count("buckets_uid")) << "a new key's uid was not indexed";

  // Each write holds: the uid where the index finds it, and the rest.
  auto s = SqliteStore::open(db_);
  ASSERT_TRUE(s.ok());
  auto back = (*s)->load("uid:1001");
  ASSERT_TRUE(back.ok() && back->has_value());
  EXPECT_FALSE((*back)->uid.has_value());
  EXPECT_EQ((*back)->state.refused, 8);
  auto of_old = (*s)->buckets_of(1001);
  auto of_new = (*s)->buckets_of(2002);
  ASSERT_TRUE(of_old.ok() && of_new.ok());
  EXPECT_TRUE(of_old->empty());
  EXPECT_TRUE(of_new->empty());
  ASSERT_TRUE((*s)->begin().ok());
  BucketRecord again = sample();
  again.uid = 2002;
  ASSERT_TRUE((*s)->put(again, from_epoch(400), Unchanged{}).ok());
  ASSERT_TRUE((*s)->commit().ok());
  of_new = (*s)->buckets_of(2002);
  ASSERT_TRUE(of_new.ok());
  ASSERT_EQ(of_new->size(), 1u);
  EXPECT_EQ((*of_new)[0].key, "uid:1001");
}

TEST_F(StoreTest, SurvivesReopen) {
  {
    auto s = SqliteStore::open(db_);
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->begin(true).ok());
    ASSERT_TRUE((*s)->put(sample(), from_epoch(300), Unchanged{}).ok());
    ASSERT_TRUE((*s)->commit().ok());
  }
  auto s = SqliteStore::open(db_);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->schema_version(), SqliteStore::kSchemaVersion);
  auto r = (*s)->load("uid:1001");
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ((*r)->state, sample().state);
}

// The open store keeps SQLite's lock: no other connection reads the file
// meanwhile, and the WAL's index lives in the store's memory (no -shm file).
// Closed, the file is anyone's again, with every commit in it.
TEST_F(StoreTest, HoldsTheFileWhileOpen) {
  auto s = SqliteStore::open(db_);
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->begin().ok());
  ASSERT_TRUE((*s)->put(sample(), from_epoch(300), Unchanged{}).ok());
  ASSERT_TRUE((*s)->commit().ok());
  EXPECT_FALSE(fs::exists(db_ + "-shm"));
  auto count = [&] {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(db_.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    int rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM buckets", -1, &st, nullptr);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    int n = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -rc;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
  };
  EXPECT_EQ(count(), -SQLITE_BUSY);
  s->reset();
  EXPECT_EQ(count(), 1);
}

TEST_F(StoreTest, FullSyncAppliesToItsTransactionOnly) {
  auto s = SqliteStore::open(db_);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*(*s)->synchronous_level(), 1);  // NORMAL
  ASSERT_TRUE((*s)->begin(true).ok());
  EXPECT_EQ(*(*s)->synchronous_level(), 2);  // FULL while the transaction is open
  ASSERT_TRUE((*s)->put(sample(), from_epoch(300), Unchanged{}).ok());
  ASSERT_TRUE((*s)->commit().ok());
  EXPECT_EQ(*(*s)->synchronous_level(), 1);
  ASSERT_TRUE((*s)->begin(true).ok());
  (*s)->rollback();
  EXPECT_EQ(*(*s)->synchronous_level(), 1);
}

TEST_F(StoreTest, RolledBackWritesAreGone) {
  auto s = SqliteStore::open(db_);
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->begin().ok());
  ASSERT_TRUE((*s)->put(sample(), from_epoch(300), Unchanged{}).ok());
  (*s)->rollback();
  auto r = (*s)->load("uid:1001");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
}

TEST_F(StoreTest, FileIsPrivateAndWal) {
  auto s = SqliteStore::open(db_);
  ASSERT_TRUE(s.ok());
  struct stat st {};
  ASSERT_EQ(stat(db_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_TRUE((*s)->begin().ok());
  ASSERT_TRUE((*s)->put(sample(), from_epoch(1), Unchanged{}).ok());
  ASSERT_TRUE((*s)->commit().ok());
  EXPECT_TRUE(fs::exists(db_ + "-wal"));
}

// Failure lists are stored compactly (varint differences), so that a long
// list under a storm stays in its row's page.
TEST_F(StoreTest, FailureListsRoundTripCompactly) {
  auto s = SqliteStore::open(db_);
  ASSERT_TRUE(s.ok()) << s.error().message;
  BucketRecord r = sample();
  r.state.failures.clear();
  // 1000 failures within a few seconds, as deny=1000 under a storm.
  for (int i = 0; i < 1000; ++i) r.state.failures.push_back(from_epoch(1'790'000'000 + i / 300));
  TotpRecord t;
  t.uid = 1001;
  // Out of order (a clock stepped back), zero, negative and far times.
  t.otp_failures = {from_epoch(5),       from_epoch(0), from_epoch(-7), from_epoch(1LL << 40),
                    from_epoch(LLONG_MIN), from_epoch(LLONG_MAX), from_epoch(3)};
  ASSERT_TRUE((*s)->begin().ok());
  ASSERT_TRUE((*s)->put(r, from_epoch(1), Unchanged{}).ok());
  ASSERT_TRUE((*s)->put_totp(t).ok());
  ASSERT_TRUE((*s)->commit().ok());
  auto back = (*s)->load(r.key);
  ASSERT_TRUE(back.ok() && back->has_value());
  EXPECT_EQ((*back)->state.failures, r.state.failures);
  auto tb = (*s)->load_totp(1001);
  ASSERT_TRUE(tb.ok() && tb->has_value());
  EXPECT_EQ((*tb)->otp_failures, t.otp_failures);
  // An empty list is an empty value, not NULL (the column is NOT NULL).
  r.state.failures.clear();
  ASSERT_TRUE((*s)->begin().ok());
  ASSERT_TRUE((*s)->put(r, from_epoch(2), Unchanged{}).ok());
  ASSERT_TRUE((*s)->commit().ok());
  back = (*s)->load(r.key);
  ASSERT_TRUE(back.ok() && back->has_value());
  EXPECT_TRUE((*back)->state.failures.empty());
  // The 1000-entry list took about a byte per failure.
  r.state.failures.assign(1000, from_epoch(1'790'000'000));
  ASSERT_TRUE((*s)->begin().ok());
  ASSERT_TRUE((*s)->put(r, from_epoch(3), Unchanged{}).ok());
  ASSERT_TRUE((*s)->commit().ok());
  s->reset();  // the store holds SQLite's lock while open
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT typeof(failures), length(failures) FROM buckets WHERE key='uid:1001'",
                               -1, &st, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "blob");
  EXPECT_LE(sqlite3_column_int(st, 1), 1010);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

// A damaged list (bytes that are no valid varint sequence, or differences
// that add up past 64 bits) is read as far as it goes, without failing.
TEST_F(StoreTest, DamagedFailureListsAreReadSafely) {
  // uid:8: two huge differences, then a truncated varint. uid:9: eleven
  // continuation bytes (longer than any 64-bit varint).
  insert_raw_buckets("('uid:8', 8, 'h', x'feffffffffffffffff01feffffffffffffffff0180', 0, 0, 0, 0, 0, 0),"
                     " ('uid:9', 9, 'i', x'ffffffffffffffffffffff', 0, 0, 0, 0, 0, 0)");
  auto s = SqliteStore::open(db_);
  ASSERT_TRUE(s.ok()) << s.error().message;
  auto r8 = (*s)->load("uid:8");
  ASSERT_TRUE(r8.ok() && r8->has_value());
  EXPECT_EQ((*r8)->state.failures.size(), 2u) << "the truncated last one is dropped";
  auto r9 = (*s)->load("uid:9");
  ASSERT_TRUE(r9.ok() && r9->has_value());
  EXPECT_TRUE((*r9)->state.failures.empty()) << "no complete varint: no failure";
}

// Databases written before the compact form hold failures as decimal text:
// they are read as they are, and rewritten compactly by the next write.
TEST_F(StoreTest, ReadsFailuresStoredAsText) {
  insert_raw_buckets("('uid:7', 7, 'dan', '100 200 300', 0, 0, 0, 300, 0, 300)");
  auto s = SqliteStore::open(db_);
  ASSERT_TRUE(s.ok()) << s.error().message;
  auto r = (*s)->load("uid:7");
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ((*r)->state.failures,
            (std::vector<TimePoint>{from_epoch(100), from_epoch(200), from_epoch(300)}));
  (*r)->state.failures.push_back(from_epoch(400));
  ASSERT_TRUE((*s)->begin().ok());
  ASSERT_TRUE((*s)->put(**r, from_epoch(400), Unchanged{}).ok());
  ASSERT_TRUE((*s)->commit().ok());
  auto again = (*s)->load("uid:7");
  ASSERT_TRUE(again.ok() && again->has_value());
  EXPECT_EQ((*again)->state.failures.size(), 4u);
  EXPECT_EQ((*again)->state.failures.back(), from_epoch(400));
}

TEST_F(StoreTest, MigratesSchema1KeepingBuckets) {
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(db_.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "CREATE TABLE buckets(key TEXT PRIMARY KEY, uid INTEGER, name TEXT,"
                           " failures TEXT NOT NULL, locked_until INTEGER NOT NULL,"
                           " lock_count INTEGER NOT NULL, refused INTEGER NOT NULL,"
                           " last_failure INTEGER NOT NULL, last_success INTEGER NOT NULL,"
                           " updated_at INTEGER NOT NULL) WITHOUT ROWID;"
                           "INSERT INTO buckets VALUES('uid:5',5,'eve','100',900,1,0,100,0,100);"
                           "PRAGMA user_version=1;",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  auto s = SqliteStore::open(db_);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ((*s)->schema_version(), SqliteStore::kSchemaVersion);
  auto r = (*s)->load("uid:5");
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ((*r)->state.locked_until, from_epoch(900));
  EXPECT_EQ((*r)->state.failures, std::vector<TimePoint>{from_epoch(100)});
  auto t = (*s)->load_totp(5);
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE(t->has_value());
}

TEST_F(StoreTest, TotpAndRecoveryCodesRoundTrip) {
  auto s = SqliteStore::open(db_);
  ASSERT_TRUE(s.ok());
  TotpRecord r;
  r.uid = 9;
  r.active_box = {1, 2, 3};
  r.last_step = 42;
  r.otp_failures = {from_epoch(7)};
  ASSERT_TRUE((*s)->begin().ok());
  ASSERT_TRUE((*s)->put_totp(r).ok());
  ASSERT_TRUE((*s)->replace_recovery_codes(9, {{"AAAAA", {5}}, {"BBBBB", {6}}}).ok());
  ASSERT_TRUE((*s)->commit().ok());
  auto back = (*s)->load_totp(9);
  ASSERT_TRUE(back.ok() && back->has_value());
  EXPECT_EQ((*back)->active_box, r.active_box);
  EXPECT_EQ((*back)->last_step, 42);
  EXPECT_EQ((*back)->otp_failures, r.otp_failures);
  EXPECT_EQ(*(*s)->count_totp_secrets(), 1);
  EXPECT_EQ(*(*s)->count_recovery_codes(9), 2);
  auto code = (*s)->load_recovery_code(9, "BBBBB");
  ASSERT_TRUE(code.ok() && code->has_value());
  EXPECT_EQ(**code, Bytes{6});
  ASSERT_TRUE((*s)->begin().ok());
  ASSERT_TRUE((*s)->erase_recovery_code(9, "BBBBB").ok());
  ASSERT_TRUE((*s)->erase_totp(9).ok());
  ASSERT_TRUE((*s)->commit().ok());
  EXPECT_EQ(*(*s)->count_recovery_codes(9), 1);
  EXPECT_EQ(*(*s)->count_totp_secrets(), 0);
}

TEST_F(StoreTest, RecoveryRequestsBlocksAndHistoryRoundTrip) {
  auto s = SqliteStore::open(db_);
  ASSERT_TRUE(s.ok());
  RecoveryRecord a{"R-aaaaaa", RecoveryRecord::Kind::kApproval, 1002, "bob", 1001, "alice",
                   "lost phone", from_epoch(100), from_epoch(200)};
  RecoveryRecord q{"R-bbbbbb", RecoveryRecord::Kind::kRequest, 1002, "bob", 1003, "carol",
                   "cannot log in", from_epoch(150), from_epoch(900)};
  RecoveryRecord other{"R-cccccc", RecoveryRecord::Kind::kRequest, 1004, "dave", 1003, "carol",
                       "x", from_epoch(160), from_epoch(900)};
  ASSERT_TRUE((*s)->begin(true).ok());
  for (const auto& r : {a, q, other}) ASSERT_TRUE((*s)->put_recovery(r).ok());
  ASSERT_TRUE((*s)->put_block(1002, BlockRecord{"why", from_epoch(90), "vigild", "{}"}).ok());
  ASSERT_TRUE((*s)->add_history(HistoryRecord{0, from_epoch(300), "break-glass", 1002, "bob",
                                              "root on the console", "all blocked", false})
                  .ok());
  ASSERT_TRUE((*s)->commit().ok());
  auto list = (*s)->list_recovery();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].id, "R-aaaaaa");
  EXPECT_EQ((*list)[0].kind, RecoveryRecord::Kind::kApproval);
  EXPECT_EQ((*list)[0].requester, "alice");
  EXPECT_EQ((*list)[0].expires, from_epoch(200));
  EXPECT_EQ((*list)[1].kind, RecoveryRecord::Kind::kRequest);
  auto blocks = (*s)->list_blocks();
  ASSERT_TRUE(blocks.ok());
  ASSERT_EQ(blocks->size(), 1u);
  EXPECT_EQ((*blocks)[0].first, 1002);

  // An unblock closes every request for that account, and only those.
  ASSERT_TRUE((*s)->begin().ok());
  ASSERT_TRUE((*s)->erase_recovery_for(1002).ok());
  ASSERT_TRUE((*s)->commit().ok());
  list = (*s)->list_recovery();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].id, "R-cccccc");

  auto h = (*s)->unreported_history();
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h->size(), 1u);
  EXPECT_EQ((*h)[0].name, "bob");
  EXPECT_EQ((*h)[0].reason, "all blocked");
  ASSERT_TRUE((*s)->begin().ok());
  ASSERT_TRUE((*s)->mark_history_reported((*h)[0].id).ok());
  ASSERT_TRUE((*s)->commit().ok());
  EXPECT_TRUE((*s)->unreported_history()->empty());
}

TEST_F(StoreTest, RefusesNewerSchema) {
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(db_.c_str(), &db), SQLITE_OK);
    sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr);
    sqlite3_close(db);
  }
  auto s = SqliteStore::open(db_);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("newer"), std::string::npos);
}

TEST_F(StoreTest, PruneDropsIdleOldBucketsAndCapsUnknownNames) {
  auto s = SqliteStore::open(db_);
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->begin().ok());
  BucketRecord idle;
  idle.key = "uid:7";
  idle.uid = 7;
  idle.name = "idle";
  ASSERT_TRUE((*s)->put(idle, from_epoch(10), Unchanged{}).ok());
  BucketRecord locked = sample();
  locked.state.locked_until = from_epoch(10'000);
  ASSERT_TRUE((*s)->put(locked, from_epoch(10), Unchanged{}).ok());
  for (int i = 0; i < 5; ++i) {
    BucketRecord u;
    u.key = "name:" + std::to_string(i);
    u.state.failures = {from_epoch(900 + i)};
    ASSERT_TRUE((*s)->put(u, from_epoch(900 + i), Unchanged{}).ok());
  }
  ASSERT_TRUE((*s)->commit().ok());
  auto n = (*s)->prune(from_epoch(1000), from_epoch(500), 2, std::chrono::seconds(100));
  ASSERT_TRUE(n.ok()) << n.error().message;
  EXPECT_EQ(*n, 4);  // the idle account, and 3 of the 5 unknown names
  EXPECT_FALSE((*s)->load("uid:7")->has_value());
  EXPECT_TRUE((*s)->load("uid:1001")->has_value());
  EXPECT_TRUE((*s)->load("name:4")->has_value());
  EXPECT_TRUE((*s)->load("name:3")->has_value());
  EXPECT_FALSE((*s)->load("name:0")->has_value());
  auto locked_count = (*s)->count_locked(from_epoch(1000));
  ASSERT_TRUE(locked_count.ok());
  EXPECT_EQ(*locked_count, 1);
}

// A bucket's updated_at is left as it is while it is less than
// Store::kUpdatedLag old (Unchanged::updated), so its index page is not
// rewritten at every write; the prune allows for that lag, and never drops a
// bucket whose last write is after the cutoff.
TEST_F(StoreTest, AnUpdatedAtLeftAsItIsNeverPrunesEarly) {
  BucketRecord idle;
  idle.key = "uid:7";
  idle.uid = 7;
  idle.name = "idle";
  std::vector<uint32_t> pages;
  {
    auto s = SqliteStore::open(db_);
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->begin().ok());
    ASSERT_TRUE((*s)->put(idle, from_epoch(1000), Unchanged{}).ok());
    ASSERT_TRUE((*s)->commit().ok());
    std::error_code ec;
    const auto from = fs::file_size(db_ + "-wal", ec);
    ASSERT_TRUE((*s)->begin().ok());
    idle.state.refused = 1;  // written at 1050; updated_at stays 1000
    ASSERT_TRUE((*s)->put(idle, from_epoch(1050), Unchanged{true, true}).ok());
    ASSERT_TRUE((*s)->commit().ok());
    pages = wal_pages(db_ + "-wal", ec ? 0 : from);
  }
  const auto names = page_names(db_, pages);
  EXPECT_TRUE(names.count("buckets"));
  EXPECT_FALSE(names.count("buckets_updated")) << "updated_at's index was rewritten";
  EXPECT_FALSE(names.count("buckets_uid"));

  auto s = SqliteStore::open(db_);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*(*s)->load("uid:7"))->state.refused, 1);
  // Its last write (1050) is after the cutoff: kept.
  auto n = (*s)->prune(from_epoch(5000), from_epoch(1040), 100, std::chrono::seconds(1));
  ASSERT_TRUE(n.ok()) << n.error().message;
  EXPECT_EQ(*n, 0);
  EXPECT_TRUE((*s)->load("uid:7")->has_value());
  // A cutoff a lag after the updated_at on record is after every write.
  n = (*s)->prune(from_epoch(5000), from_epoch(1000) + Store::kUpdatedLag + std::chrono::seconds(1), 100,
                  std::chrono::seconds(1));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1);
  EXPECT_FALSE((*s)->load("uid:7")->has_value());
}

// The cap on buckets without an account never drops an active ban or lock,
// and a lock count is kept until it has fully decayed (issue #15: bans do
// not erode).
TEST_F(StoreTest, PruneNeverDropsAnActiveBanOrAnUndecayedLockCount) {
  auto s = SqliteStore::open(db_);
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->begin().ok());
  for (int i = 0; i < 6; ++i) {  // six banned sources, older than any name below
    BucketRecord b;
    b.key = "src:198.51.100." + std::to_string(i);
    b.state.locked_until = from_epoch(5000);
    b.state.lock_count = 1;
    b.state.last_failure = from_epoch(100);
    ASSERT_TRUE((*s)->put(b, from_epoch(100 + i), Unchanged{}).ok());
  }
  for (int i = 0; i < 5; ++i) {  // a flood of unknown names, newer
    BucketRecord u;
    u.key = "name:" + std::to_string(i);
    u.state.failures = {from_epoch(900 + i)};
    ASSERT_TRUE((*s)->put(u, from_epoch(900 + i), Unchanged{}).ok());
  }
  BucketRecord decaying;  // 3 locks, last failure at 100: gone by 100 + 4 * 100
  decaying.key = "uid:9";
  decaying.uid = 9;
  decaying.name = "dora";
  decaying.state.lock_count = 3;
  decaying.state.last_failure = from_epoch(100);
  ASSERT_TRUE((*s)->put(decaying, from_epoch(100), Unchanged{}).ok());
  ASSERT_TRUE((*s)->commit().ok());
  // Cap 2: the names go (3 of 5), every ban stays.
  auto n = (*s)->prune(from_epoch(400), from_epoch(300), 2, std::chrono::seconds(100));
  ASSERT_TRUE(n.ok()) << n.error().message;
  for (int i = 0; i < 6; ++i) EXPECT_TRUE((*s)->load("src:198.51.100." + std::to_string(i))->has_value()) << i;
  EXPECT_TRUE((*s)->load("uid:9")->has_value()) << "3 locks have not decayed by 400";
  EXPECT_FALSE((*s)->load("name:0")->has_value());
  EXPECT_TRUE((*s)->load("name:4")->has_value());
  n = (*s)->prune(from_epoch(501), from_epoch(300), 2, std::chrono::seconds(100));
  ASSERT_TRUE(n.ok());
  EXPECT_FALSE((*s)->load("uid:9")->has_value()) << "fully decayed by 500";
}

// An attack's state is pruned when it expires, and the file shrinks back.
TEST_F(StoreTest, PruneGivesSpaceBack) {
  auto s = SqliteStore::open(db_);
  ASSERT_TRUE(s.ok()) << s.error().message;
  auto file_size = [&] {
    std::error_code ec;
    auto wal = fs::file_size(db_ + "-wal", ec);
    return fs::file_size(db_) + (ec ? 0 : wal);
  };
  const auto empty = file_size();
  ASSERT_TRUE((*s)->begin().ok());
  for (int i = 0; i < 20000; ++i) {
    BucketRecord u;
    u.key = "src:198.51." + std::to_string(i / 250) + "." + std::to_string(i % 250);
    u.state.failures = {from_epoch(100), from_epoch(101), from_epoch(102)};
    u.state.last_failure = from_epoch(102);
    ASSERT_TRUE((*s)->put(u, from_epoch(102), Unchanged{}).ok());
  }
  ASSERT_TRUE((*s)->commit().ok());
  const auto full = file_size();
  ASSERT_GT(full, empty + 1'000'000);
  auto n = (*s)->prune(from_epoch(10'000), from_epoch(5'000), 100, std::chrono::seconds(100));
  ASSERT_TRUE(n.ok()) << n.error().message;
  EXPECT_EQ(*n, 20000);
  EXPECT_LT(file_size(), full / 4) << "empty " << empty << ", full " << full;
}

// A database made before auto_vacuum was set is rebuilt once, keeping its rows.
TEST_F(StoreTest, OlderDatabaseGetsIncrementalVacuum) {
  {
    auto s = SqliteStore::open(db_);
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->begin().ok());
    ASSERT_TRUE((*s)->put(sample(), from_epoch(300), Unchanged{}).ok());
    ASSERT_TRUE((*s)->commit().ok());
  }
  auto av = [&] {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(db_.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "PRAGMA auto_vacuum", -1, &st, nullptr);
    int v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
  };
  ASSERT_EQ(av(), 2);
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(db_.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "PRAGMA auto_vacuum=NONE; VACUUM;", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  ASSERT_EQ(av(), 0);
  auto s = SqliteStore::open(db_);
  ASSERT_TRUE(s.ok()) << s.error().message;
  auto r = (*s)->load("uid:1001");
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ((*r)->state, sample().state);
  s->reset();  // the store holds SQLite's lock while open
  EXPECT_EQ(av(), 2);
}

TEST_F(StoreTest, StateDirLockIsExclusive) {
  auto a = StateDir::open(dir_ + "/state");
  ASSERT_TRUE(a.ok()) << a.error().message;
  auto b = StateDir::open(dir_ + "/state");
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.error().message.find("in use"), std::string::npos);
  struct stat st {};
  ASSERT_EQ(stat((dir_ + "/state").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST_F(StoreTest, StateDirRefusesWorldWritable) {
  std::string p = dir_ + "/open";
  ASSERT_EQ(mkdir(p.c_str(), 0777), 0);
  ASSERT_EQ(chmod(p.c_str(), 0777), 0);
  auto a = StateDir::open(p);
  ASSERT_FALSE(a.ok());
}

TEST_F(StoreTest, NameKeyIsStable) {
  std::array<uint8_t, 32> k1{}, k2{};
  {
    auto d = StateDir::open(dir_ + "/state");
    ASSERT_TRUE(d.ok());
    auto k = d->name_key();
    ASSERT_TRUE(k.ok());
    k1 = *k;
  }
  auto d = StateDir::open(dir_ + "/state");
  ASSERT_TRUE(d.ok());
  auto k = d->name_key();
  ASSERT_TRUE(k.ok());
  k2 = *k;
  EXPECT_EQ(k1, k2);
  struct stat st {};
  ASSERT_EQ(stat((dir_ + "/state/names.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

}  // namespace
}  // namespace vigil
