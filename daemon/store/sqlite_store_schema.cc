// SqliteStore: the schema, its migrations, and giving freed space back to
// the filesystem. See sqlite_store.h for the contract.
#include <sqlite3.h>

#include <iterator>
#include <string>

#include "daemon/store/sqlite_statement.h"
#include "daemon/store/sqlite_store.h"

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
    // 8 -> 9: the accounts' recent wrong passwords, for vigilctl status.
    "CREATE TABLE failure_log("
    "  uid INTEGER NOT NULL,"
    "  at INTEGER NOT NULL,"
    "  bucket TEXT NOT NULL,"
    "  source TEXT NOT NULL,"
    "  service TEXT NOT NULL"
    ");"
    "CREATE INDEX failure_log_uid ON failure_log(uid, at);",
    // 9 -> 10: fleet degraded mode's journal, and its random name.
    "CREATE TABLE fleet_journal("
    "  local_seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  at INTEGER NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  account TEXT NOT NULL,"
    "  entry TEXT NOT NULL"
    ");"
    "CREATE TABLE fleet_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
    "INSERT INTO fleet_meta VALUES('journal_id', lower(hex(randomblob(16))));",
};
static_assert(std::size(kMigrations) == SqliteStore::kSchemaVersion);

}  // namespace

Status SqliteStore::migrate() {
  int v = -1;
  {
    Statement st;
    if (st.prepare(db_, "PRAGMA user_version") != SQLITE_OK) return sql_error("user_version");
    if (st.step() == SQLITE_ROW) v = st.int32(0);
  }
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

}  // namespace vigil
