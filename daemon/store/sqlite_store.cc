// SqliteStore: opening the database, transactions, and the helpers the
// other sqlite_store_*.cc files use. See sqlite_store.h for the contract.
#include "daemon/store/sqlite_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "daemon/store/sqlite_statement.h"
#include "daemon/store/sqlite_store_internal.h"

namespace vigil {

SqliteStore::SqliteStore(sqlite3* db) : db_(db), statements_(std::make_unique<StatementCache>(kStatementsKept)) {}

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
  // Before the first read: in this mode the WAL needs no -shm file.
  if (auto s = store->exec("PRAGMA locking_mode=EXCLUSIVE"); !s) return s.error();
  {
    auto begin = store->prepare_kept("BEGIN IMMEDIATE");
    auto commit = store->prepare_kept("COMMIT");
    auto rollback = store->prepare_kept("ROLLBACK");
    if (!begin || !commit || !rollback) return store->sql_error("prepare transaction statements");
    store->txn_.reset(new TxnStatements{std::move(*begin), std::move(*commit), std::move(*rollback)});
  }

  // Before WAL mode: on a new database that is the first write.
  if (auto s = store->enable_incremental_vacuum(); !s) return s.error();
  std::string mode;
  {
    Statement st;
    if (st.prepare(db, "PRAGMA journal_mode=WAL") != SQLITE_OK) return store->sql_error("journal_mode");
    if (st.step() == SQLITE_ROW) mode = st.text(0);
  }
  if (mode != "wal") return Error::Store(path + ": cannot enable WAL mode");
  if (auto s = store->exec("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
                           " PRAGMA journal_size_limit=4194304;");
      !s)
    return s.error();
  if (auto s = store->migrate(); !s) return s.error();
  if (auto s = store->prepare_buckets(); !s) return s.error();
  return store;
}

SqliteStore::~SqliteStore() {
  if (in_txn_) rollback();
  buckets_.reset();  // finalized before the close: it fails with statements left
  txn_.reset();
  statements_->clear();
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

SqliteStore::Prepared SqliteStore::prepare(const char* sql) {
  StatementLease lease;
  if (statements_->lease(db_, sql, SQLITE_PREPARE_PERSISTENT, lease) != SQLITE_OK) return sql_error("prepare");
  return lease;
}

Result<Statement> SqliteStore::prepare_kept(const char* sql) {
  Statement st;
  if (st.prepare(db_, sql, SQLITE_PREPARE_PERSISTENT) != SQLITE_OK) return sql_error("prepare");
  return st;
}

Result<int64_t> SqliteStore::scalar(const char* sql, int64_t arg, bool has_arg) {
  auto p = prepare(sql);
  if (!p) return p.error();
  if (has_arg) p->bind_int64(1, arg);
  int rc = p->step();
  int64_t v = rc == SQLITE_ROW ? p->int64(0) : -1;
  if (rc != SQLITE_ROW) return sql_error("query");
  return v;
}

Result<int64_t> SqliteStore::pragma_int(const char* sql) {
  Statement st;
  if (st.prepare(db_, sql) != SQLITE_OK) return sql_error(sql);
  int rc = st.step();
  int64_t v = rc == SQLITE_ROW ? st.int64(0) : -1;
  if (v < 0) return sql_error(sql);
  return v;
}

Status SqliteStore::begin(bool full_sync) {
  if (in_txn_) return Error::Store("transaction already open");
  // The safety level cannot change inside a transaction: set it first.
  if (full_sync) {
    if (auto s = exec("PRAGMA synchronous=FULL"); !s) return s;
    full_sync_ = true;
  }
  if (auto s = step_txn(txn_->begin, "BEGIN IMMEDIATE"); !s) {
    if (full_sync_) (void)exec("PRAGMA synchronous=NORMAL");
    full_sync_ = false;
    return s;
  }
  in_txn_ = true;
  return Ok{};
}

Status SqliteStore::commit() {
  if (!in_txn_) return Error::Store("no transaction open");
  auto s = step_txn(txn_->commit, "COMMIT");
  if (!s) {
    rollback();
    return s;
  }
  in_txn_ = false;
  return restore_sync();
}

Status SqliteStore::step_txn(Statement& st, const char* what) {
  Statement::Reuse guard(st);
  if (st.step() != SQLITE_DONE) return Error::Store(std::string(what) + ": " + sqlite3_errmsg(db_));
  return Ok{};
}

Status SqliteStore::restore_sync() {
  if (!full_sync_) return Ok{};
  full_sync_ = false;
  return exec("PRAGMA synchronous=NORMAL");
}

void SqliteStore::rollback() {
  if (sqlite3_get_autocommit(db_) == 0) (void)step_txn(txn_->rollback, "ROLLBACK");
  in_txn_ = false;
  (void)restore_sync();
}

Result<int> SqliteStore::synchronous_level() {
  auto p = prepare("PRAGMA synchronous");
  if (!p) return p.error();
  int rc = p->step();
  int v = rc == SQLITE_ROW ? p->int32(0) : -1;
  if (v < 0) return sql_error("synchronous");
  return v;
}

}  // namespace vigil
