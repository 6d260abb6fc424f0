// What the files of SqliteStore share (sqlite_store*.cc), private to the
// SQLite store: the statements kept prepared for the buckets, run(), and
// the on-disk form of failure lists.
//
// Contract:
//  * run() prepares `sql`, lets `bind` bind it, and steps it once; any code
//    but SQLITE_DONE or SQLITE_ROW is the error "write". The statement is
//    finalized before run() returns.
//  * Failure lists are stored as BLOBs of varints (encode_failures);
//    column_failures also reads the decimal text of older databases.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "daemon/store/sqlite_statement.h"
#include "daemon/store/sqlite_store.h"

namespace vigil {

// What prepare() answers: the leased statement, or why there is none. Used
// as a Result: `if (!p) return p.error(); p->bind_int64(...)`.
class SqliteStore::Prepared {
 public:
  Prepared(StatementLease lease) : lease_(std::move(lease)) {}  // NOLINT: implicit, as Result's
  Prepared(Error error) : error_(std::move(error)) {}            // NOLINT
  explicit operator bool() const { return !error_; }
  const Error& error() const { return *error_; }
  Statement& operator*() { return *lease_; }
  Statement* operator->() { return &*lease_; }

 private:
  StatementLease lease_;
  std::optional<Error> error_;
};

// Prepared once at open, used for every login (sqlite_store_buckets.cc).
struct SqliteStore::BucketStatements {
  Statement load;
  // The upsert, by what it may leave as it is on a conflict (Unchanged):
  // put[uid][updated].
  Statement put[2][2];
  Statement erase;
};

// Prepared once at open, before the schema: every batch's transaction.
struct SqliteStore::TxnStatements {
  Statement begin;     // BEGIN IMMEDIATE
  Statement commit;    // COMMIT
  Statement rollback;  // ROLLBACK
};

template <class Bind>
Status SqliteStore::run(const char* sql, Bind bind) {
  auto p = prepare(sql);
  if (!p) return p.error();
  bind(*p);
  int rc = p->step();
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) return sql_error("write");
  return Ok{};
}

std::string encode_failures(const std::vector<TimePoint>& f);
std::vector<TimePoint> column_failures(const Statement& st, int col);
// Binds `encoded` (from encode_failures) as a blob, copied.
void bind_failures(Statement& st, int col, const std::string& encoded);

}  // namespace vigil
