// SqliteStore: the throttle's buckets (one row per account, unknown name or
// source), the on-disk form of their failure lists, and pruning them. See
// sqlite_store.h for the contract.
#include <sqlite3.h>

#include <charconv>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/store/sqlite_statement.h"
#include "daemon/store/sqlite_store.h"
#include "daemon/store/sqlite_store_internal.h"

namespace vigil {
namespace {

// Failure times on disk: a BLOB of varints (LEB128, zigzag), the first the
// time in epoch seconds, each next one its difference from the one before.
// A storm's failures share their seconds, so the longest list (deny=1000)
// takes about a kilobyte and stays in its row's page; as decimal text it
// took eleven and spilled onto overflow pages, all rewritten on each
// failure. Databases written before hold decimal text ("t1 t2 ..."): both
// are read, and the next write of the row converts it.
// Arithmetic on the differences is unsigned: it wraps instead of
// overflowing, and still round-trips every 64-bit time.
void put_varint(std::string& out, unsigned long long delta) {
  // Zigzag: small negative differences (a clock stepped back) stay short.
  auto u = (delta << 1) ^ (0ULL - (delta >> 63));
  do {
    unsigned char b = u & 0x7f;
    u >>= 7;
    out.push_back(static_cast<char>(u ? b | 0x80 : b));
  } while (u);
}

std::vector<TimePoint> decode_failure_text(std::string_view s) {
  std::vector<TimePoint> out;
  while (!s.empty()) {
    auto sp = s.find(' ');
    auto tok = s.substr(0, sp);
    long long v = 0;
    auto [p, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), v);
    if (ec == std::errc() && p == tok.data() + tok.size()) out.push_back(from_epoch(v));
    if (sp == std::string_view::npos) break;
    s.remove_prefix(sp + 1);
  }
  return out;
}

// A truncated or overlong varint ends the list: what came before is kept.
std::vector<TimePoint> decode_failure_blob(std::string_view s) {
  std::vector<TimePoint> out;
  out.reserve(s.size());
  unsigned long long prev = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    unsigned long long u = 0;
    int shift = 0;
    bool done = false;
    while (i < s.size() && shift < 64) {
      auto b = static_cast<unsigned char>(s[i++]);
      u |= static_cast<unsigned long long>(b & 0x7f) << shift;
      shift += 7;
      if (!(b & 0x80)) {
        done = true;
        break;
      }
    }
    if (!done) break;
    prev += (u >> 1) ^ (0ULL - (u & 1));
    out.push_back(from_epoch(static_cast<long long>(prev)));
  }
  return out;
}

// "epoch\tsource\n" per entry; sources never hold tabs or newlines.
std::string encode_sources(const std::vector<std::pair<std::string, TimePoint>>& v) {
  std::string out;
  for (const auto& [src, at] : v) {
    out += std::to_string(to_epoch(at));
    out += '\t';
    for (char c : src) out.push_back(c == '\t' || c == '\n' ? '?' : c);
    out += '\n';
  }
  return out;
}

std::vector<std::pair<std::string, TimePoint>> decode_sources(std::string_view s) {
  std::vector<std::pair<std::string, TimePoint>> out;
  while (!s.empty()) {
    auto nl = s.find('\n');
    auto line = s.substr(0, nl);
    s = nl == std::string_view::npos ? std::string_view{} : s.substr(nl + 1);
    auto tab = line.find('\t');
    if (tab == std::string_view::npos) continue;
    long long at = 0;
    std::from_chars(line.data(), line.data() + tab, at);
    out.emplace_back(std::string(line.substr(tab + 1)), from_epoch(at));
  }
  return out;
}

BucketRecord read_row(const Statement& st) {
  BucketRecord r;
  r.key = st.text(0);
  if (st.type(1) != SQLITE_NULL) r.uid = st.int64(1);
  r.name = st.text(2);
  r.state.failures = column_failures(st, 3);
  r.state.locked_until = from_epoch(st.int64(4));
  r.state.lock_count = st.int32(5);
  r.state.refused = st.int64(6);
  r.state.last_failure = from_epoch(st.int64(7));
  r.state.last_success = from_epoch(st.int64(8));
  r.state.sources = decode_sources(st.text(9));
  r.escalation = st.int32(10);
  return r;
}

constexpr char kColumns[] =
    "key, uid, name, failures, locked_until, lock_count, refused, last_failure, last_success, sources,"
    " escalation";

}  // namespace

