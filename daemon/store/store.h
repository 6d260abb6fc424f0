// The durable state behind a narrow interface.
//
// Contract:
//  * A Store is used by one thread only (the engine thread); it is not
//    thread-safe and needs no locking.
//  * Writes happen inside begin()/commit(). A transaction begun with
//    full_sync=false survives a crash of the daemon once committed (SQLite
//    WAL, synchronous=NORMAL); with full_sync=true it also survives a crash of
//    the host (fsync at commit), for rare, weighty changes.
//  * Every error is a value; after a failed commit the transaction is rolled
//    back and the caller must treat its in-memory changes as not durable.
//  * Buckets are keyed by a string: "uid:<n>" for accounts, "name:<hash>" for
//    user names that do not resolve (never the name itself).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "daemon/core/records.h"
#include "protocol/result.h"

namespace vigil {

// What a bucket write may leave as the store holds it, because the caller
// knows (it loaded or last committed the key). The store then leaves those
// columns, and their index entries, as they are: SQLite rewrites an index
// entry whenever an UPDATE sets its column, even to the value it had. A key
// the store does not hold gets every column all the same.
struct Unchanged {
  bool uid = false;      // the store holds record.uid
  bool updated = false;  // the store's updated_at is less than kUpdatedLag old
};

class Store {
 public:
  virtual ~Store() = default;

  // A bucket's updated_at may be up to this much older than its last write
  // (Unchanged::updated); prune() allows for it.
  static constexpr std::chrono::seconds kUpdatedLag{60};

  virtual Result<std::optional<BucketRecord>> load(const std::string& key) = 0;
  virtual Status begin(bool full_sync = false) = 0;
  virtual Status put(const BucketRecord& record, TimePoint now, Unchanged unchanged) = 0;
  virtual Status erase(const std::string& key) = 0;
  virtual Status commit() = 0;
  virtual void rollback() = 0;

  // Every bucket that belongs to an account (uid not null): its own and its
  // known devices', by uid, then key.
  virtual Result<std::vector<BucketRecord>> list_accounts() = 0;
  // Every per-source throttle bucket ("src:..."), by key.
  virtual Result<std::vector<BucketRecord>> list_sources() = 0;
  // Deletes buckets last written before `cutoff` that hold nothing any more:
  // not locked, and a lock count fully decayed (one lock per `decay_step`
  // after the last failure, see policy.h). Then, beyond `max_unknown`
  // buckets without an account (unknown names, sources), the oldest that
  // are not locked: an active lock or ban is never dropped to make room.
  // Own transaction. When that freed a lot of space, the store gives it back
  // to the filesystem, so the database shrinks after an attack's state expires.
  virtual Result<int64_t> prune(TimePoint now, TimePoint cutoff, int64_t max_unknown,
                                std::chrono::seconds decay_step) = 0;
  virtual Result<int64_t> count_locked(TimePoint now) = 0;

  // Second factor. Writes only inside begin()/commit().
  virtual Result<std::optional<TotpRecord>> load_totp(int64_t uid) = 0;
  virtual Status put_totp(const TotpRecord& record) = 0;
  virtual Status erase_totp(int64_t uid) = 0;
  // Rows with a sealed secret (active or pending): decides whether a missing
  // key is fatal at start.
  virtual Result<int64_t> count_totp_secrets() = 0;
  // Any one sealed secret, to check at start that the key opens it.
  virtual Result<std::optional<Bytes>> any_sealed_secret() = 0;

  // Recovery codes: (uid, id) -> keyed hash.
  virtual Status replace_recovery_codes(int64_t uid,
                                        const std::vector<std::pair<std::string, Bytes>>& codes) = 0;
  virtual Result<std::optional<Bytes>> load_recovery_code(int64_t uid, const std::string& id) = 0;
  virtual Status erase_recovery_code(int64_t uid, const std::string& id) = 0;
  virtual Result<int64_t> count_recovery_codes(int64_t uid) = 0;
  // Recovery codes left, per account that has any.
  virtual Result<std::map<int64_t, int64_t>> recovery_code_counts() = 0;

  // Known devices, by account.
  virtual Result<std::vector<DeviceRecord>> load_devices(int64_t uid) = 0;
  // Every account with a known device, by uid.
  virtual Result<std::vector<int64_t>> device_uids() = 0;
  virtual Status put_device(int64_t uid, const DeviceRecord& d) = 0;
  virtual Status erase_device(int64_t uid, const std::string& device) = 0;  // "" = all

  virtual Result<std::optional<BlockRecord>> load_block(int64_t uid) = 0;
  virtual Status put_block(int64_t uid, const BlockRecord& b) = 0;
  virtual Status erase_block(int64_t uid) = 0;
  virtual Result<int64_t> count_blocked() = 0;
  virtual Result<std::vector<std::pair<int64_t, BlockRecord>>> list_blocks() = 0;
  // Accounts with an active second factor.
  virtual Result<std::vector<int64_t>> totp_active_uids() = 0;

