// SqliteStore: the second factor (sealed TOTP secrets) and recovery codes.
// See sqlite_store.h for the contract.
#include <sqlite3.h>

#include <string>
#include <utility>
#include <vector>

#include "daemon/store/sqlite_statement.h"
#include "daemon/store/sqlite_store.h"
#include "daemon/store/sqlite_store_internal.h"

namespace vigil {
namespace {

// Empty bytes are stored as NULL.
void bind_bytes(Statement& st, int idx, const Bytes& b) {
  if (b.empty()) st.bind_null(idx);
  else st.bind_blob(idx, b.data(), b.size());
}

}  // namespace

Result<std::optional<TotpRecord>> SqliteStore::load_totp(int64_t uid) {
  auto p = prepare(
      "SELECT active_box, pending_box, pending_at, last_step, confirmed_at, otp_failures,"
      " required_since FROM totp WHERE uid=?1");
  if (!p) return p.error();
  p->bind_int64(1, uid);
  int rc = p->step();
  if (rc == SQLITE_DONE) return std::optional<TotpRecord>{};
  if (rc != SQLITE_ROW) return sql_error("load totp");
  TotpRecord r;
  r.uid = uid;
  r.active_box = p->bytes(0);
  r.pending_box = p->bytes(1);
  r.pending_at = from_epoch(p->int64(2));
  r.last_step = p->int64(3);
  r.confirmed_at = from_epoch(p->int64(4));
  r.otp_failures = column_failures(*p, 5);
  r.required_since = from_epoch(p->int64(6));
  return std::optional<TotpRecord>(std::move(r));
}

Status SqliteStore::put_totp(const TotpRecord& r) {
  std::string failures = encode_failures(r.otp_failures);
  return run(
      "INSERT INTO totp(uid, active_box, pending_box, pending_at, last_step, confirmed_at,"
      " otp_failures, required_since) VALUES(?1,?2,?3,?4,?5,?6,?7,?8)"
      " ON CONFLICT(uid) DO UPDATE SET active_box=excluded.active_box,"
      " pending_box=excluded.pending_box, pending_at=excluded.pending_at,"
      " last_step=excluded.last_step, confirmed_at=excluded.confirmed_at,"
      " otp_failures=excluded.otp_failures, required_since=excluded.required_since",
      [&](Statement& st) {
        st.bind_int64(1, r.uid);
        bind_bytes(st, 2, r.active_box);
        bind_bytes(st, 3, r.pending_box);
        st.bind_int64(4, to_epoch(r.pending_at));
        st.bind_int64(5, r.last_step);
        st.bind_int64(6, to_epoch(r.confirmed_at));
        bind_failures(st, 7, failures);
        st.bind_int64(8, to_epoch(r.required_since));
      });
}

Status SqliteStore::erase_totp(int64_t uid) {
  return run("DELETE FROM totp WHERE uid=?1", [&](Statement& st) { st.bind_int64(1, uid); });
}

Result<int64_t> SqliteStore::count_totp_secrets() {
  return scalar("SELECT count(*) FROM totp WHERE active_box IS NOT NULL OR pending_box IS NOT NULL",
                0, false);
}

Result<std::optional<Bytes>> SqliteStore::any_sealed_secret() {
  auto p = prepare("SELECT coalesce(active_box, pending_box) FROM totp"
                   " WHERE active_box IS NOT NULL OR pending_box IS NOT NULL LIMIT 1");
  if (!p) return p.error();
  int rc = p->step();
  std::optional<Bytes> out;
  if (rc == SQLITE_ROW) out = p->bytes(0);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return sql_error("sealed secret");
  return out;
}

Result<std::vector<int64_t>> SqliteStore::totp_active_uids() {
  auto p = prepare("SELECT uid FROM totp WHERE active_box IS NOT NULL");
  if (!p) return p.error();
  std::vector<int64_t> out;
  int rc;
  while ((rc = p->step()) == SQLITE_ROW) out.push_back(p->int64(0));
  if (rc != SQLITE_DONE) return sql_error("list factors");
  return out;
}

Status SqliteStore::replace_recovery_codes(int64_t uid,
                                           const std::vector<std::pair<std::string, Bytes>>& codes) {
  if (auto s = run("DELETE FROM recovery_codes WHERE uid=?1", [&](Statement& st) { st.bind_int64(1, uid); });
      !s)
    return s;
  for (const auto& code : codes) {
    if (auto s = run("INSERT INTO recovery_codes(uid, code_id, hash) VALUES(?1,?2,?3)",
                     [&](Statement& st) {
                       st.bind_int64(1, uid);
                       st.bind_text(2, code.first);
                       bind_bytes(st, 3, code.second);
                     });
        !s)
      return s;
  }
  return Ok{};
}

Result<std::optional<Bytes>> SqliteStore::load_recovery_code(int64_t uid, const std::string& id) {
  auto p = prepare("SELECT hash FROM recovery_codes WHERE uid=?1 AND code_id=?2");
  if (!p) return p.error();
  p->bind_int64(1, uid);
  p->bind_text(2, id);
  int rc = p->step();
  std::optional<Bytes> out;
  if (rc == SQLITE_ROW) out = p->bytes(0);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return sql_error("load recovery code");
  return out;
}

Status SqliteStore::erase_recovery_code(int64_t uid, const std::string& id) {
  return run("DELETE FROM recovery_codes WHERE uid=?1 AND code_id=?2", [&](Statement& st) {
    st.bind_int64(1, uid);
    st.bind_text(2, id);
  });
}

Result<int64_t> SqliteStore::count_recovery_codes(int64_t uid) {
  return scalar("SELECT count(*) FROM recovery_codes WHERE uid=?1", uid, true);
}

Result<std::map<int64_t, int64_t>> SqliteStore::recovery_code_counts() {
  auto p = prepare("SELECT uid, count(*) FROM recovery_codes GROUP BY uid");
  if (!p) return p.error();
  std::map<int64_t, int64_t> out;
  int rc;
  while ((rc = p->step()) == SQLITE_ROW) out[p->int64(0)] = p->int64(1);
  if (rc != SQLITE_DONE) return sql_error("recovery code counts");
  return out;
}

}  // namespace vigil