std::string encode_failures(const std::vector<TimePoint>& f) {
  std::string out;
  out.reserve(f.size() + 8);
  unsigned long long prev = 0;
  for (auto t : f) {
    const auto now = static_cast<unsigned long long>(to_epoch(t));
    put_varint(out, now - prev);
    prev = now;
  }
  return out;
}

std::vector<TimePoint> column_failures(const Statement& st, int col) {
  // The type first: SQLite leaves it undefined after a conversion.
  const int type = st.type(col);
  if (type != SQLITE_BLOB && type != SQLITE_TEXT) return {};
  const std::string_view v = st.view(col);
  return type == SQLITE_BLOB ? decode_failure_blob(v) : decode_failure_text(v);
}

void bind_failures(Statement& st, int col, const std::string& encoded) {
  // Never a null pointer: that would bind NULL, not an empty list.
  st.bind_blob_copy(col, encoded.data(), encoded.size());
}

Status SqliteStore::prepare_buckets() {
  auto load = prepare_kept(("SELECT " + std::string(kColumns) + " FROM buckets WHERE key=?1").c_str());
  if (!load) return load.error();
  // A bucket's uid hardly ever changes, and its updated_at serves only the
  // prune: setting both on every write rewrote a page of each index
  // (buckets_uid, buckets_updated), two of the five pages a failure
  // committed. The variants leave out what the caller knows is unchanged.
  auto statement = [&](bool same_uid, bool same_updated) {
    std::string set = "name=excluded.name,"
                      " failures=excluded.failures, locked_until=excluded.locked_until,"
                      " lock_count=excluded.lock_count, refused=excluded.refused,"
                      " last_failure=excluded.last_failure, last_success=excluded.last_success,"
                      " sources=excluded.sources, escalation=excluded.escalation";
    if (!same_uid) set += ", uid=excluded.uid";
    if (!same_updated) set += ", updated_at=excluded.updated_at";
    return prepare_kept(
        ("INSERT INTO buckets(key, uid, name, failures, locked_until, lock_count, refused,"
         " last_failure, last_success, updated_at, sources, escalation)"
         " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)"
         " ON CONFLICT(key) DO UPDATE SET " + set).c_str());
  };
  auto statements = std::make_unique<BucketStatements>();
  statements->load = std::move(*load);
  for (int uid = 0; uid < 2; ++uid)
    for (int updated = 0; updated < 2; ++updated) {
      auto put = statement(uid != 0, updated != 0);
      if (!put) return put.error();
      statements->put[uid][updated] = std::move(*put);
    }
  auto erase = prepare_kept("DELETE FROM buckets WHERE key=?1");
  if (!erase) return erase.error();
  statements->erase = std::move(*erase);
  buckets_ = std::move(statements);
  return Ok{};
}

Result<std::optional<BucketRecord>> SqliteStore::load(const std::string& key) {
  Statement& st = buckets_->load;
  Statement::Reuse guard(st);
  st.bind_text(1, key);
  int rc = st.step();
  if (rc == SQLITE_DONE) return std::optional<BucketRecord>{};
  if (rc != SQLITE_ROW) return sql_error("load");
  return std::optional<BucketRecord>(read_row(st));
}

Status SqliteStore::put(const BucketRecord& r, TimePoint now, Unchanged unchanged) {
  Statement& st = buckets_->put[unchanged.uid][unchanged.updated];
  Statement::Reuse guard(st);
  std::string failures = encode_failures(r.state.failures);
  st.bind_text(1, r.key);
  if (r.uid) st.bind_int64(2, *r.uid); else st.bind_null(2);
  if (!r.name.empty())
    st.bind_text(3, r.name);
  else
    st.bind_null(3);
  bind_failures(st, 4, failures);
  st.bind_int64(5, to_epoch(r.state.locked_until));
  st.bind_int(6, r.state.lock_count);
  st.bind_int64(7, r.state.refused);
  st.bind_int64(8, to_epoch(r.state.last_failure));
  st.bind_int64(9, to_epoch(r.state.last_success));
  st.bind_int64(10, to_epoch(now));
  std::string sources = encode_sources(r.state.sources);
  st.bind_text(11, sources);
  st.bind_int(12, r.escalation);
  if (st.step() != SQLITE_DONE) return sql_error("write bucket");
  return Ok{};
}

