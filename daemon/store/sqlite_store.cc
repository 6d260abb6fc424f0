#include "daemon/store/sqlite_store.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace vigil {
namespace {

// Schema steps: kMigrations[i] takes version i to version i+1.
const char* const kMigrations[] = {
    // 0 -> 1
    "CREATE TABLE buckets("
    "  key TEXT PRIMARY KEY,"
    "  uid INTEGER,"
    "  name TEXT,"
    "  failures TEXT NOT NULL,"
    "  locked_until INTEGER NOT NULL,"
    "  lock_count INTEGER NOT NULL,"
    "  refused INTEGER NOT NULL,"
    "  last_failure INTEGER NOT NULL,"
    "  last_success INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE INDEX buckets_uid ON buckets(uid) WHERE uid IS NOT NULL;"
    "CREATE INDEX buckets_updated ON buckets(updated_at);",
    // 1 -> 2: the second factor
    "CREATE TABLE totp("
    "  uid INTEGER PRIMARY KEY,"
    "  active_box BLOB,"
    "  pending_box BLOB,"
    "  pending_at INTEGER NOT NULL DEFAULT 0,"
    "  last_step INTEGER NOT NULL DEFAULT 0,"
    "  confirmed_at INTEGER NOT NULL DEFAULT 0,"
    "  otp_failures TEXT NOT NULL DEFAULT '',"
    "  required_since INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE TABLE recovery_codes("
    "  uid INTEGER NOT NULL,"
    "  code_id TEXT NOT NULL,"
    "  hash BLOB NOT NULL,"
    "  PRIMARY KEY(uid, code_id)"
    ") WITHOUT ROWID;",
    // 2 -> 3: known devices
    "CREATE TABLE devices("
    "  uid INTEGER NOT NULL,"
    "  device TEXT NOT NULL,"
    "  first_seen INTEGER NOT NULL,"
    "  last_seen INTEGER NOT NULL,"
    "  PRIMARY KEY(uid, device)"
    ") WITHOUT ROWID;",
    // 3 -> 4: blocks, and the sources of recent failures
    "CREATE TABLE blocks("
    "  uid INTEGER PRIMARY KEY,"
    "  reason TEXT NOT NULL,"
    "  since INTEGER NOT NULL,"
    "  by TEXT NOT NULL,"
    "  details TEXT NOT NULL"
    ");"
    "ALTER TABLE buckets ADD COLUMN sources TEXT NOT NULL DEFAULT '';",
    // 4 -> 5: recovery requests, pending approvals, and history
    "CREATE TABLE recovery("
    "  id TEXT PRIMARY KEY,"
    "  kind TEXT NOT NULL,"
    "  uid INTEGER NOT NULL,"
    "  name TEXT NOT NULL,"
    "  requester_uid INTEGER NOT NULL,"
    "  requester TEXT NOT NULL,"
    "  reason TEXT NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  expires INTEGER NOT NULL"
    ");"
    "CREATE TABLE history("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  at INTEGER NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  uid INTEGER NOT NULL,"
    "  name TEXT NOT NULL,"
    "  by TEXT NOT NULL,"
    "  reason TEXT NOT NULL,"
    "  reported INTEGER NOT NULL DEFAULT 0"
    ");",
    // 5 -> 6: API tokens (hashes only), the freeze, the revocation outbox
    "CREATE TABLE tokens("
    "  accessor TEXT PRIMARY KEY,"
    "  hash BLOB NOT NULL UNIQUE,"
    "  owner_uid INTEGER NOT NULL,"
    "  owner TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  scopes TEXT NOT NULL,"
    "  created_by_uid INTEGER NOT NULL,"
    "  created_by TEXT NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  expires INTEGER NOT NULL,"
    "  state TEXT NOT NULL,"
    "  state_reason TEXT NOT NULL DEFAULT '',"
    "  state_changed INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE TABLE token_freeze("
    "  uid INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  since INTEGER NOT NULL,"
    "  reason TEXT NOT NULL"
    ");"
    "CREATE TABLE outbox("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  payload TEXT NOT NULL,"
    "  done_hooks TEXT NOT NULL DEFAULT '',"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_at INTEGER NOT NULL,"
    "  created INTEGER NOT NULL"
    ");",
    // 6 -> 7: failure lists (buckets.failures, totp.otp_failures) are written
    // as BLOBs of varints; rows in decimal text are still read, and converted
    // by their next write. No table changes: the version only makes an older
    // vigild refuse the database instead of reading the BLOBs as empty lists.
    "SELECT 1;",
    // 7 -> 8: the password change a recovery requires; login sessions (per
    // boot, so a restart keeps sudo's device); the escalation count (locks
    // in a row since the account's last trusted success).
    "CREATE TABLE password_change("
    "  uid INTEGER PRIMARY KEY,"
    "  since INTEGER NOT NULL,"
    "  by TEXT NOT NULL,"
    "  reason TEXT NOT NULL"
    ");"
    "CREATE TABLE sessions("
    "  boot TEXT NOT NULL,"
    "  id INTEGER NOT NULL,"
    "  uid INTEGER NOT NULL,"
    "  device TEXT NOT NULL,"
    "  at INTEGER NOT NULL,"
    "  PRIMARY KEY(boot, id)"
    ") WITHOUT ROWID;"
    "ALTER TABLE buckets ADD COLUMN escalation INTEGER NOT NULL DEFAULT 0;",
};
static_assert(std::size(kMigrations) == SqliteStore::kSchemaVersion);

// Failure times on disk: a BLOB of varints (LEB128, zigzag), the first the
// time in epoch seconds, each next one its difference from the one before.
// A storm's failures share their seconds, so the longest list (deny=1000)
// takes about a kilobyte and stays in its row's page; as decimal text it
// took eleven and spilled onto overflow pages, all rewritten on each
// failure. Databases written before hold decimal text ("t1 t2 ..."): both
// are read, and the next write of the row converts it.
// Arithmetic on the differences is unsigned: it wraps instead of
// overflowing, and still round-trips every 64-bit time.
void put_varint(std::string& out, unsigned long long delta) {
  // Zigzag: small negative differences (a clock stepped back) stay short.
  auto u = (delta << 1) ^ (0ULL - (delta >> 63));
  do {
    unsigned char b = u & 0x7f;
    u >>= 7;
    out.push_back(static_cast<char>(u ? b | 0x80 : b));
  } while (u);
}

std::string encode_failures(const std::vector<TimePoint>& f) {
  std::string out;
  out.reserve(f.size() + 8);
  unsigned long long prev = 0;
  for (auto t : f) {
    const auto now = static_cast<unsigned long long>(to_epoch(t));
    put_varint(out, now - prev);
    prev = now;
  }
  return out;
}

std::vector<TimePoint> decode_failure_text(std::string_view s) {
  std::vector<TimePoint> out;
  while (!s.empty()) {
    auto sp = s.find(' ');
    auto tok = s.substr(0, sp);
    long long v = 0;
    auto [p, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), v);
    if (ec == std::errc() && p == tok.data() + tok.size()) out.push_back(from_epoch(v));
    if (sp == std::string_view::npos) break;
    s.remove_prefix(sp + 1);
  }
  return out;
}