  // Recovery requests and pending approvals. Writes inside begin()/commit().
  virtual Status put_recovery(const RecoveryRecord& r) = 0;
  virtual Status erase_recovery(const std::string& id) = 0;
  virtual Status erase_recovery_for(int64_t uid) = 0;  // all of one account's
  virtual Result<std::vector<RecoveryRecord>> list_recovery() = 0;

  // The accounts' recent wrong passwords: added inside begin()/commit();
  // read newest first, at most `limit`. prune() keeps each account's newest
  // kFailuresKept and drops those older than its cutoff.
  static constexpr int64_t kFailuresKept = 32;
  virtual Status add_failure(const FailureRecord& f) = 0;
  virtual Result<std::vector<FailureRecord>> failures_of(int64_t uid, int64_t limit) = 0;

  // Fleet degraded mode's journal (records.h: JournalEntry), oldest first.
  // journal_id names this journal (random, made with the table): with
  // local_seq it identifies an entry for vigil.replay(), so a new state
  // directory never collides with an old one's entries.
  virtual Status add_journal(const JournalEntry& e) = 0;
  virtual Result<std::vector<JournalEntry>> journal(int64_t after, int64_t limit) = 0;
  virtual Status erase_journal(int64_t upto) = 0;  // every entry with local_seq <= upto
  virtual Result<int64_t> journal_size() = 0;
  virtual Result<std::string> journal_id() = 0;

  // History (break-glass). Writes inside begin()/commit().
  virtual Status add_history(const HistoryRecord& h) = 0;
  virtual Result<std::vector<HistoryRecord>> unreported_history() = 0;
  virtual Status mark_history_reported(int64_t id) = 0;

  // API tokens (hashes only), the freeze, and the hook outbox. Writes inside
  // begin()/commit().
  virtual Result<std::vector<tokens::Token>> list_tokens() = 0;
  virtual Status put_token(const tokens::Token& t) = 0;
  virtual Result<std::vector<FreezeRecord>> list_freezes() = 0;
  virtual Status put_freeze(const FreezeRecord& f) = 0;
  virtual Status erase_freeze(int64_t uid) = 0;
  virtual Status add_outbox(const OutboxItem& item) = 0;  // id assigned by the store
  virtual Result<std::vector<OutboxItem>> list_outbox() = 0;
  virtual Status update_outbox(const OutboxItem& item) = 0;
  virtual Status erase_outbox(int64_t id) = 0;

  // The password change a recovery requires. Writes inside begin()/commit().
  virtual Result<std::optional<PasswordChangeRecord>> load_password_change(int64_t uid) = 0;
  virtual Status put_password_change(int64_t uid, const PasswordChangeRecord& r) = 0;
  virtual Status erase_password_change(int64_t uid) = 0;
  virtual Result<std::vector<std::pair<int64_t, PasswordChangeRecord>>> list_password_changes() = 0;

  // Login sessions of this boot (`boot`: the kernel's boot id). put_session
  // inside begin()/commit(); prune_sessions in its own transaction: drops
  // other boots' sessions, those older than `before`, and beyond `keep`.
  virtual Result<std::optional<SessionRecord>> load_session(const std::string& boot, uint32_t id) = 0;
  virtual Status put_session(const std::string& boot, const SessionRecord& s) = 0;
  virtual Status prune_sessions(const std::string& boot, TimePoint before, int64_t keep) = 0;

  // Every bucket of one account: its own ("uid:N") and its known devices'.
  virtual Result<std::vector<BucketRecord>> buckets_of(int64_t uid) = 0;
};

// Forwards every call to another Store: a test double derives from it and
// overrides only what it changes (LevelDB's EnvWrapper).
class StoreWrapper : public Store {
 public:
  explicit StoreWrapper(std::unique_ptr<Store> inner) : inner_(std::move(inner)) {}
  Store& inner() { return *inner_; }

