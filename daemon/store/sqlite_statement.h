// Statement: one prepared SQLite statement, owned by one object and
// finalized when the object goes. Private to the SQLite store.
//
// Contract:
//  * Move-only. An empty Statement (made by default, moved from, or after a
//    failed prepare()) holds none; on it only prepare(), operator bool and
//    the destructor may be called.
//  * prepare() returns SQLite's code, as sqlite3_prepare_v3 with `flags`
//    (0 is sqlite3_prepare_v2); the statement held before is finalized
//    first. The caller makes its own Error of a failure: while the
//    Statement lives, sqlite3_errmsg still tells the last step's error.
//  * Indexes are SQLite's: binds count from 1, columns from 0. Text and
//    blobs are bound without a copy unless the name says _copy: what they
//    point at must outlive the step that reads them.
//  * step() returns SQLite's code (SQLITE_ROW, SQLITE_DONE or an error).
//    reset() makes the statement ready to run again and clears its
//    bindings; a Statement::Reuse does it when its scope ends, for a
//    statement kept prepared from one call to the next.
//  * Columns read as SQLite converts them; text() of NULL is "", view()
//    and bytes() of NULL are empty.
//
// StatementCache: statements kept prepared from one use to the next, by
// their SQL text, so that a login does not parse SQL (sqlite3_prepare is
// most of a small statement's cost).
//  * lease() hands out the cached statement for `sql`, preparing it on first
//    use. A lease is exclusive: while one is out, lease() of the same text
//    prepares a statement for that lease alone (a nested use never shares
//    a cursor). Beyond `capacity` texts nothing more is kept.
//  * When a StatementLease goes, its statement is reset and its bindings
//    cleared (a cached one is ready for the next lease; another is
//    finalized). So nothing bound outlives the lease.
//  * clear() finalizes every cached statement; no lease may be out. The
//    owner calls it before sqlite3_close. Not thread-safe: one per
//    connection, used by that connection's thread.
#pragma once

#include <sqlite3.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace vigil {

class Statement {
 public:
  Statement() = default;
  ~Statement() { finalize(); }
  Statement(Statement&& other) noexcept : st_(std::exchange(other.st_, nullptr)) {}
  Statement& operator=(Statement&& other) noexcept {
    if (this != &other) {
      finalize();
      st_ = std::exchange(other.st_, nullptr);
    }
    return *this;
  }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  int prepare(sqlite3* db, const char* sql, unsigned flags = 0) {
    finalize();
    return sqlite3_prepare_v3(db, sql, -1, flags, &st_, nullptr);
  }
  explicit operator bool() const { return st_ != nullptr; }

  void bind_int64(int idx, int64_t v) { sqlite3_bind_int64(st_, idx, v); }
  void bind_int(int idx, int v) { sqlite3_bind_int(st_, idx, v); }
  void bind_null(int idx) { sqlite3_bind_null(st_, idx); }
  void bind_text(int idx, std::string_view s) {
    sqlite3_bind_text(st_, idx, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
  }
  void bind_blob(int idx, const void* data, std::size_t n) {
    sqlite3_bind_blob(st_, idx, data, static_cast<int>(n), SQLITE_STATIC);
  }
  void bind_blob_copy(int idx, const void* data, std::size_t n) {
    sqlite3_bind_blob(st_, idx, data, static_cast<int>(n), SQLITE_TRANSIENT);
  }

  int step() { return sqlite3_step(st_); }
  void reset() {
    sqlite3_reset(st_);
    sqlite3_clear_bindings(st_);
  }

  int type(int col) const { return sqlite3_column_type(st_, col); }
  int64_t int64(int col) const { return sqlite3_column_int64(st_, col); }
  int int32(int col) const { return sqlite3_column_int(st_, col); }
  std::string text(int col) const {
    const auto* p = sqlite3_column_text(st_, col);
    return p ? reinterpret_cast<const char*>(p) : "";
  }
  // The column's bytes (a blob, or text without its NUL), valid until the
  // next step, reset or conversion of this column.
  std::string_view view(int col) const {
    const auto* p = static_cast<const char*>(sqlite3_column_blob(st_, col));
    return std::string_view(p ? p : "", static_cast<std::size_t>(sqlite3_column_bytes(st_, col)));
  }
  std::vector<uint8_t> bytes(int col) const {
    const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(st_, col));
    const int n = sqlite3_column_bytes(st_, col);
    return p && n > 0 ? std::vector<uint8_t>(p, p + n) : std::vector<uint8_t>{};
  }

