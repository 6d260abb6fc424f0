// SqliteStore: what the store keeps per account besides its buckets: known
// devices, blocks, the password change a recovery requires, and login
// sessions. See store.h for the contract.
#include <sqlite3.h>

#include <string>
#include <utility>
#include <vector>

#include "daemon/store/sqlite_statement.h"
#include "daemon/store/sqlite_store.h"
#include "daemon/store/sqlite_store_internal.h"

namespace vigil {
namespace {

PasswordChangeRecord change_at(const Statement& st, int first) {
  return PasswordChangeRecord{from_epoch(st.int64(first)), st.text(first + 1), st.text(first + 2)};
}

}  // namespace

Result<std::vector<DeviceRecord>> SqliteStore::load_devices(int64_t uid) {
  auto p = prepare("SELECT device, first_seen, last_seen FROM devices WHERE uid=?1 ORDER BY last_seen DESC");
  if (!p) return p.error();
  p->bind_int64(1, uid);
  std::vector<DeviceRecord> out;
  int rc;
  while ((rc = p->step()) == SQLITE_ROW)
    out.push_back(DeviceRecord{p->text(0), from_epoch(p->int64(1)), from_epoch(p->int64(2))});
  if (rc != SQLITE_DONE) return sql_error("load devices");
  return out;
}

Result<std::vector<int64_t>> SqliteStore::device_uids() {
  auto p = prepare("SELECT DISTINCT uid FROM devices ORDER BY uid");
  if (!p) return p.error();
  std::vector<int64_t> out;
  int rc;
  while ((rc = p->step()) == SQLITE_ROW) out.push_back(p->int64(0));
  if (rc != SQLITE_DONE) return sql_error("device uids");
  return out;
}

Status SqliteStore::put_device(int64_t uid, const DeviceRecord& d) {
  return run(
      "INSERT INTO devices(uid, device, first_seen, last_seen) VALUES(?1,?2,?3,?4)"
      " ON CONFLICT(uid, device) DO UPDATE SET last_seen=excluded.last_seen",
      [&](Statement& st) {
        st.bind_int64(1, uid);
        st.bind_text(2, d.device);
        st.bind_int64(3, to_epoch(d.first_seen));
        st.bind_int64(4, to_epoch(d.last_seen));
      });
}

Status SqliteStore::erase_device(int64_t uid, const std::string& device) {
  if (device.empty())
    return run("DELETE FROM devices WHERE uid=?1", [&](Statement& st) { st.bind_int64(1, uid); });
  return run("DELETE FROM devices WHERE uid=?1 AND device=?2", [&](Statement& st) {
    st.bind_int64(1, uid);
    st.bind_text(2, device);
  });
}

Result<std::optional<BlockRecord>> SqliteStore::load_block(int64_t uid) {
  auto p = prepare("SELECT reason, since, by, details FROM blocks WHERE uid=?1");
  if (!p) return p.error();
  p->bind_int64(1, uid);
  int rc = p->step();
  std::optional<BlockRecord> out;
  if (rc == SQLITE_ROW) out = BlockRecord{p->text(0), from_epoch(p->int64(1)), p->text(2), p->text(3)};
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return sql_error("load block");
  return out;
}

Status SqliteStore::put_block(int64_t uid, const BlockRecord& b) {
  return run(
      "INSERT INTO blocks(uid, reason, since, by, details) VALUES(?1,?2,?3,?4,?5)"
      " ON CONFLICT(uid) DO UPDATE SET reason=excluded.reason, since=excluded.since,"
      " by=excluded.by, details=excluded.details",
      [&](Statement& st) {
        st.bind_int64(1, uid);
        st.bind_text(2, b.reason);
        st.bind_int64(3, to_epoch(b.since));
        st.bind_text(4, b.by);
        st.bind_text(5, b.details);
      });
}

Status SqliteStore::erase_block(int64_t uid) {
  return run("DELETE FROM blocks WHERE uid=?1", [&](Statement& st) { st.bind_int64(1, uid); });
}

Result<int64_t> SqliteStore::count_blocked() { return scalar("SELECT count(*) FROM blocks", 0, false); }

Result<std::vector<std::pair<int64_t, BlockRecord>>> SqliteStore::list_blocks() {
  auto p = prepare("SELECT uid, reason, since, by, details FROM blocks ORDER BY since");
  if (!p) return p.error();
  std::vector<std::pair<int64_t, BlockRecord>> out;
  int rc;
  while ((rc = p->step()) == SQLITE_ROW)
    out.emplace_back(p->int64(0), BlockRecord{p->text(1), from_epoch(p->int64(2)), p->text(3), p->text(4)});
  if (rc != SQLITE_DONE) return sql_error("list blocks");
  return out;
}

Result<std::optional<PasswordChangeRecord>> SqliteStore::load_password_change(int64_t uid) {
  auto p = prepare("SELECT since, by, reason FROM password_change WHERE uid=?1");
  if (!p) return p.error();
  p->bind_int64(1, uid);
  int rc = p->step();
  if (rc == SQLITE_DONE) return std::optional<PasswordChangeRecord>{};
  if (rc != SQLITE_ROW) return sql_error("load password change");
  return std::optional<PasswordChangeRecord>(change_at(*p, 0));
}

Status SqliteStore::put_password_change(int64_t uid, const PasswordChangeRecord& r) {
  auto p = prepare(
      "INSERT INTO password_change(uid, since, by, reason) VALUES(?1,?2,?3,?4)"
      " ON CONFLICT(uid) DO UPDATE SET since=excluded.since, by=excluded.by, reason=excluded.reason");
  if (!p) return p.error();
  p->bind_int64(1, uid);
  p->bind_int64(2, to_epoch(r.since));
  p->bind_text(3, r.by);
  p->bind_text(4, r.reason);
  if (p->step() != SQLITE_DONE) return sql_error("write password change");
  return Ok{};
}

Status SqliteStore::erase_password_change(int64_t uid) {
  auto p = prepare("DELETE FROM password_change WHERE uid=?1");
  if (!p) return p.error();
  p->bind_int64(1, uid);
  if (p->step() != SQLITE_DONE) return sql_error("delete password change");
  return Ok{};
}

Result<std::vector<std::pair<int64_t, PasswordChangeRecord>>> SqliteStore::list_password_changes() {
  auto p = prepare("SELECT uid, since, by, reason FROM password_change ORDER BY uid");
  if (!p) return p.error();
  std::vector<std::pair<int64_t, PasswordChangeRecord>> out;
  int rc;
  while ((rc = p->step()) == SQLITE_ROW) out.emplace_back(p->int64(0), change_at(*p, 1));
  if (rc != SQLITE_DONE) return sql_error("list password changes");
  return out;
}

Result<std::optional<SessionRecord>> SqliteStore::load_session(const std::string& boot, uint32_t id) {
  auto p = prepare("SELECT uid, device, at FROM sessions WHERE boot=?1 AND id=?2");
  if (!p) return p.error();
  p->bind_text(1, boot);
  p->bind_int64(2, id);
  int rc = p->step();
  if (rc == SQLITE_DONE) return std::optional<SessionRecord>{};
  if (rc != SQLITE_ROW) return sql_error("load session");
  return std::optional<SessionRecord>(SessionRecord{id, p->int64(0), p->text(1), from_epoch(p->int64(2))});
}

Status SqliteStore::put_session(const std::string& boot, const SessionRecord& s) {
  // The first record of a session stays: a later Session.Open for the same
  // id (sudo's or su's own session phase) never replaces the login's device.
  auto p = prepare("INSERT INTO sessions(boot, id, uid, device, at) VALUES(?1,?2,?3,?4,?5)"
                   " ON CONFLICT(boot, id) DO NOTHING");
  if (!p) return p.error();
  p->bind_text(1, boot);
  p->bind_int64(2, s.id);
  p->bind_int64(3, s.uid);
  p->bind_text(4, s.device);
  p->bind_int64(5, to_epoch(s.at));
  if (p->step() != SQLITE_DONE) return sql_error("write session");
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
    p->bind_text(1, boot);
    p->bind_int64(2, to_epoch(before));
    p->bind_int64(3, keep);
    if (p->step() != SQLITE_DONE) {
      rollback();
      return sql_error("prune sessions");
    }
  }
  return commit();
}

}  // namespace vigil