// A truncated or overlong varint ends the list: what came before is kept.
std::vector<TimePoint> decode_failure_blob(std::string_view s) {
  std::vector<TimePoint> out;
  out.reserve(s.size());
  unsigned long long prev = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    unsigned long long u = 0;
    int shift = 0;
    bool done = false;
    while (i < s.size() && shift < 64) {
      auto b = static_cast<unsigned char>(s[i++]);
      u |= static_cast<unsigned long long>(b & 0x7f) << shift;
      shift += 7;
      if (!(b & 0x80)) {
        done = true;
        break;
      }
    }
    if (!done) break;
    prev += (u >> 1) ^ (0ULL - (u & 1));
    out.push_back(from_epoch(static_cast<long long>(prev)));
  }
  return out;
}

std::vector<TimePoint> column_failures(sqlite3_stmt* st, int col) {
  // The type first: SQLite leaves it undefined after a conversion.
  const int type = sqlite3_column_type(st, col);
  if (type != SQLITE_BLOB && type != SQLITE_TEXT) return {};
  const auto* p = static_cast<const char*>(sqlite3_column_blob(st, col));
  std::string_view v(p ? p : "", static_cast<std::size_t>(sqlite3_column_bytes(st, col)));
  return type == SQLITE_BLOB ? decode_failure_blob(v) : decode_failure_text(v);
}

void bind_failures(sqlite3_stmt* st, int col, const std::string& encoded) {
  // Never a null pointer: that would bind NULL, not an empty list.
  sqlite3_bind_blob(st, col, encoded.data(), static_cast<int>(encoded.size()), SQLITE_TRANSIENT);
}

// "epoch\tsource\n" per entry; sources never hold tabs or newlines.
std::string encode_sources(const std::vector<std::pair<std::string, TimePoint>>& v) {
  std::string out;
  for (const auto& [src, at] : v) {
    out += std::to_string(to_epoch(at));
    out += '\t';
    for (char c : src) out.push_back(c == '\t' || c == '\n' ? '?' : c);
    out += '\n';
  }
  return out;
}

std::vector<std::pair<std::string, TimePoint>> decode_sources(std::string_view s) {
  std::vector<std::pair<std::string, TimePoint>> out;
  while (!s.empty()) {
    auto nl = s.find('\n');
    auto line = s.substr(0, nl);
    s = nl == std::string_view::npos ? std::string_view{} : s.substr(nl + 1);
    auto tab = line.find('\t');
    if (tab == std::string_view::npos) continue;
    long long at = 0;
    std::from_chars(line.data(), line.data() + tab, at);
    out.emplace_back(std::string(line.substr(tab + 1)), from_epoch(at));
  }
  return out;
}

BucketRecord read_row(sqlite3_stmt* st) {
  BucketRecord r;
  r.key = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  if (sqlite3_column_type(st, 1) != SQLITE_NULL) r.uid = sqlite3_column_int64(st, 1);
  if (auto* n = sqlite3_column_text(st, 2)) r.name = reinterpret_cast<const char*>(n);
  r.state.failures = column_failures(st, 3);
  r.state.locked_until = from_epoch(sqlite3_column_int64(st, 4));
  r.state.lock_count = sqlite3_column_int(st, 5);
  r.state.refused = sqlite3_column_int64(st, 6);
  r.state.last_failure = from_epoch(sqlite3_column_int64(st, 7));
  r.state.last_success = from_epoch(sqlite3_column_int64(st, 8));
  auto* src = sqlite3_column_text(st, 9);
  r.state.sources = decode_sources(src ? reinterpret_cast<const char*>(src) : "");
  r.escalation = sqlite3_column_int(st, 10);
  return r;
}

constexpr char kColumns[] =
    "key, uid, name, failures, locked_until, lock_count, refused, last_failure, last_success, sources,"
    " escalation";



class StmtReset {
 public:
  explicit StmtReset(sqlite3_stmt* s) : s_(s) {}
  ~StmtReset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }

 private:
  sqlite3_stmt* s_;
};

}  // namespace