  // Resets a kept statement when the scope ends, whatever way it ends.
  class Reuse {
   public:
    explicit Reuse(Statement& st) : st_(st) {}
    ~Reuse() { st_.reset(); }
    Reuse(const Reuse&) = delete;
    Reuse& operator=(const Reuse&) = delete;

   private:
    Statement& st_;
  };

 private:
  void finalize() { sqlite3_finalize(std::exchange(st_, nullptr)); }

  sqlite3_stmt* st_ = nullptr;
};

class StatementLease;

class StatementCache {
 public:
  explicit StatementCache(std::size_t capacity) : capacity_(capacity) {}
  StatementCache(const StatementCache&) = delete;
  StatementCache& operator=(const StatementCache&) = delete;

  // SQLite's code; on SQLITE_OK `out` holds the statement.
  int lease(sqlite3* db, const char* sql, unsigned flags, StatementLease& out);
  void clear() { kept_.clear(); }
  std::size_t size() const { return kept_.size(); }

 private:
  friend class StatementLease;
  struct Kept {
    Statement st;
    bool leased = false;
  };
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::size_t capacity_;
  std::unordered_map<std::string, std::unique_ptr<Kept>, Hash, std::equal_to<>> kept_;
};

class StatementLease {
 public:
  StatementLease() = default;
  ~StatementLease() { release(); }
  StatementLease(StatementLease&& other) noexcept
      : kept_(std::exchange(other.kept_, nullptr)), own_(std::move(other.own_)) {}
  StatementLease& operator=(StatementLease&& other) noexcept {
    if (this != &other) {
      release();
      kept_ = std::exchange(other.kept_, nullptr);
      own_ = std::move(other.own_);
    }
    return *this;
  }
  StatementLease(const StatementLease&) = delete;
  StatementLease& operator=(const StatementLease&) = delete;

  Statement& operator*() { return kept_ ? kept_->st : own_; }
  Statement* operator->() { return &**this; }
  // Whether the statement is the cache's (false: prepared for this lease).
  bool cached() const { return kept_ != nullptr; }

 private:
  friend class StatementCache;
  void release() {
    if (kept_) {
      kept_->st.reset();
      kept_->leased = false;
      kept_ = nullptr;
    } else if (own_) {
      own_ = Statement();
    }
  }
  StatementCache::Kept* kept_ = nullptr;
  Statement own_;
};

inline int StatementCache::lease(sqlite3* db, const char* sql, unsigned flags, StatementLease& out) {
  out = StatementLease();
  const std::string_view text(sql);
  auto it = kept_.find(text);
  if (it != kept_.end() && !it->second->leased) {
    it->second->leased = true;
    out.kept_ = it->second.get();
    return SQLITE_OK;
  }
  Statement st;
  const int rc = st.prepare(db, sql, flags);
  if (rc != SQLITE_OK) return rc;
  if (it == kept_.end() && kept_.size() < capacity_) {
    auto kept = std::make_unique<Kept>();
    kept->st = std::move(st);
    kept->leased = true;
    out.kept_ = kept.get();
    kept_.emplace(std::string(text), std::move(kept));
    return SQLITE_OK;
  }
  out.own_ = std::move(st);
  return SQLITE_OK;
}

}  // namespace vigil