Status SqliteStore::erase(const std::string& key) {
  Statement& st = buckets_->erase;
  Statement::Reuse guard(st);
  st.bind_text(1, key);
  if (st.step() != SQLITE_DONE) return sql_error("delete bucket");
  return Ok{};
}

Result<std::vector<BucketRecord>> SqliteStore::list_accounts() {
  auto p = prepare(("SELECT " + std::string(kColumns) +
                    " FROM buckets WHERE uid IS NOT NULL ORDER BY uid, key").c_str());
  if (!p) return p.error();
  std::vector<BucketRecord> out;
  int rc;
  while ((rc = p->step()) == SQLITE_ROW) out.push_back(read_row(*p));
  if (rc != SQLITE_DONE) return sql_error("list");
  return out;
}

Result<std::vector<BucketRecord>> SqliteStore::list_sources() {
  // 's' < 'src:' < 'src;' in key order: a range the primary key index serves.
  auto p = prepare(("SELECT " + std::string(kColumns) +
                    " FROM buckets WHERE key >= 'src:' AND key < 'src;' ORDER BY key").c_str());
  if (!p) return p.error();
  std::vector<BucketRecord> out;
  int rc;
  while ((rc = p->step()) == SQLITE_ROW) out.push_back(read_row(*p));
  if (rc != SQLITE_DONE) return sql_error("list of sources");
  return out;
}

Result<std::vector<BucketRecord>> SqliteStore::buckets_of(int64_t uid) {
  auto p = prepare(("SELECT " + std::string(kColumns) + " FROM buckets WHERE uid=?1 ORDER BY key").c_str());
  if (!p) return p.error();
  p->bind_int64(1, uid);
  std::vector<BucketRecord> out;
  int rc;
  while ((rc = p->step()) == SQLITE_ROW) out.push_back(read_row(*p));
  if (rc != SQLITE_DONE) return sql_error("buckets of an account");
  return out;
}

Result<int64_t> SqliteStore::prune(TimePoint now, TimePoint cutoff, int64_t max_unknown,
                                   std::chrono::seconds decay_step) {
  if (auto s = begin(); !s) return s.error();
  // A lock count decays one lock per step once the last lock has ended, so
  // it is gone for good by last_failure + (lock_count + 1) steps.
  int64_t n = 0;
  {
    auto p = prepare(
        "DELETE FROM buckets WHERE updated_at < ?1 - ?4 AND locked_until <= ?2 AND"
        " (lock_count = 0 OR last_failure + (lock_count + 1) * ?3 < ?2)");
    if (!p) {
      rollback();
      return p.error();
    }
    p->bind_int64(1, to_epoch(cutoff));
    p->bind_int64(2, to_epoch(now));
    p->bind_int64(3, decay_step.count());
    p->bind_int64(4, kUpdatedLag.count());  // updated_at may lag the last write
    if (p->step() != SQLITE_DONE) {
      rollback();
      return sql_error("prune");
    }
    n = sqlite3_changes(db_);
  }
  {
    auto q = prepare(
        "DELETE FROM buckets WHERE key IN (SELECT key FROM buckets WHERE uid IS NULL"
        " AND locked_until <= ?2 ORDER BY updated_at DESC LIMIT -1 OFFSET ?1)");
    if (!q) {
      rollback();
      return q.error();
    }
    q->bind_int64(1, max_unknown);
    q->bind_int64(2, to_epoch(now));
    if (q->step() != SQLITE_DONE) {
      rollback();
      return sql_error("prune unknown names");
    }
    n += sqlite3_changes(db_);
  }
  auto failures = prune_failures(cutoff);
  if (!failures) {
    rollback();
    return failures.error();
  }
  n += *failures;
  if (auto s = commit(); !s) return s.error();
  // The prune is committed; a failed shrink costs only disk space, and the
  // next prune tries again.
  if (n > 0) (void)give_back_space();
  return n;
}

Result<int64_t> SqliteStore::count_locked(TimePoint now) {
  auto p = prepare("SELECT count(*) FROM buckets WHERE uid IS NOT NULL AND locked_until > ?1");
  if (!p) return p.error();
  p->bind_int64(1, to_epoch(now));
  int rc = p->step();
  int64_t n = rc == SQLITE_ROW ? p->int64(0) : -1;
  if (n < 0) return sql_error("count");
  return n;
}

}  // namespace vigil
