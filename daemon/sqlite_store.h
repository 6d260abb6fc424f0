// SqliteStore: the embedded default Store, one SQLite database in WAL mode.
//
// Contract:
//  * open() creates the file (0600) if needed, sets WAL and
//    synchronous=NORMAL, and migrates the schema to kSchemaVersion inside a
//    transaction. A database from a newer vigil is refused, never altered.
//  * The caller owns the StateDir lock (see state_dir.h); SqliteStore assumes
//    it is the only writer.
#pragma once

#include <memory>
#include <string>

#include "daemon/store.h"

struct sqlite3;
struct sqlite3_stmt;

namespace vigil {

class SqliteStore final : public Store {
 public:
  static constexpr int kSchemaVersion = 1;

  static Result<std::unique_ptr<SqliteStore>> open(const std::string& path);
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  Result<std::optional<BucketRecord>> load(const std::string& key) override;
  Status begin(bool full_sync = false) override;
  Status put(const BucketRecord& record, TimePoint now) override;
  Status erase(const std::string& key) override;
  Status commit() override;
  void rollback() override;
  Result<std::vector<BucketRecord>> list_accounts() override;
  Result<int64_t> prune(TimePoint now, TimePoint cutoff, int64_t max_unknown) override;
  Result<int64_t> count_locked(TimePoint now) override;

  int schema_version() const { return version_; }
  // PRAGMA synchronous of the connection right now (1 NORMAL, 2 FULL); tests.
  Result<int> synchronous_level();

 private:
  explicit SqliteStore(sqlite3* db) : db_(db) {}
  Status exec(const char* sql);
  Status migrate();
  Status restore_sync();
  Result<sqlite3_stmt*> prepare(const char* sql);
  Error sql_error(const std::string& what) const;

  sqlite3* db_;
  int version_ = 0;
  bool in_txn_ = false;
  bool full_sync_ = false;  // synchronous=FULL is set for the open transaction
  sqlite3_stmt* load_ = nullptr;
  sqlite3_stmt* put_ = nullptr;
  sqlite3_stmt* erase_ = nullptr;
};

}  // namespace vigil