Error SqliteStore::sql_error(const std::string& what) const {
  return Error::Store(what + ": " + sqlite3_errmsg(db_));
}

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& path) {
  // Create the file ourselves so that it is 0600 from the first byte.
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Error::Store("cannot open " + path + ": " + std::strerror(errno));
  ::fchmod(fd, 0600);
  ::close(fd);

  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW,
                           nullptr);
  std::unique_ptr<SqliteStore> store(new SqliteStore(db));
  if (rc != SQLITE_OK) return store->sql_error("cannot open " + path);
  sqlite3_busy_timeout(db, 2000);
  sqlite3_extended_result_codes(db, 1);

  // Before WAL mode: on a new database that is the first write.
  if (auto s = store->enable_incremental_vacuum(); !s) return s.error();
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st, nullptr) != SQLITE_OK)
    return store->sql_error("journal_mode");
  rc = sqlite3_step(st);
  std::string mode = rc == SQLITE_ROW ? reinterpret_cast<const char*>(sqlite3_column_text(st, 0)) : "";
  sqlite3_finalize(st);
  if (mode != "wal") return Error::Store(path + ": cannot enable WAL mode");
  if (auto s = store->exec("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
                           " PRAGMA journal_size_limit=4194304;");
      !s)
    return s.error();
  if (auto s = store->migrate(); !s) return s.error();

  auto p1 = store->prepare(("SELECT " + std::string(kColumns) + " FROM buckets WHERE key=?1").c_str());
  if (!p1) return p1.error();
  store->load_ = *p1;
  auto p2 = store->prepare(
      "INSERT INTO buckets(key, uid, name, failures, locked_until, lock_count, refused,"
      " last_failure, last_success, updated_at, sources, escalation)"
      " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)"
      " ON CONFLICT(key) DO UPDATE SET uid=excluded.uid, name=excluded.name,"
      " failures=excluded.failures, locked_until=excluded.locked_until,"
      " lock_count=excluded.lock_count, refused=excluded.refused,"
      " last_failure=excluded.last_failure, last_success=excluded.last_success,"
      " updated_at=excluded.updated_at, sources=excluded.sources, escalation=excluded.escalation");
  if (!p2) return p2.error();
  store->put_ = *p2;
  auto p3 = store->prepare("DELETE FROM buckets WHERE key=?1");
  if (!p3) return p3.error();
  store->erase_ = *p3;
  return store;
}

SqliteStore::~SqliteStore() {
  if (in_txn_) rollback();
  sqlite3_finalize(load_);
  sqlite3_finalize(put_);
  sqlite3_finalize(erase_);
  sqlite3_close(db_);
}

Status SqliteStore::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    Error e = Error::Store(std::string(sql).substr(0, 40) + ": " + (err ? err : "?"));
    sqlite3_free(err);
    return e;
  }
  return Ok{};
}

Result<sqlite3_stmt*> SqliteStore::prepare(const char* sql) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, nullptr) != SQLITE_OK)
    return sql_error("prepare");
  return st;
}

Result<int64_t> SqliteStore::pragma_int(const char* sql) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_, sql, -1, &st, nullptr) != SQLITE_OK) return sql_error(sql);
  int rc = sqlite3_step(st);
  int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  sqlite3_finalize(st);
  if (v < 0) return sql_error(sql);
  return v;
}

// Freed pages can go back to the filesystem only with auto_vacuum set. A new
// database gets it before its first table; an older one is rebuilt once.
Status SqliteStore::enable_incremental_vacuum() {
  auto mode = pragma_int("PRAGMA auto_vacuum");
  if (!mode) return mode.error();
  if (*mode == 2) return Ok{};
  if (auto s = exec("PRAGMA auto_vacuum=INCREMENTAL"); !s) return s;
  mode = pragma_int("PRAGMA auto_vacuum");
  if (!mode) return mode.error();
  if (*mode == 2) return Ok{};  // a new database
  if (auto s = exec("VACUUM"); !s)
    return Error::Store("cannot rebuild the database for auto_vacuum: " + s.error().message);
  return Ok{};
}

Status SqliteStore::give_back_space() {
  auto free_pages = pragma_int("PRAGMA freelist_count");
  if (!free_pages) return free_pages.error();
  if (*free_pages < kGiveBackPages) return Ok{};
  if (auto s = exec("PRAGMA incremental_vacuum"); !s) return s;
  return exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

Status SqliteStore::migrate() {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_, "PRAGMA user_version", -1, &st, nullptr) != SQLITE_OK)
    return sql_error("user_version");
  int v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
  sqlite3_finalize(st);
  if (v < 0) return sql_error("user_version");
  if (v > kSchemaVersion)
    return Error::Store("database schema version " + std::to_string(v) +
                              " is newer than this vigild understands (" +
                              std::to_string(kSchemaVersion) + "); refusing to touch it");
  if (v == kSchemaVersion) {
    version_ = v;
    return Ok{};
  }
  if (auto s = exec("BEGIN IMMEDIATE"); !s) return s;
  for (int i = v; i < kSchemaVersion; ++i) {
    if (auto s = exec(kMigrations[i]); !s) {
      (void)exec("ROLLBACK");
      return Error::Store("migration to schema " + std::to_string(i + 1) + " failed: " +
                                s.error().message);
    }
  }
  std::string set = "PRAGMA user_version=" + std::to_string(kSchemaVersion);
  if (auto s = exec(set.c_str()); !s) {
    (void)exec("ROLLBACK");
    return s;
  }
  if (auto s = exec("COMMIT"); !s) {
    (void)exec("ROLLBACK");
    return s;
  }
  version_ = kSchemaVersion;
  return Ok{};
}

