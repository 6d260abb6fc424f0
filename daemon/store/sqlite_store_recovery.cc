// SqliteStore: recovery requests, pending approvals, and the history of
// break-glass. See sqlite_store.h for the contract.
#include <sqlite3.h>

#include <string>
#include <utility>
#include <vector>

#include "daemon/store/sqlite_statement.h"
#include "daemon/store/sqlite_store.h"
#include "daemon/store/sqlite_store_internal.h"

namespace vigil {

Status SqliteStore::put_recovery(const RecoveryRecord& r) {
  return run(
      "INSERT OR REPLACE INTO recovery(id, kind, uid, name, requester_uid, requester, reason,"
      " created, expires) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)",
      [&](Statement& st) {
        st.bind_text(1, r.id);
        st.bind_text(2, r.kind == RecoveryRecord::Kind::kApproval ? "approval" : "request");
        st.bind_int64(3, r.uid);
        st.bind_text(4, r.name);
        st.bind_int64(5, r.requester_uid);
        st.bind_text(6, r.requester);
        st.bind_text(7, r.reason);
        st.bind_int64(8, to_epoch(r.created));
        st.bind_int64(9, to_epoch(r.expires));
      });
}

Status SqliteStore::erase_recovery(const std::string& id) {
  return run("DELETE FROM recovery WHERE id=?1", [&](Statement& st) { st.bind_text(1, id); });
}

Status SqliteStore::erase_recovery_for(int64_t uid) {
  return run("DELETE FROM recovery WHERE uid=?1", [&](Statement& st) { st.bind_int64(1, uid); });
}

Result<std::vector<RecoveryRecord>> SqliteStore::list_recovery() {
  auto p = prepare(
      "SELECT id, kind, uid, name, requester_uid, requester, reason, created, expires"
      " FROM recovery ORDER BY created, id");
  if (!p) return p.error();
  std::vector<RecoveryRecord> out;
  int rc;
  while ((rc = p->step()) == SQLITE_ROW) {
    RecoveryRecord r;
    r.id = p->text(0);
    r.kind = p->text(1) == "approval" ? RecoveryRecord::Kind::kApproval : RecoveryRecord::Kind::kRequest;
    r.uid = p->int64(2);
    r.name = p->text(3);
    r.requester_uid = p->int64(4);
    r.requester = p->text(5);
    r.reason = p->text(6);
    r.created = from_epoch(p->int64(7));
    r.expires = from_epoch(p->int64(8));
    out.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return sql_error("list recovery");
  return out;
}

Status SqliteStore::add_history(const HistoryRecord& h) {
  return run("INSERT INTO history(at, kind, uid, name, by, reason, reported) VALUES(?1,?2,?3,?4,?5,?6,?7)",
             [&](Statement& st) {
               st.bind_int64(1, to_epoch(h.at));
               st.bind_text(2, h.kind);
               st.bind_int64(3, h.uid);
               st.bind_text(4, h.name);
               st.bind_text(5, h.by);
               st.bind_text(6, h.reason);
               st.bind_int(7, h.reported ? 1 : 0);
             });
}

Result<std::vector<HistoryRecord>> SqliteStore::unreported_history() {
  auto p = prepare("SELECT id, at, kind, uid, name, by, reason FROM history WHERE reported=0 ORDER BY id");
  if (!p) return p.error();
  std::vector<HistoryRecord> out;
  int rc;
  while ((rc = p->step()) == SQLITE_ROW)
    out.push_back(HistoryRecord{p->int64(0), from_epoch(p->int64(1)), p->text(2), p->int64(3), p->text(4),
                                p->text(5), p->text(6), false});
  if (rc != SQLITE_DONE) return sql_error("history");
  return out;
}

Status SqliteStore::mark_history_reported(int64_t id) {
  return run("UPDATE history SET reported=1 WHERE id=?1", [&](Statement& st) { st.bind_int64(1, id); });
}

}  // namespace vigil
