// SqliteStore: the embedded default Store, one SQLite database in WAL mode.
//
// Contract:
//  * open() creates the file (0600) if needed, sets WAL and
//    synchronous=NORMAL, and migrates the schema to kSchemaVersion inside a
//    transaction. A database from a newer vigil is refused, never altered.
//  * The caller owns the StateDir lock (see state_dir.h); SqliteStore assumes
//    it is the only writer. The connection takes SQLite's lock for itself
//    (locking_mode EXCLUSIVE) from its first write to its close: no other
//    connection, in this process or another, reads the file meanwhile, and
//    a transaction costs no file-lock calls and no shared-memory index
//    (the WAL's index lives in the connection's heap; no -shm file).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "daemon/store/store.h"

struct sqlite3;

namespace vigil {

class Statement;       // sqlite_statement.h
class StatementLease;  // sqlite_statement.h
class StatementCache;  // sqlite_statement.h

class SqliteStore final : public Store {
 public:
  static constexpr int kSchemaVersion = 10;

  static Result<std::unique_ptr<SqliteStore>> open(const std::string& path);
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  Result<std::optional<BucketRecord>> load(const std::string& key) override;
  Status begin(bool full_sync = false) override;
  Status put(const BucketRecord& record, TimePoint now, Unchanged unchanged) override;
  Status erase(const std::string& key) override;
  Status commit() override;
  void rollback() override;
  Result<std::vector<BucketRecord>> list_accounts() override;
  Result<std::vector<BucketRecord>> list_sources() override;
  Result<int64_t> prune(TimePoint now, TimePoint cutoff, int64_t max_unknown,
                        std::chrono::seconds decay_step) override;
  Result<int64_t> count_locked(TimePoint now) override;

  Result<std::optional<TotpRecord>> load_totp(int64_t uid) override;
  Status put_totp(const TotpRecord& record) override;
  Status erase_totp(int64_t uid) override;
  Result<int64_t> count_totp_secrets() override;
  Result<std::optional<Bytes>> any_sealed_secret() override;
  Status replace_recovery_codes(int64_t uid,
                                const std::vector<std::pair<std::string, Bytes>>& codes) override;
  Result<std::optional<Bytes>> load_recovery_code(int64_t uid, const std::string& id) override;
  Status erase_recovery_code(int64_t uid, const std::string& id) override;
  Result<int64_t> count_recovery_codes(int64_t uid) override;
  Result<std::map<int64_t, int64_t>> recovery_code_counts() override;
  Result<std::vector<DeviceRecord>> load_devices(int64_t uid) override;
  Result<std::vector<int64_t>> device_uids() override;
  Status put_device(int64_t uid, const DeviceRecord& d) override;
  Status erase_device(int64_t uid, const std::string& device) override;
  Result<std::optional<BlockRecord>> load_block(int64_t uid) override;
  Status put_block(int64_t uid, const BlockRecord& b) override;
  Status erase_block(int64_t uid) override;
  Result<int64_t> count_blocked() override;
  Result<std::vector<std::pair<int64_t, BlockRecord>>> list_blocks() override;
  Result<std::vector<int64_t>> totp_active_uids() override;
  Status put_recovery(const RecoveryRecord& r) override;
  Status erase_recovery(const std::string& id) override;
  Status erase_recovery_for(int64_t uid) override;
  Result<std::vector<RecoveryRecord>> list_recovery() override;
  Status add_failure(const FailureRecord& f) override;
  Result<std::vector<FailureRecord>> failures_of(int64_t uid, int64_t limit) override;
  Status add_journal(const JournalEntry& e) override;
  Result<std::vector<JournalEntry>> journal(int64_t after, int64_t limit) override;
  Status erase_journal(int64_t upto) override;
  Result<int64_t> journal_size() override;
  Result<std::string> journal_id() override;
  Status add_history(const HistoryRecord& h) override;
  Result<std::vector<HistoryRecord>> unreported_history() override;
  Status mark_history_reported(int64_t id) override;
  Result<std::vector<tokens::Token>> list_tokens() override;
  Status put_token(const tokens::Token& t) override;
  Result<std::vector<FreezeRecord>> list_freezes() override;
  Status put_freeze(const FreezeRecord& f) override;
  Status erase_freeze(int64_t uid) override;
  Status add_outbox(const OutboxItem& item) override;
  Result<std::vector<OutboxItem>> list_outbox() override;
  Status update_outbox(const OutboxItem& item) override;
  Status erase_outbox(int64_t id) override;
  Result<std::optional<PasswordChangeRecord>> load_password_change(int64_t uid) override;
  Status put_password_change(int64_t uid, const PasswordChangeRecord& r) override;
  Status erase_password_change(int64_t uid) override;
  Result<std::vector<std::pair<int64_t, PasswordChangeRecord>>> list_password_changes() override;
  Result<std::optional<SessionRecord>> load_session(const std::string& boot, uint32_t id) override;
  Status put_session(const std::string& boot, const SessionRecord& s) override;
  Status prune_sessions(const std::string& boot, TimePoint before, int64_t keep) override;
  Result<std::vector<BucketRecord>> buckets_of(int64_t uid) override;

  int schema_version() const { return version_; }
  // PRAGMA synchronous of the connection right now (1 NORMAL, 2 FULL); tests.
  Result<int> synchronous_level();

 private:
  // prune()'s part for the failure log, in its transaction (sqlite_store_failures.cc).
  Result<int64_t> prune_failures(TimePoint cutoff);
  struct BucketStatements;  // sqlite_store_internal.h
  struct TxnStatements;     // sqlite_store_internal.h

  explicit SqliteStore(sqlite3* db);
  Status exec(const char* sql);
  Status migrate();
  Result<int64_t> pragma_int(const char* sql);
  Status enable_incremental_vacuum();
  // After a prune: with at least kGiveBackPages free pages, truncates them
  // off the file (incremental_vacuum) and the WAL (checkpoint TRUNCATE).
  static constexpr int64_t kGiveBackPages = 256;
  Status give_back_space();
  Status restore_sync();
  // The statements every login uses, prepared once (sqlite_store_buckets.cc).
  Status prepare_buckets();
  // The statement for `sql`, from statements_ (prepared with
  // SQLITE_PREPARE_PERSISTENT on its first use; reset when the lease goes);
  // a failure is "prepare".
  class Prepared;  // sqlite_store_internal.h: a StatementLease, or the error
  Prepared prepare(const char* sql);
  // A statement of its own for `sql`, for the kept ones (buckets_, txn_).
  Result<Statement> prepare_kept(const char* sql);
  // Runs a one-off statement: bind(stmt), then step to completion.
  template <class Bind>
  Status run(const char* sql, Bind bind);
  Result<int64_t> scalar(const char* sql, int64_t arg, bool has_arg);
  Error sql_error(const std::string& what) const;

  sqlite3* db_;
  int version_ = 0;
  bool in_txn_ = false;
  bool full_sync_ = false;  // synchronous=FULL is set for the open transaction
  std::unique_ptr<BucketStatements> buckets_;  // load, put, erase
  std::unique_ptr<TxnStatements> txn_;         // begin, commit, rollback
  // Every other statement, by its text; at most kStatementsKept texts.
  static constexpr std::size_t kStatementsKept = 128;
  std::unique_ptr<StatementCache> statements_;
  // Steps one of txn_'s statements; any code but SQLITE_DONE is `what`'s error.
  Status step_txn(Statement& st, const char* what);
};

}  // namespace vigil