Result<std::optional<BucketRecord>> SqliteStore::load(const std::string& key) {
  StmtReset guard(load_);
  sqlite3_bind_text(load_, 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
  int rc = sqlite3_step(load_);
  if (rc == SQLITE_DONE) return std::optional<BucketRecord>{};
  if (rc != SQLITE_ROW) return sql_error("load");
  return std::optional<BucketRecord>(read_row(load_));
}

Status SqliteStore::begin(bool full_sync) {
  if (in_txn_) return Error::Store("transaction already open");
  // The safety level cannot change inside a transaction: set it first.
  if (full_sync) {
    if (auto s = exec("PRAGMA synchronous=FULL"); !s) return s;
    full_sync_ = true;
  }
  if (auto s = exec("BEGIN IMMEDIATE"); !s) {
    if (full_sync_) (void)exec("PRAGMA synchronous=NORMAL");
    full_sync_ = false;
    return s;
  }
  in_txn_ = true;
  return Ok{};
}

Status SqliteStore::put(const BucketRecord& r, TimePoint now) {
  StmtReset guard(put_);
  std::string failures = encode_failures(r.state.failures);
  sqlite3_bind_text(put_, 1, r.key.data(), static_cast<int>(r.key.size()), SQLITE_STATIC);
  if (r.uid) sqlite3_bind_int64(put_, 2, *r.uid); else sqlite3_bind_null(put_, 2);
  if (!r.name.empty())
    sqlite3_bind_text(put_, 3, r.name.data(), static_cast<int>(r.name.size()), SQLITE_STATIC);
  else
    sqlite3_bind_null(put_, 3);
  bind_failures(put_, 4, failures);
  sqlite3_bind_int64(put_, 5, to_epoch(r.state.locked_until));
  sqlite3_bind_int(put_, 6, r.state.lock_count);
  sqlite3_bind_int64(put_, 7, r.state.refused);
  sqlite3_bind_int64(put_, 8, to_epoch(r.state.last_failure));
  sqlite3_bind_int64(put_, 9, to_epoch(r.state.last_success));
  sqlite3_bind_int64(put_, 10, to_epoch(now));
  std::string sources = encode_sources(r.state.sources);
  sqlite3_bind_text(put_, 11, sources.data(), static_cast<int>(sources.size()), SQLITE_STATIC);
  sqlite3_bind_int(put_, 12, r.escalation);
  if (sqlite3_step(put_) != SQLITE_DONE) return sql_error("write bucket");
  return Ok{};
}

Status SqliteStore::erase(const std::string& key) {
  StmtReset guard(erase_);
  sqlite3_bind_text(erase_, 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
  if (sqlite3_step(erase_) != SQLITE_DONE) return sql_error("delete bucket");
  return Ok{};
}

Status SqliteStore::commit() {
  if (!in_txn_) return Error::Store("no transaction open");
  auto s = exec("COMMIT");
  if (!s) {
    rollback();
    return s;
  }
  in_txn_ = false;
  return restore_sync();
}

Status SqliteStore::restore_sync() {
  if (!full_sync_) return Ok{};
  full_sync_ = false;
  return exec("PRAGMA synchronous=NORMAL");
}

void SqliteStore::rollback() {
  if (sqlite3_get_autocommit(db_) == 0) (void)exec("ROLLBACK");
  in_txn_ = false;
  (void)restore_sync();
}

Result<int> SqliteStore::synchronous_level() {
  auto p = prepare("PRAGMA synchronous");
  if (!p) return p.error();
  int rc = sqlite3_step(*p);
  int v = rc == SQLITE_ROW ? sqlite3_column_int(*p, 0) : -1;
  sqlite3_finalize(*p);
  if (v < 0) return sql_error("synchronous");
  return v;
}

Result<std::vector<BucketRecord>> SqliteStore::list_accounts() {
  auto p = prepare(("SELECT " + std::string(kColumns) +
                    " FROM buckets WHERE uid IS NOT NULL AND key = 'uid:' || uid ORDER BY uid").c_str());
  if (!p) return p.error();
  std::vector<BucketRecord> out;
  int rc;
  while ((rc = sqlite3_step(*p)) == SQLITE_ROW) out.push_back(read_row(*p));
  sqlite3_finalize(*p);
  if (rc != SQLITE_DONE) return sql_error("list");
  return out;
}

Result<std::vector<BucketRecord>> SqliteStore::buckets_of(int64_t uid) {
  auto p = prepare(("SELECT " + std::string(kColumns) + " FROM buckets WHERE uid=?1 ORDER BY key").c_str());
  if (!p) return p.error();
  sqlite3_bind_int64(*p, 1, uid);
  std::vector<BucketRecord> out;
  int rc;
  while ((rc = sqlite3_step(*p)) == SQLITE_ROW) out.push_back(read_row(*p));
  sqlite3_finalize(*p);
  if (rc != SQLITE_DONE) return sql_error("buckets of an account");
  return out;
}

Result<int64_t> SqliteStore::prune(TimePoint now, TimePoint cutoff, int64_t max_unknown,
                                   std::chrono::seconds decay_step) {
  if (auto s = begin(); !s) return s.error();
  // A lock count decays one lock per step once the last lock has ended, so
  // it is gone for good by last_failure + (lock_count + 1) steps.
  auto p = prepare(
      "DELETE FROM buckets WHERE updated_at < ?1 AND locked_until <= ?2 AND"
      " (lock_count = 0 OR last_failure + (lock_count + 1) * ?3 < ?2)");
  if (!p) {
    rollback();
    return p.error();
  }
  sqlite3_bind_int64(*p, 1, to_epoch(cutoff));
  sqlite3_bind_int64(*p, 2, to_epoch(now));
  sqlite3_bind_int64(*p, 3, decay_step.count());
  int rc = sqlite3_step(*p);
  sqlite3_finalize(*p);
  if (rc != SQLITE_DONE) {
    rollback();
    return sql_error("prune");
  }
  int64_t n = sqlite3_changes(db_);
  auto q = prepare(
      "DELETE FROM buckets WHERE key IN (SELECT key FROM buckets WHERE uid IS NULL"
      " AND locked_until <= ?2 ORDER BY updated_at DESC LIMIT -1 OFFSET ?1)");
  if (!q) {
    rollback();
    return q.error();
  }
  sqlite3_bind_int64(*q, 1, max_unknown);
  sqlite3_bind_int64(*q, 2, to_epoch(now));
  rc = sqlite3_step(*q);
  sqlite3_finalize(*q);
  if (rc != SQLITE_DONE) {
    rollback();
    return sql_error("prune unknown names");
  }
  n += sqlite3_changes(db_);
  if (auto s = commit(); !s) return s.error();
  // The prune is committed; a failed shrink costs only disk space, and the
  // next prune tries again.
  if (n > 0) (void)give_back_space();
  return n;
}

Result<int64_t> SqliteStore::count_locked(TimePoint now) {
  auto p = prepare("SELECT count(*) FROM buckets WHERE uid IS NOT NULL AND locked_until > ?1");
  if (!p) return p.error();
  sqlite3_bind_int64(*p, 1, to_epoch(now));
  int rc = sqlite3_step(*p);
  int64_t n = rc == SQLITE_ROW ? sqlite3_column_int64(*p, 0) : -1;
  sqlite3_finalize(*p);
  if (n < 0) return sql_error("count");
  return n;
}

}  // namespace vigil

namespace vigil {
namespace {
Bytes blob(sqlite3_stmt* st, int col) {
  const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(st, col));
  int n = sqlite3_column_bytes(st, col);
  return p && n > 0 ? Bytes(p, p + n) : Bytes{};
}
void bind_blob(sqlite3_stmt* st, int idx, const Bytes& b) {
  if (b.empty()) sqlite3_bind_null(st, idx);
  else sqlite3_bind_blob(st, idx, b.data(), static_cast<int>(b.size()), SQLITE_STATIC);
}
}  // namespace

template <class Bind>
Status SqliteStore::run(const char* sql, Bind bind) {
  auto p = prepare(sql);
  if (!p) return p.error();
  bind(*p);
  int rc = sqlite3_step(*p);
  sqlite3_finalize(*p);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) return sql_error("write");
  return Ok{};
}

