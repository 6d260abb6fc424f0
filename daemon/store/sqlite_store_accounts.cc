// SqliteStore: the password change a recovery requires, and login sessions.
// See store.h for the contract.
#include <sqlite3.h>

#include "daemon/store/sqlite_store.h"

namespace vigil {
namespace {

// Finalizes a prepared statement when it goes out of scope.
class Finalize {
 public:
  explicit Finalize(sqlite3_stmt* st) : st_(st) {}
  ~Finalize() { sqlite3_finalize(st_); }
  Finalize(const Finalize&) = delete;
  Finalize& operator=(const Finalize&) = delete;

 private:
  sqlite3_stmt* st_;
};

std::string text_at(sqlite3_stmt* st, int col) {
  auto* p = sqlite3_column_text(st, col);
  return p ? reinterpret_cast<const char*>(p) : "";
}

void bind(sqlite3_stmt* st, int idx, const std::string& s) {
  sqlite3_bind_text(st, idx, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
}

PasswordChangeRecord change_at(sqlite3_stmt* st, int first) {
  return PasswordChangeRecord{from_epoch(sqlite3_column_int64(st, first)), text_at(st, first + 1),
                              text_at(st, first + 2)};
}

}  // namespace

Result<std::optional<PasswordChangeRecord>> SqliteStore::load_password_change(int64_t uid) {
  auto p = prepare("SELECT since, by, reason FROM password_change WHERE uid=?1");
  if (!p) return p.error();
  Finalize f(*p);
  sqlite3_bind_int64(*p, 1, uid);
  int rc = sqlite3_step(*p);
  if (rc == SQLITE_DONE) return std::optional<PasswordChangeRecord>{};
  if (rc != SQLITE_ROW) return sql_error("load password change");
  return std::optional<PasswordChangeRecord>(change_at(*p, 0));
}

Status SqliteStore::put_password_change(int64_t uid, const PasswordChangeRecord& r) {
  auto p = prepare(
      "INSERT INTO password_change(uid, since, by, reason) VALUES(?1,?2,?3,?4)"
      " ON CONFLICT(uid) DO UPDATE SET since=excluded.since, by=excluded.by, reason=excluded.reason");
  if (!p) return p.error();
  Finalize f(*p);
  sqlite3_bind_int64(*p, 1, uid);
  sqlite3_bind_int64(*p, 2, to_epoch(r.since));
  bind(*p, 3, r.by);
  bind(*p, 4, r.reason);
  if (sqlite3_step(*p) != SQLITE_DONE) return sql_error("write password change");
  return Ok{};
}

Status SqliteStore::erase_password_change(int64_t uid) {
  auto p = prepare("DELETE FROM password_change WHERE uid=?1");
  if (!p) return p.error();
  Finalize f(*p);
  sqlite3_bind_int64(*p, 1, uid);
  if (sqlite3_step(*p) != SQLITE_DONE) return sql_error("delete password change");
  return Ok{};
}

Result<std::vector<std::pair<int64_t, PasswordChangeRecord>>> SqliteStore::list_password_changes() {
  auto p = prepare("SELECT uid, since, by, reason FROM password_change ORDER BY uid");
  if (!p) return p.error();
  Finalize f(*p);
  std::vector<std::pair<int64_t, PasswordChangeRecord>> out;
  int rc;
  while ((rc = sqlite3_step(*p)) == SQLITE_ROW) out.emplace_back(sqlite3_column_int64(*p, 0), change_at(*p, 1));
  if (rc != SQLITE_DONE) return sql_error("list password changes");
  return out;
}

Result<std::optional<SessionRecord>> SqliteStore::load_session(const std::string& boot, uint32_t id) {
  auto p = prepare("SELECT uid, device, at FROM sessions WHERE boot=?1 AND id=?2");
  if (!p) return p.error();
  Finalize f(*p);
  bind(*p, 1, boot);
  sqlite3_bind_int64(*p, 2, id);
  int rc = sqlite3_step(*p);
  if (rc == SQLITE_DONE) return std::optional<SessionRecord>{};
  if (rc != SQLITE_ROW) return sql_error("load session");
  return std::optional<SessionRecord>(SessionRecord{id, sqlite3_column_int64(*p, 0), text_at(*p, 1),
                                                    from_epoch(sqlite3_column_int64(*p, 2))});
}

Status SqliteStore::put_session(const std::string& boot, const SessionRecord& s) {
  // The first record of a session stays: a later Session.Open for the same
  // id (sudo's or su's own session phase) never replaces the login's device.
  auto p = prepare("INSERT INTO sessions(boot, id, uid, device, at) VALUES(?1,?2,?3,?4,?5)"
                   " ON CONFLICT(boot, id) DO NOTHING");
  if (!p) return p.error();
  Finalize f(*p);
  bind(*p, 1, boot);
  sqlite3_bind_int64(*p, 2, s.id);
  sqlite3_bind_int64(*p, 3, s.uid);
  bind(*p, 4, s.device);
  sqlite3_bind_int64(*p, 5, to_epoch(s.at));
  if (sqlite3_step(*p) != SQLITE_DONE) return sql_error("write session");
  return Ok{};
}

Status SqliteStore::prune_sessions(const std::string& boot, TimePoint before, int64_t keep) {
  if (auto s = begin(); !s) return s;
  const char* const steps[] = {
      "DELETE FROM sessions WHERE boot <> ?1 OR at < ?2",
      "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE boot = ?1"
      " ORDER BY at DESC LIMIT -1 OFFSET ?3) AND boot = ?1",
  };
  for (const char* sql : steps) {
    auto p = prepare(sql);
    if (!p) {
      rollback();
      return p.error();
    }
    Finalize f(*p);
    bind(*p, 1, boot);
    sqlite3_bind_int64(*p, 2, to_epoch(before));
    sqlite3_bind_int64(*p, 3, keep);
    if (sqlite3_step(*p) != SQLITE_DONE) {
      rollback();
      return sql_error("prune sessions");
    }
  }
  return commit();
}

}  // namespace vigil