  Result<std::optional<BucketRecord>> load(const std::string& k) override { return inner_->load(k); }
  Status begin(bool full) override { return inner_->begin(full); }
  Status put(const BucketRecord& r, TimePoint t, Unchanged u) override { return inner_->put(r, t, u); }
  Status erase(const std::string& k) override { return inner_->erase(k); }
  Status commit() override { return inner_->commit(); }
  void rollback() override { inner_->rollback(); }
  Result<std::vector<BucketRecord>> list_accounts() override { return inner_->list_accounts(); }
  Result<std::vector<BucketRecord>> list_sources() override { return inner_->list_sources(); }
  Result<int64_t> prune(TimePoint n, TimePoint c, int64_t m, std::chrono::seconds d) override {
    return inner_->prune(n, c, m, d);
  }
  Result<int64_t> count_locked(TimePoint n) override { return inner_->count_locked(n); }
  Result<std::optional<TotpRecord>> load_totp(int64_t u) override { return inner_->load_totp(u); }
  Status put_totp(const TotpRecord& r) override { return inner_->put_totp(r); }
  Status erase_totp(int64_t u) override { return inner_->erase_totp(u); }
  Result<int64_t> count_totp_secrets() override { return inner_->count_totp_secrets(); }
  Result<std::optional<Bytes>> any_sealed_secret() override { return inner_->any_sealed_secret(); }
  Status replace_recovery_codes(int64_t u, const std::vector<std::pair<std::string, Bytes>>& c) override {
    return inner_->replace_recovery_codes(u, c);
  }
  Result<std::optional<Bytes>> load_recovery_code(int64_t u, const std::string& id) override {
    return inner_->load_recovery_code(u, id);
  }
  Status erase_recovery_code(int64_t u, const std::string& id) override {
    return inner_->erase_recovery_code(u, id);
  }
  Result<int64_t> count_recovery_codes(int64_t u) override { return inner_->count_recovery_codes(u); }
  Result<std::map<int64_t, int64_t>> recovery_code_counts() override { return inner_->recovery_code_counts(); }
  Result<std::vector<DeviceRecord>> load_devices(int64_t u) override { return inner_->load_devices(u); }
  Result<std::vector<int64_t>> device_uids() override { return inner_->device_uids(); }
  Status put_device(int64_t u, const DeviceRecord& d) override { return inner_->put_device(u, d); }
  Status erase_device(int64_t u, const std::string& d) override { return inner_->erase_device(u, d); }
  Result<std::optional<BlockRecord>> load_block(int64_t u) override { return inner_->load_block(u); }
  Status put_block(int64_t u, const BlockRecord& b) override { return inner_->put_block(u, b); }
  Status erase_block(int64_t u) override { return inner_->erase_block(u); }
  Result<int64_t> count_blocked() override { return inner_->count_blocked(); }
  Result<std::vector<std::pair<int64_t, BlockRecord>>> list_blocks() override { return inner_->list_blocks(); }
  Result<std::vector<int64_t>> totp_active_uids() override { return inner_->totp_active_uids(); }
  Status put_recovery(const RecoveryRecord& r) override { return inner_->put_recovery(r); }
  Status erase_recovery(const std::string& id) override { return inner_->erase_recovery(id); }
  Status erase_recovery_for(int64_t uid) override { return inner_->erase_recovery_for(uid); }
  Result<std::vector<RecoveryRecord>> list_recovery() override { return inner_->list_recovery(); }
  Status add_failure(const FailureRecord& f) override { return inner_->add_failure(f); }
  Result<std::vector<FailureRecord>> failures_of(int64_t uid, int64_t limit) override {
    return inner_->failures_of(uid, limit);
  }
  Status add_journal(const JournalEntry& e) override { return inner_->add_journal(e); }
  Result<std::vector<JournalEntry>> journal(int64_t after, int64_t limit) override {
    return inner_->journal(after, limit);
  }
  Status erase_journal(int64_t upto) override { return inner_->erase_journal(upto); }
  Result<int64_t> journal_size() override { return inner_->journal_size(); }
  Result<std::string> journal_id() override { return inner_->journal_id(); }
  Status add_history(const HistoryRecord& h) override { return inner_->add_history(h); }
  Result<std::vector<HistoryRecord>> unreported_history() override { return inner_->unreported_history(); }
  Status mark_history_reported(int64_t id) override { return inner_->mark_history_reported(id); }
  Result<std::vector<tokens::Token>> list_tokens() override { return inner_->list_tokens(); }
  Status put_token(const tokens::Token& t) override { return inner_->put_token(t); }
  Result<std::vector<FreezeRecord>> list_freezes() override { return inner_->list_freezes(); }
  Status put_freeze(const FreezeRecord& f) override { return inner_->put_freeze(f); }
  Status erase_freeze(int64_t uid) override { return inner_->erase_freeze(uid); }
  Status add_outbox(const OutboxItem& i) override { return inner_->add_outbox(i); }
  Result<std::vector<OutboxItem>> list_outbox() override { return inner_->list_outbox(); }
  Status update_outbox(const OutboxItem& i) override { return inner_->update_outbox(i); }
  Status erase_outbox(int64_t id) override { return inner_->erase_outbox(id); }
  Result<std::optional<PasswordChangeRecord>> load_password_change(int64_t u) override {
    return inner_->load_password_change(u);
  }
  Status put_password_change(int64_t u, const PasswordChangeRecord& r) override {
    return inner_->put_password_change(u, r);
  }
  Status erase_password_change(int64_t u) override { return inner_->erase_password_change(u); }
  Result<std::vector<std::pair<int64_t, PasswordChangeRecord>>> list_password_changes() override {
    return inner_->list_password_changes();
  }
  Result<std::optional<SessionRecord>> load_session(const std::string& b, uint32_t id) override {
    return inner_->load_session(b, id);
  }
  Status put_session(const std::string& b, const SessionRecord& s) override { return inner_->put_session(b, s); }
  Status prune_sessions(const std::string& b, TimePoint before, int64_t keep) override {
    return inner_->prune_sessions(b, before, keep);
  }
  Result<std::vector<BucketRecord>> buckets_of(int64_t uid) override { return inner_->buckets_of(uid); }

 private:
  std::unique_ptr<Store> inner_;
};

}  // namespace vigil