Result<int64_t> SqliteStore::scalar(const char* sql, int64_t arg, bool has_arg) {
  auto p = prepare(sql);
  if (!p) return p.error();
  if (has_arg) sqlite3_bind_int64(*p, 1, arg);
  int rc = sqlite3_step(*p);
  int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(*p, 0) : -1;
  sqlite3_finalize(*p);
  if (rc != SQLITE_ROW) return sql_error("query");
  return v;
}

Result<std::optional<TotpRecord>> SqliteStore::load_totp(int64_t uid) {
  auto p = prepare(
      "SELECT active_box, pending_box, pending_at, last_step, confirmed_at, otp_failures,"
      " required_since FROM totp WHERE uid=?1");
  if (!p) return p.error();
  sqlite3_bind_int64(*p, 1, uid);
  int rc = sqlite3_step(*p);
  if (rc == SQLITE_DONE) {
    sqlite3_finalize(*p);
    return std::optional<TotpRecord>{};
  }
  if (rc != SQLITE_ROW) {
    sqlite3_finalize(*p);
    return sql_error("load totp");
  }
  TotpRecord r;
  r.uid = uid;
  r.active_box = blob(*p, 0);
  r.pending_box = blob(*p, 1);
  r.pending_at = from_epoch(sqlite3_column_int64(*p, 2));
  r.last_step = sqlite3_column_int64(*p, 3);
  r.confirmed_at = from_epoch(sqlite3_column_int64(*p, 4));
  r.otp_failures = column_failures(*p, 5);
  r.required_since = from_epoch(sqlite3_column_int64(*p, 6));
  sqlite3_finalize(*p);
  return std::optional<TotpRecord>(std::move(r));
}

Status SqliteStore::put_totp(const TotpRecord& r) {
  std::string failures = encode_failures(r.otp_failures);
  return run(
      "INSERT INTO totp(uid, active_box, pending_box, pending_at, last_step, confirmed_at,"
      " otp_failures, required_since) VALUES(?1,?2,?3,?4,?5,?6,?7,?8)"
      " ON CONFLICT(uid) DO UPDATE SET active_box=excluded.active_box,"
      " pending_box=excluded.pending_box, pending_at=excluded.pending_at,"
      " last_step=excluded.last_step, confirmed_at=excluded.confirmed_at,"
      " otp_failures=excluded.otp_failures, required_since=excluded.required_since",
      [&](sqlite3_stmt* st) {
        sqlite3_bind_int64(st, 1, r.uid);
        bind_blob(st, 2, r.active_box);
        bind_blob(st, 3, r.pending_box);
        sqlite3_bind_int64(st, 4, to_epoch(r.pending_at));
        sqlite3_bind_int64(st, 5, r.last_step);
        sqlite3_bind_int64(st, 6, to_epoch(r.confirmed_at));
        bind_failures(st, 7, failures);
        sqlite3_bind_int64(st, 8, to_epoch(r.required_since));
      });
}

Status SqliteStore::erase_totp(int64_t uid) {
  return run("DELETE FROM totp WHERE uid=?1", [&](sqlite3_stmt* st) { sqlite3_bind_int64(st, 1, uid); });
}

Result<int64_t> SqliteStore::count_totp_secrets() {
  return scalar("SELECT count(*) FROM totp WHERE active_box IS NOT NULL OR pending_box IS NOT NULL",
                0, false);
}

Status SqliteStore::replace_recovery_codes(int64_t uid,
                                           const std::vector<std::pair<std::string, Bytes>>& codes) {
  if (auto s = run("DELETE FROM recovery_codes WHERE uid=?1",
                   [&](sqlite3_stmt* st) { sqlite3_bind_int64(st, 1, uid); });
      !s)
    return s;
  for (const auto& [id, hash] : codes) {
    if (auto s = run("INSERT INTO recovery_codes(uid, code_id, hash) VALUES(?1,?2,?3)",
                     [&](sqlite3_stmt* st) {
                       sqlite3_bind_int64(st, 1, uid);
                       sqlite3_bind_text(st, 2, id.data(), static_cast<int>(id.size()), SQLITE_STATIC);
                       bind_blob(st, 3, hash);
                     });
        !s)
      return s;
  }
  return Ok{};
}

Result<std::optional<Bytes>> SqliteStore::load_recovery_code(int64_t uid, const std::string& id) {
  auto p = prepare("SELECT hash FROM recovery_codes WHERE uid=?1 AND code_id=?2");
  if (!p) return p.error();
  sqlite3_bind_int64(*p, 1, uid);
  sqlite3_bind_text(*p, 2, id.data(), static_cast<int>(id.size()), SQLITE_STATIC);
  int rc = sqlite3_step(*p);
  std::optional<Bytes> out;
  if (rc == SQLITE_ROW) out = blob(*p, 0);
  sqlite3_finalize(*p);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return sql_error("load recovery code");
  return out;
}

