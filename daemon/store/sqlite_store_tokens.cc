// SqliteStore: API tokens (their hashes only), the token freeze, and the
// outbox of revocations for the hooks. See sqlite_store.h for the contract.
#include <sqlite3.h>

#include <string>
#include <utility>
#include <vector>

#include "daemon/store/sqlite_statement.h"
#include "daemon/store/sqlite_store.h"
#include "daemon/store/sqlite_store_internal.h"

namespace vigil {
namespace {

std::string join_scopes(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& x : v) {
    if (!out.empty()) out.push_back(' ');
    out += x;
  }
  return out;
}

std::vector<std::string> split_scopes(const std::string& s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    auto sp = s.find(' ', i);
    if (sp == std::string::npos) sp = s.size();
    if (sp > i) out.push_back(s.substr(i, sp - i));
    i = sp + 1;
  }
  return out;
}

tokens::Token token_at(const Statement& st) {
  tokens::Token t;
  t.accessor = st.text(0);
  t.hash = st.bytes(1);
  t.owner_uid = st.int64(2);
  t.owner = st.text(3);
  t.name = st.text(4);
  t.scopes = split_scopes(st.text(5));
  t.created_by_uid = st.int64(6);
  t.created_by = st.text(7);
  t.created = from_epoch(st.int64(8));
  t.expires = from_epoch(st.int64(9));
  t.state = tokens::parse_state(st.text(10)).value_or(tokens::State::kRevoked);
  t.state_reason = st.text(11);
  t.state_changed = from_epoch(st.int64(12));
  return t;
}

}  // namespace

Result<std::vector<tokens::Token>> SqliteStore::list_tokens() {
  auto p = prepare(
      "SELECT accessor, hash, owner_uid, owner, name, scopes, created_by_uid, created_by, created,"
      " expires, state, state_reason, state_changed FROM tokens ORDER BY created, accessor");
  if (!p) return p.error();
  std::vector<tokens::Token> out;
  int rc;
  while ((rc = p->step()) == SQLITE_ROW) out.push_back(token_at(*p));
  if (rc != SQLITE_DONE) return sql_error("list tokens");
  return out;
}

Status SqliteStore::put_token(const tokens::Token& t) {
  const std::string scopes = join_scopes(t.scopes);
  return run(
      "INSERT INTO tokens(accessor, hash, owner_uid, owner, name, scopes, created_by_uid, created_by,"
      " created, expires, state, state_reason, state_changed) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)"
      " ON CONFLICT(accessor) DO UPDATE SET state=excluded.state, state_reason=excluded.state_reason,"
      " state_changed=excluded.state_changed",
      [&](Statement& st) {
        st.bind_text(1, t.accessor);
        st.bind_blob(2, t.hash.data(), t.hash.size());
        st.bind_int64(3, t.owner_uid);
        st.bind_text(4, t.owner);
        st.bind_text(5, t.name);
        st.bind_text(6, scopes);
        st.bind_int64(7, t.created_by_uid);
        st.bind_text(8, t.created_by);
        st.bind_int64(9, to_epoch(t.created));
        st.bind_int64(10, to_epoch(t.expires));
        st.bind_text(11, tokens::state_name(t.state));
        st.bind_text(12, t.state_reason);
        st.bind_int64(13, to_epoch(t.state_changed));
      });
}

Result<std::vector<FreezeRecord>> SqliteStore::list_freezes() {
  auto p = prepare("SELECT uid, name, since, reason FROM token_freeze ORDER BY since");
  if (!p) return p.error();
  std::vector<FreezeRecord> out;
  int rc;
  while ((rc = p->step()) == SQLITE_ROW)
    out.push_back(FreezeRecord{p->int64(0), p->text(1), from_epoch(p->int64(2)), p->text(3)});
  if (rc != SQLITE_DONE) return sql_error("list freezes");
  return out;
}

Status SqliteStore::put_freeze(const FreezeRecord& f) {
  return run("INSERT OR REPLACE INTO token_freeze(uid, name, since, reason) VALUES(?1,?2,?3,?4)",
             [&](Statement& st) {
               st.bind_int64(1, f.uid);
               st.bind_text(2, f.name);
               st.bind_int64(3, to_epoch(f.since));
               st.bind_text(4, f.reason);
             });
}

Status SqliteStore::erase_freeze(int64_t uid) {
  return run("DELETE FROM token_freeze WHERE uid=?1", [&](Statement& st) { st.bind_int64(1, uid); });
}

Status SqliteStore::add_outbox(const OutboxItem& item) {
  return run("INSERT INTO outbox(payload, done_hooks, attempts, next_at, created) VALUES(?1,?2,?3,?4,?5)",
             [&](Statement& st) {
               st.bind_text(1, item.payload);
               st.bind_text(2, item.done_hooks);
               st.bind_int(3, item.attempts);
               st.bind_int64(4, to_epoch(item.next_at));
               st.bind_int64(5, to_epoch(item.created));
             });
}

Result<std::vector<OutboxItem>> SqliteStore::list_outbox() {
  auto p = prepare("SELECT id, payload, done_hooks, attempts, next_at, created FROM outbox ORDER BY id");
  if (!p) return p.error();
  std::vector<OutboxItem> out;
  int rc;
  while ((rc = p->step()) == SQLITE_ROW)
    out.push_back(OutboxItem{p->int64(0), p->text(1), p->text(2), p->int32(3), from_epoch(p->int64(4)),
                             from_epoch(p->int64(5))});
  if (rc != SQLITE_DONE) return sql_error("list outbox");
  return out;
}

Status SqliteStore::update_outbox(const OutboxItem& item) {
  return run("UPDATE outbox SET done_hooks=?2, attempts=?3, next_at=?4 WHERE id=?1", [&](Statement& st) {
    st.bind_int64(1, item.id);
    st.bind_text(2, item.done_hooks);
    st.bind_int(3, item.attempts);
    st.bind_int64(4, to_epoch(item.next_at));
  });
}

Status SqliteStore::erase_outbox(int64_t id) {
  return run("DELETE FROM outbox WHERE id=?1", [&](Statement& st) { st.bind_int64(1, id); });
}

}  // namespace vigil
