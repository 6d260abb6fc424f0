// SqliteStore: fleet degraded mode's journal (fleet_journal, fleet_meta).
// See store.h for the contract.
#include <sqlite3.h>

#include "daemon/store/sqlite_store_internal.h"

namespace vigil {

Status SqliteStore::add_journal(const JournalEntry& e) {
  return run("INSERT INTO fleet_journal(at, kind, account, entry) VALUES(?1,?2,?3,?4)", [&](Statement& st) {
    st.bind_int64(1, to_epoch(e.at));
    st.bind_text(2, e.kind);
    st.bind_text(3, e.account);
    st.bind_text(4, e.entry);
  });
}

Result<std::vector<JournalEntry>> SqliteStore::journal(int64_t after, int64_t limit) {
  auto p = prepare("SELECT local_seq, at, kind, account, entry FROM fleet_journal WHERE local_seq > ?1"
                   " ORDER BY local_seq LIMIT ?2");
  if (!p) return p.error();
  p->bind_int64(1, after);
  p->bind_int64(2, limit);
  std::vector<JournalEntry> out;
  int rc;
  while ((rc = p->step()) == SQLITE_ROW)
    out.push_back(JournalEntry{p->int64(0), from_epoch(p->int64(1)), p->text(2), p->text(3), p->text(4)});
  if (rc != SQLITE_DONE) return sql_error("fleet journal");
  return out;
}

Status SqliteStore::erase_journal(int64_t upto) {
  return run("DELETE FROM fleet_journal WHERE local_seq <= ?1", [&](Statement& st) { st.bind_int64(1, upto); });
}

Result<int64_t> SqliteStore::journal_size() { return scalar("SELECT count(*) FROM fleet_journal", 0, false); }

Result<std::string> SqliteStore::journal_id() {
  auto p = prepare("SELECT value FROM fleet_meta WHERE key = 'journal_id'");
  if (!p) return p.error();
  if (p->step() != SQLITE_ROW) return sql_error("fleet journal id");
  return p->text(0);
}

}  // namespace vigil