Status SqliteStore::erase_recovery_code(int64_t uid, const std::string& id) {
  return run("DELETE FROM recovery_codes WHERE uid=?1 AND code_id=?2", [&](sqlite3_stmt* st) {
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_text(st, 2, id.data(), static_cast<int>(id.size()), SQLITE_STATIC);
  });
}

Result<int64_t> SqliteStore::count_recovery_codes(int64_t uid) {
  return scalar("SELECT count(*) FROM recovery_codes WHERE uid=?1", uid, true);
}

}  // namespace vigil

namespace vigil {

Result<std::vector<DeviceRecord>> SqliteStore::load_devices(int64_t uid) {
  auto p = prepare("SELECT device, first_seen, last_seen FROM devices WHERE uid=?1 ORDER BY last_seen DESC");
  if (!p) return p.error();
  sqlite3_bind_int64(*p, 1, uid);
  std::vector<DeviceRecord> out;
  int rc;
  while ((rc = sqlite3_step(*p)) == SQLITE_ROW)
    out.push_back(DeviceRecord{reinterpret_cast<const char*>(sqlite3_column_text(*p, 0)),
                               from_epoch(sqlite3_column_int64(*p, 1)),
                               from_epoch(sqlite3_column_int64(*p, 2))});
  sqlite3_finalize(*p);
  if (rc != SQLITE_DONE) return sql_error("load devices");
  return out;
}

Status SqliteStore::put_device(int64_t uid, const DeviceRecord& d) {
  return run(
      "INSERT INTO devices(uid, device, first_seen, last_seen) VALUES(?1,?2,?3,?4)"
      " ON CONFLICT(uid, device) DO UPDATE SET last_seen=excluded.last_seen",
      [&](sqlite3_stmt* st) {
        sqlite3_bind_int64(st, 1, uid);
        sqlite3_bind_text(st, 2, d.device.data(), static_cast<int>(d.device.size()), SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, to_epoch(d.first_seen));
        sqlite3_bind_int64(st, 4, to_epoch(d.last_seen));
      });
}

Status SqliteStore::erase_device(int64_t uid, const std::string& device) {
  if (device.empty())
    return run("DELETE FROM devices WHERE uid=?1", [&](sqlite3_stmt* st) { sqlite3_bind_int64(st, 1, uid); });
  return run("DELETE FROM devices WHERE uid=?1 AND device=?2", [&](sqlite3_stmt* st) {
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_text(st, 2, device.data(), static_cast<int>(device.size()), SQLITE_STATIC);
  });
}

}  // namespace vigil

namespace vigil {
Result<std::optional<Bytes>> SqliteStore::any_sealed_secret() {
  auto p = prepare("SELECT coalesce(active_box, pending_box) FROM totp"
                   " WHERE active_box IS NOT NULL OR pending_box IS NOT NULL LIMIT 1");
  if (!p) return p.error();
  int rc = sqlite3_step(*p);
  std::optional<Bytes> out;
  if (rc == SQLITE_ROW) {
    const auto* b = static_cast<const uint8_t*>(sqlite3_column_blob(*p, 0));
    out = Bytes(b, b + sqlite3_column_bytes(*p, 0));
  }
  sqlite3_finalize(*p);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return sql_error("sealed secret");
  return out;
}
}  // namespace vigil

namespace vigil {

Result<std::optional<BlockRecord>> SqliteStore::load_block(int64_t uid) {
  auto p = prepare("SELECT reason, since, by, details FROM blocks WHERE uid=?1");
  if (!p) return p.error();
  sqlite3_bind_int64(*p, 1, uid);
  int rc = sqlite3_step(*p);
  std::optional<BlockRecord> out;
  if (rc == SQLITE_ROW)
    out = BlockRecord{reinterpret_cast<const char*>(sqlite3_column_text(*p, 0)),
                      from_epoch(sqlite3_column_int64(*p, 1)),
                      reinterpret_cast<const char*>(sqlite3_column_text(*p, 2)),
                      reinterpret_cast<const char*>(sqlite3_column_text(*p, 3))};
  sqlite3_finalize(*p);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return sql_error("load block");
  return out;
}

Status SqliteStore::put_block(int64_t uid, const BlockRecord& b) {
  return run(
      "INSERT INTO blocks(uid, reason, since, by, details) VALUES(?1,?2,?3,?4,?5)"
      " ON CONFLICT(uid) DO UPDATE SET reason=excluded.reason, since=excluded.since,"
      " by=excluded.by, details=excluded.details",
      [&](sqlite3_stmt* st) {
        sqlite3_bind_int64(st, 1, uid);
        sqlite3_bind_text(st, 2, b.reason.data(), static_cast<int>(b.reason.size()), SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, to_epoch(b.since));
        sqlite3_bind_text(st, 4, b.by.data(), static_cast<int>(b.by.size()), SQLITE_STATIC);
        sqlite3_bind_text(st, 5, b.details.data(), static_cast<int>(b.details.size()), SQLITE_STATIC);
      });
}

Status SqliteStore::erase_block(int64_t uid) {
  return run("DELETE FROM blocks WHERE uid=?1", [&](sqlite3_stmt* st) { sqlite3_bind_int64(st, 1, uid); });
}

Result<int64_t> SqliteStore::count_blocked() { return scalar("SELECT count(*) FROM blocks", 0, false); }

}  // namespace vigil

