#include "daemon/fleet/pg.h"

#include <libpq-fe.h>
#include <sodium.h>

#include <algorithm>
#include <boost/asio/post.hpp>

#include "protocol/wipe.h"

namespace vigil::fleet {
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {
// A connection attempt that has not finished by then is given up.
constexpr std::chrono::seconds kConnectTimeout{5};

std::string pq_error(PGconn* c) {
  std::string m = c ? PQerrorMessage(c) : "out of memory";
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m.empty() ? std::string("connection lost") : m;
}

Result<Rows> rows_of(PGresult* res) {
  Rows out;
  const int nf = PQnfields(res), nt = PQntuples(res);
  out.columns.reserve(static_cast<std::size_t>(nf));
  for (int f = 0; f < nf; ++f) out.columns.emplace_back(PQfname(res, f));
  out.rows.reserve(static_cast<std::size_t>(nt));
  for (int t = 0; t < nt; ++t) {
    Row row;
    row.reserve(static_cast<std::size_t>(nf));
    for (int f = 0; f < nf; ++f)
      row.push_back(PQgetisnull(res, t, f) ? Value() : Value(std::string(PQgetvalue(res, t, f),
                                                                        static_cast<std::size_t>(PQgetlength(res, t, f)))));
    out.rows.push_back(std::move(row));
  }
  // The values may be secrets (a new factor's, recovery codes): not left
  // in the freed result.
  for (int t = 0; t < nt; ++t)
    for (int f = 0; f < nf; ++f)
      if (int len = PQgetlength(res, t, f); len > 0) sodium_memzero(PQgetvalue(res, t, f), static_cast<std::size_t>(len));
  return out;
}

Error statement_error(PGresult* res) {
  std::string m = PQresultErrorMessage(res);
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
  // 42501: insufficient privilege (a quarantined or unknown host, a role
  // without the grant): refused, not unavailable.
  if (state && std::string_view(state) == "42501") return Error::Refused(m);
  return Error::Store(m.empty() ? std::string("statement failed") : m);
}
}  // namespace

int Rows::column(std::string_view name) const {
  for (std::size_t i = 0; i < columns.size(); ++i)
    if (columns[i] == name) return static_cast<int>(i);
  return -1;
}

PgConnection::PgConnection(asio::any_io_executor ex, Options options)
    : ex_(ex), opt_(std::move(options)), deadline_(ex), backoff_timer_(ex) {}

PgConnection::~PgConnection() { close(); }

void PgConnection::start() {
  if (state_ != State::kIdle) return;
  connect();
}

void PgConnection::stop() {
  fail("vigild is stopping");
  state_ = State::kStopped;
  backoff_timer_.cancel();
}

void PgConnection::close() {
  ++generation_;
  waiting_read_ = waiting_write_ = false;
  deadline_.cancel();
  if (sock_) {
    boost::system::error_code ec;
    sock_->cancel(ec);
    sock_->release();  // the fd is libpq's
    sock_.reset();
  }
  if (conn_) {
    PQfinish(conn_);
    conn_ = nullptr;
  }
}

void PgConnection::connect() {
  close();
  refused_ = false;
  std::vector<const char*> keys, values;
  for (const auto& [k, v] : opt_.params) {
    keys.push_back(k.c_str());
    values.push_back(v.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  conn_ = PQconnectStartParams(keys.data(), values.data(), 1);
  if (!conn_ || PQstatus(conn_) == CONNECTION_BAD) return fail(pq_error(conn_));
  state_ = State::kConnecting;
  const uint64_t gen = generation_;
  deadline_.expires_after(kConnectTimeout);
  deadline_.async_wait([this, gen](boost::system::error_code ec) {
    if (ec || gen != generation_ || state_ != State::kConnecting) return;
    fail("no connection within " + std::to_string(kConnectTimeout.count()) + "s");
  });
  poll_connect();
}

void PgConnection::poll_connect() {
  switch (PQconnectPoll(conn_)) {
    case PGRES_POLLING_READING:
      // libpq may have opened another socket (the next host or address): wrap afresh.
      if (sock_) {
        boost::system::error_code ec;
        sock_->cancel(ec);
        sock_->release();
        sock_.reset();
      }
      return wait_socket(false, &PgConnection::poll_connect);
    case PGRES_POLLING_WRITING:
      if (sock_) {
        boost::system::error_code ec;
        sock_->cancel(ec);
        sock_->release();
        sock_.reset();
      }
      return wait_socket(true, &PgConnection::poll_connect);
    case PGRES_POLLING_FAILED:
      return fail(pq_error(conn_));
    default:
      break;
  }
  // Connected: non-blocking sends, pipeline mode, then every statement
  // prepared in one pipeline, answered as one sync.
  deadline_.cancel();
  if (PQsetnonblocking(conn_, 1) != 0 || PQenterPipelineMode(conn_) != 1) return fail(pq_error(conn_));
  for (const auto& s : opt_.statements)
    if (!PQsendPrepare(conn_, s.name.c_str(), s.sql.c_str(), s.params, nullptr)) return fail(pq_error(conn_));
  for (const auto& ch : opt_.listen) {
    const std::string sql = "LISTEN \"" + ch + "\"";
    if (!PQsendQueryParams(conn_, sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0)) return fail(pq_error(conn_));
  }
  if (!PQpipelineSync(conn_)) return fail(pq_error(conn_));
  state_ = State::kPreparing;
  calls_.push_back(Call{{}, Clock::now(), std::nullopt, true});
  arm_deadline();
  flush();
  if (conn_ && !waiting_read_) wait_socket(false, &PgConnection::on_readable);
}

void PgConnection::wait_socket(bool write, void (PgConnection::*then)()) {
  const int fd = PQsocket(conn_);
  if (fd < 0) return fail("the connection has no socket");
  if (!sock_) sock_.emplace(ex_, fd);
  bool& flag = write ? waiting_write_ : waiting_read_;
  flag = true;
  const uint64_t gen = generation_;
  sock_->async_wait(write ? asio::posix::stream_descriptor::wait_write : asio::posix::stream_descriptor::wait_read,
                    [this, gen, then, write](boost::system::error_code ec) {
                      if (gen != generation_) return;
                      (write ? waiting_write_ : waiting_read_) = false;
                      if (ec) return;
                      (this->*then)();
                    });
}

void PgConnection::flush() {
  if (!conn_) return;
  const int r = PQflush(conn_);
  if (r < 0) return fail(pq_error(conn_));
  if (r == 1 && !waiting_write_) wait_socket(true, &PgConnection::flush);
  // Sending may have read the server's answers into libpq's buffer, where
  // the socket no longer shows them: take them soon (posted, so that no
  // caller of call() is re-entered).
  const uint64_t gen = generation_;
  asio::post(ex_, [this, gen] {
    if (gen != generation_ || !conn_) return;
    drain();
    notifications();
  });
}

void PgConnection::on_readable() {
  if (!conn_) return;
  if (!PQconsumeInput(conn_) || PQstatus(conn_) != CONNECTION_OK) return fail(pq_error(conn_));
  drain();
  notifications();
  if (conn_ && !waiting_read_) wait_socket(false, &PgConnection::on_readable);
}

// Takes every result libpq already holds. Two NULLs in a row: nothing more
// until the server sends more.
void PgConnection::drain() {
  int nulls = 0;
  while (conn_ && !calls_.empty() && !PQisBusy(conn_)) {
    PGresult* res = PQgetResult(conn_);
    if (!res) {
      if (++nulls > 1) break;
      continue;
    }
    nulls = 0;
    Call& front = calls_.front();
    switch (PQresultStatus(res)) {
      case PGRES_PIPELINE_SYNC: {
        PQclear(res);
        Result<Rows> r = front.result ? std::move(*front.result) : Result<Rows>(Error::Store("no result"));
        finish_call(std::move(r));
        continue;
      }
      case PGRES_TUPLES_OK:
      case PGRES_COMMAND_OK:
        if (!front.result || *front.result) front.result = rows_of(res);
        break;
      case PGRES_PIPELINE_ABORTED:
        if (!front.result || *front.result) front.result = Result<Rows>(Error::Store("pipeline aborted"));
        break;
      default:
        front.result = Result<Rows>(statement_error(res));
        break;
    }
    PQclear(res);
  }
}

void PgConnection::notifications() {
  const uint64_t gen = generation_;
  while (conn_ && gen == generation_) {
    PGnotify* n = PQnotifies(conn_);
    if (!n) break;
    std::string channel = n->relname ? n->relname : "", payload = n->extra ? n->extra : "";
    PQfreemem(n);
    if (opt_.on_notify) opt_.on_notify(channel, payload);
  }
}

void PgConnection::finish_call(Result<Rows> r) {
  Call c = std::move(calls_.front());
  calls_.pop_front();
  arm_deadline();
  if (c.prepare) {
    if (!r && r.error().message != "pipeline aborted") {
      refused_ = true;
      return fail("the server refused this host's statements: " + r.error().message);
    }
    if (!r) return fail("preparing the statements: " + r.error().message);
    refused_ = false;
    state_ = State::kReady;
    why_.clear();
    backoff_ = std::chrono::milliseconds(0);
    if (opt_.on_state) opt_.on_state(true, "");
    return;
  }
  const auto took = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - c.sent);
  latency_ = latency_.count() == 0 ? took : (latency_ * 7 + took) / 8;
  c.done(std::move(r));
}

void PgConnection::arm_deadline() {
  if (calls_.empty()) {
    deadline_.cancel();
    return;
  }
  const uint64_t gen = generation_;
  deadline_.expires_at(calls_.front().sent + opt_.timeout);
  deadline_.async_wait([this, gen](boost::system::error_code ec) {
    if (ec || gen != generation_ || calls_.empty()) return;
    if (Clock::now() < calls_.front().sent + opt_.timeout) return arm_deadline();
    fail("no answer within " + std::to_string(opt_.timeout.count()) + "ms (db_timeout)");
  });
}

void PgConnection::call(const std::string& statement, std::vector<Value> params,
                        std::function<void(Result<Rows>)> done) {
  if (state_ != State::kReady) {
    asio::post(ex_, [done = std::move(done), why = why_.empty() ? std::string("not connected") : why_] {
      done(Error::Store("the fleet database is unreachable: " + why));
    });
    for (auto& p : params)
      if (p) wipe(*p);
    return;
  }
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  const bool sent = PQsendQueryPrepared(conn_, statement.c_str(), static_cast<int>(values.size()), values.data(),
                                        nullptr, nullptr, 0) &&
                    PQpipelineSync(conn_);
  for (auto& p : params)
    if (p) wipe(*p);
  calls_.push_back(Call{std::move(done), Clock::now(), std::nullopt, false});
  if (!sent) return fail(pq_error(conn_));
  if (calls_.size() == 1) arm_deadline();
  flush();
  if (conn_ && !waiting_read_) wait_socket(false, &PgConnection::on_readable);
}

void PgConnection::fail(const std::string& why) {
  const bool was_ready = state_ == State::kReady;
  close();
  std::deque<Call> calls;
  calls.swap(calls_);
  why_ = why;
  for (auto& c : calls)
    if (!c.prepare)
      asio::post(ex_, [done = std::move(c.done), why] { done(Error::Store("the fleet database: " + why)); });
  if (state_ == State::kStopped) return;
  state_ = State::kBackoff;
  if (opt_.on_state && (was_ready || backoff_.count() == 0)) opt_.on_state(false, why);
  backoff_ = std::clamp(backoff_ * 2, opt_.min_backoff, opt_.max_backoff);
  backoff_timer_.expires_after(backoff_);
  backoff_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || state_ != State::kBackoff) return;
    connect();
  });
}

}  // namespace vigil::fleet
