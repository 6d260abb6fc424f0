// SqliteStore: the accounts' recent wrong passwords (failure_log). See
// store.h for the contract.
#include <sqlite3.h>

#include "daemon/store/sqlite_store_internal.h"

namespace vigil {

Status SqliteStore::add_failure(const FailureRecord& f) {
  return run("INSERT INTO failure_log(uid, at, bucket, source, service) VALUES(?1,?2,?3,?4,?5)",
             [&](Statement& st) {
               st.bind_int64(1, f.uid);
               st.bind_int64(2, to_epoch(f.at));
               st.bind_text(3, f.bucket);
               st.bind_text(4, f.source);
               st.bind_text(5, f.service);
             });
}

Result<std::vector<FailureRecord>> SqliteStore::failures_of(int64_t uid, int64_t limit) {
  auto p = prepare("SELECT at, bucket, source, service FROM failure_log WHERE uid=?1"
                   " ORDER BY at DESC, rowid DESC LIMIT ?2");
  if (!p) return p.error();
  p->bind_int64(1, uid);
  p->bind_int64(2, limit);
  std::vector<FailureRecord> out;
  int rc;
  while ((rc = p->step()) == SQLITE_ROW)
    out.push_back(FailureRecord{uid, from_epoch(p->int64(0)), p->text(1), p->text(2), p->text(3)});
  if (rc != SQLITE_DONE) return sql_error("failure log");
  return out;
}

// Inside prune()'s transaction: the old ones, then each account's oldest
// beyond kFailuresKept.
Result<int64_t> SqliteStore::prune_failures(TimePoint cutoff) {
  int64_t n = 0;
  auto old = run("DELETE FROM failure_log WHERE at < ?1", [&](Statement& st) { st.bind_int64(1, to_epoch(cutoff)); });
  if (!old) return old.error();
  n += sqlite3_changes(db_);
  auto extra = run(
      "DELETE FROM failure_log WHERE rowid IN (SELECT rowid FROM (SELECT rowid, ROW_NUMBER() OVER"
      " (PARTITION BY uid ORDER BY at DESC, rowid DESC) AS rn FROM failure_log) WHERE rn > ?1)",
      [&](Statement& st) { st.bind_int64(1, kFailuresKept); });
  if (!extra) return extra.error();
  return n + sqlite3_changes(db_);
}

}  // namespace vigil