namespace vigil {
namespace {
std::string text(sqlite3_stmt* st, int col) {
  auto* p = sqlite3_column_text(st, col);
  return p ? reinterpret_cast<const char*>(p) : "";
}
void bind_text(sqlite3_stmt* st, int idx, const std::string& s) {
  sqlite3_bind_text(st, idx, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
}
}  // namespace

Result<std::vector<std::pair<int64_t, BlockRecord>>> SqliteStore::list_blocks() {
  auto p = prepare("SELECT uid, reason, since, by, details FROM blocks ORDER BY since");
  if (!p) return p.error();
  std::vector<std::pair<int64_t, BlockRecord>> out;
  int rc;
  while ((rc = sqlite3_step(*p)) == SQLITE_ROW)
    out.emplace_back(sqlite3_column_int64(*p, 0),
                     BlockRecord{text(*p, 1), from_epoch(sqlite3_column_int64(*p, 2)), text(*p, 3),
                                 text(*p, 4)});
  sqlite3_finalize(*p);
  if (rc != SQLITE_DONE) return sql_error("list blocks");
  return out;
}

Result<std::vector<int64_t>> SqliteStore::totp_active_uids() {
  auto p = prepare("SELECT uid FROM totp WHERE active_box IS NOT NULL");
  if (!p) return p.error();
  std::vector<int64_t> out;
  int rc;
  while ((rc = sqlite3_step(*p)) == SQLITE_ROW) out.push_back(sqlite3_column_int64(*p, 0));
  sqlite3_finalize(*p);
  if (rc != SQLITE_DONE) return sql_error("list factors");
  return out;
}

Status SqliteStore::put_recovery(const RecoveryRecord& r) {
  return run(
      "INSERT OR REPLACE INTO recovery(id, kind, uid, name, requester_uid, requester, reason,"
      " created, expires) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)",
      [&](sqlite3_stmt* st) {
        bind_text(st, 1, r.id);
        sqlite3_bind_text(st, 2, r.kind == RecoveryRecord::Kind::kApproval ? "approval" : "request",
                          -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, r.uid);
        bind_text(st, 4, r.name);
        sqlite3_bind_int64(st, 5, r.requester_uid);
        bind_text(st, 6, r.requester);
        bind_text(st, 7, r.reason);
        sqlite3_bind_int64(st, 8, to_epoch(r.created));
        sqlite3_bind_int64(st, 9, to_epoch(r.expires));
      });
}

Status SqliteStore::erase_recovery(const std::string& id) {
  return run("DELETE FROM recovery WHERE id=?1", [&](sqlite3_stmt* st) { bind_text(st, 1, id); });
}

Status SqliteStore::erase_recovery_for(int64_t uid) {
  return run("DELETE FROM recovery WHERE uid=?1", [&](sqlite3_stmt* st) { sqlite3_bind_int64(st, 1, uid); });
}

Result<std::vector<RecoveryRecord>> SqliteStore::list_recovery() {
  auto p = prepare(
      "SELECT id, kind, uid, name, requester_uid, requester, reason, created, expires"
      " FROM recovery ORDER BY created, id");
  if (!p) return p.error();
  std::vector<RecoveryRecord> out;
  int rc;
  while ((rc = sqlite3_step(*p)) == SQLITE_ROW) {
    RecoveryRecord r;
    r.id = text(*p, 0);
    r.kind = text(*p, 1) == "approval" ? RecoveryRecord::Kind::kApproval : RecoveryRecord::Kind::kRequest;
    r.uid = sqlite3_column_int64(*p, 2);
    r.name = text(*p, 3);
    r.requester_uid = sqlite3_column_int64(*p, 4);
    r.requester = text(*p, 5);
    r.reason = text(*p, 6);
    r.created = from_epoch(sqlite3_column_int64(*p, 7));
    r.expires = from_epoch(sqlite3_column_int64(*p, 8));
    out.push_back(std::move(r));
  }
  sqlite3_finalize(*p);
  if (rc != SQLITE_DONE) return sql_error("list recovery");
  return out;
}

Status SqliteStore::add_history(const HistoryRecord& h) {
  return run("INSERT INTO history(at, kind, uid, name, by, reason, reported) VALUES(?1,?2,?3,?4,?5,?6,?7)",
             [&](sqlite3_stmt* st) {
               sqlite3_bind_int64(st, 1, to_epoch(h.at));
               bind_text(st, 2, h.kind);
               sqlite3_bind_int64(st, 3, h.uid);
               bind_text(st, 4, h.name);
               bind_text(st, 5, h.by);
               bind_text(st, 6, h.reason);
               sqlite3_bind_int(st, 7, h.reported ? 1 : 0);
             });
}

Result<std::vector<HistoryRecord>> SqliteStore::unreported_history() {
  auto p = prepare("SELECT id, at, kind, uid, name, by, reason FROM history WHERE reported=0 ORDER BY id");
  if (!p) return p.error();
  std::vector<HistoryRecord> out;
  int rc;
  while ((rc = sqlite3_step(*p)) == SQLITE_ROW)
    out.push_back(HistoryRecord{sqlite3_column_int64(*p, 0), from_epoch(sqlite3_column_int64(*p, 1)),
                                text(*p, 2), sqlite3_column_int64(*p, 3), text(*p, 4), text(*p, 5),
                                text(*p, 6), false});
  sqlite3_finalize(*p);
  if (rc != SQLITE_DONE) return sql_error("history");
  return out;
}

Status SqliteStore::mark_history_reported(int64_t id) {
  return run("UPDATE history SET reported=1 WHERE id=?1", [&](sqlite3_stmt* st) { sqlite3_bind_int64(st, 1, id); });
}

}  // namespace vigil

namespace vigil {
namespace {
std::string col_text(sqlite3_stmt* st, int col) {
  auto* p = sqlite3_column_text(st, col);
  return p ? reinterpret_cast<const char*>(p) : "";
}
void bind_str(sqlite3_stmt* st, int idx, const std::string& s) {
  sqlite3_bind_text(st, idx, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
}
std::string join_scopes(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& x : v) {
    if (!out.empty()) out.push_back(' ');
    out += x;
  }
  return out;
}
std::vector<std::string> split_scopes(const std::string& s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    auto sp = s.find(' ', i);
    if (sp == std::string::npos) sp = s.size();
    if (sp > i) out.push_back(s.substr(i, sp - i));
    i = sp + 1;
  }
  return out;
}
}  // namespace

Result<std::vector<tokens::Token>> SqliteStore::list_tokens() {
  auto p = prepare(
      "SELECT accessor, hash, owner_uid, owner, name, scopes, created_by_uid, created_by, created,"
      " expires, state, state_reason, state_changed FROM tokens ORDER BY created, accessor");
  if (!p) return p.error();
  std::vector<tokens::Token> out;
  int rc;
  while ((rc = sqlite3_step(*p)) == SQLITE_ROW) {
    tokens::Token t;
    t.accessor = col_text(*p, 0);
    const auto* h = static_cast<const uint8_t*>(sqlite3_column_blob(*p, 1));
    t.hash = Bytes(h, h + sqlite3_column_bytes(*p, 1));
    t.owner_uid = sqlite3_column_int64(*p, 2);
    t.owner = col_text(*p, 3);
    t.name = col_text(*p, 4);
    t.scopes = split_scopes(col_text(*p, 5));
    t.created_by_uid = sqlite3_column_int64(*p, 6);
    t.created_by = col_text(*p, 7);
    t.created = from_epoch(sqlite3_column_int64(*p, 8));
    t.expires = from_epoch(sqlite3_column_int64(*p, 9));
    t.state = tokens::parse_state(col_text(*p, 10)).value_or(tokens::State::kRevoked);
    t.state_reason = col_text(*p, 11);
    t.state_changed = from_epoch(sqlite3_column_int64(*p, 12));
    out.push_back(std::move(t));
  }
  sqlite3_finalize(*p);
  if (rc != SQLITE_DONE) return sql_error("list tokens");
  return out;
}

Status SqliteStore::put_token(const tokens::Token& t) {
  const std::string scopes = join_scopes(t.scopes);
  return run(
      "INSERT INTO tokens(accessor, hash, owner_uid, owner, name, scopes, created_by_uid, created_by,"
      " created, expires, state, state_reason, state_changed) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)"
      " ON CONFLICT(accessor) DO UPDATE SET state=excluded.state, state_reason=excluded.state_reason,"
      " state_changed=excluded.state_changed",
      [&](sqlite3_stmt* st) {
        bind_str(st, 1, t.accessor);
        sqlite3_bind_blob(st, 2, t.hash.data(), static_cast<int>(t.hash.size()), SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, t.owner_uid);
        bind_str(st, 4, t.owner);
        bind_str(st, 5, t.name);
        bind_str(st, 6, scopes);
        sqlite3_bind_int64(st, 7, t.created_by_uid);
        bind_str(st, 8, t.created_by);
        sqlite3_bind_int64(st, 9, to_epoch(t.created));
        sqlite3_bind_int64(st, 10, to_epoch(t.expires));
        sqlite3_bind_text(st, 11, tokens::state_name(t.state), -1, SQLITE_STATIC);
        bind_str(st, 12, t.state_reason);
        sqlite3_bind_int64(st, 13, to_epoch(t.state_changed));
      });
}

Result<std::vector<FreezeRecord>> SqliteStore::list_freezes() {
  auto p = prepare("SELECT uid, name, since, reason FROM token_freeze ORDER BY since");
  if (!p) return p.error();
  std::vector<FreezeRecord> out;
  int rc;
  while ((rc = sqlite3_step(*p)) == SQLITE_ROW)
    out.push_back(FreezeRecord{sqlite3_column_int64(*p, 0), col_text(*p, 1),
                               from_epoch(sqlite3_column_int64(*p, 2)), col_text(*p, 3)});
  sqlite3_finalize(*p);
  if (rc != SQLITE_DONE) return sql_error("list freezes");
  return out;
}

Status SqliteStore::put_freeze(const FreezeRecord& f) {
  return run("INSERT OR REPLACE INTO token_freeze(uid, name, since, reason) VALUES(?1,?2,?3,?4)",
             [&](sqlite3_stmt* st) {
               sqlite3_bind_int64(st, 1, f.uid);
               bind_str(st, 2, f.name);
               sqlite3_bind_int64(st, 3, to_epoch(f.since));
               bind_str(st, 4, f.reason);
             });
}

Status SqliteStore::erase_freeze(int64_t uid) {
  return run("DELETE FROM token_freeze WHERE uid=?1", [&](sqlite3_stmt* st) { sqlite3_bind_int64(st, 1, uid); });
}

Status SqliteStore::add_outbox(const OutboxItem& item) {
  return run("INSERT INTO outbox(payload, done_hooks, attempts, next_at, created) VALUES(?1,?2,?3,?4,?5)",
             [&](sqlite3_stmt* st) {
               bind_str(st, 1, item.payload);
               bind_str(st, 2, item.done_hooks);
               sqlite3_bind_int(st, 3, item.attempts);
               sqlite3_bind_int64(st, 4, to_epoch(item.next_at));
               sqlite3_bind_int64(st, 5, to_epoch(item.created));
             });
}

Result<std::vector<OutboxItem>> SqliteStore::list_outbox() {
  auto p = prepare("SELECT id, payload, done_hooks, attempts, next_at, created FROM outbox ORDER BY id");
  if (!p) return p.error();
  std::vector<OutboxItem> out;
  int rc;
  while ((rc = sqlite3_step(*p)) == SQLITE_ROW)
    out.push_back(OutboxItem{sqlite3_column_int64(*p, 0), col_text(*p, 1), col_text(*p, 2),
                             sqlite3_column_int(*p, 3), from_epoch(sqlite3_column_int64(*p, 4)),
                             from_epoch(sqlite3_column_int64(*p, 5))});
  sqlite3_finalize(*p);
  if (rc != SQLITE_DONE) return sql_error("list outbox");
  return out;
}

Status SqliteStore::update_outbox(const OutboxItem& item) {
  return run("UPDATE outbox SET done_hooks=?2, attempts=?3, next_at=?4 WHERE id=?1", [&](sqlite3_stmt* st) {
    sqlite3_bind_int64(st, 1, item.id);
    bind_str(st, 2, item.done_hooks);
    sqlite3_bind_int(st, 3, item.attempts);
    sqlite3_bind_int64(st, 4, to_epoch(item.next_at));
  });
}

Status SqliteStore::erase_outbox(int64_t id) {
  return run("DELETE FROM outbox WHERE id=?1", [&](sqlite3_stmt* st) { sqlite3_bind_int64(st, 1, id); });
}

}  // namespace vigil
