// One asynchronous PostgreSQL connection on an Asio executor: libpq's
// non-blocking API in pipeline mode, its socket watched by the executor.
//
// Contract:
//  * Everything runs on one executor (vigild: the I/O thread); nothing here
//    blocks it. Connecting (PQconnectStartParams/PQconnectPoll) runs in the
//    background; while the connection is not ready a call fails at once
//    (Error::Store): no caller ever waits on a reconnect.
//  * call() sends one prepared statement with its own pipeline sync, so each
//    call is its own transaction, and calls complete in the order sent.
//    `done` runs exactly once, on the executor, with the rows or an error.
//  * One deadline per call (Options::timeout, from when it is sent). When
//    the oldest call misses it, the connection is dropped (libpq 15's
//    PQcancel blocks, so there is no cancel): every call in flight fails
//    (Error::Store, "timed out"), and reconnecting starts in the
//    background with a doubling back-off (Options::min_backoff..max_backoff).
//    A call whose transaction may have committed on the server is then
//    reported failed: callers fail closed.
//  * The socket is wrapped in an asio::posix::stream_descriptor only to wait
//    on it: re-wrapped at each connect step (libpq may change it), released,
//    never closed by Asio. Results are drained (PQconsumeInput, PQgetResult
//    until busy) before each wait, since TLS may already hold data.
//  * Values travel as text; a NULL parameter or column is std::nullopt.
//  * LISTEN (Options::listen) is sent with the statements' preparation on
//    every connect; notifications are handed to Options::on_notify as they
//    are read.
//  * stop() fails every call in flight and closes; afterwards calls fail.
//    The object must outlive the handlers it posted, so stop() it and run
//    the executor dry (or destroy the io_context) before destroying it.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "protocol/result.h"

typedef struct pg_conn PGconn;

namespace vigil::fleet {

using Value = std::optional<std::string>;
using Row = std::vector<Value>;

struct Rows {
  std::vector<std::string> columns;
  std::vector<Row> rows;
  // The column's index, or -1.
  int column(std::string_view name) const;
};

struct Prepared {
  std::string name;
  std::string sql;
  int params = 0;
};

class PgConnection {
 public:
  struct Options {
    // Connection keywords and values for PQconnectStartParams (expand_dbname:
    // a "dbname" that holds a URL or key/value string is expanded in place,
    // and the keywords after it override its parts).
    std::vector<std::pair<std::string, std::string>> params;
    std::vector<Prepared> statements;  // prepared on every (re)connect
    // Channels to LISTEN on, on every (re)connect, and what to do with a
    // notification (on the executor). A notification sent while the
    // connection was down is lost: callers must also poll.
    std::vector<std::string> listen;
    std::function<void(const std::string& channel, const std::string& payload)> on_notify;
    std::chrono::milliseconds timeout{300};
    std::chrono::milliseconds min_backoff{100};
    std::chrono::milliseconds max_backoff{5000};
    // Called on the executor when the connection becomes ready (true) or is
    // lost (false, with the reason).
    std::function<void(bool ready, const std::string& why)> on_state;
  };

  PgConnection(boost::asio::any_io_executor ex, Options options);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  void start();
  void stop();
  bool ready() const { return state_ == State::kReady; }
  // Why the connection is not ready ("" when it is).
  const std::string& why_not() const { return why_; }
  // The last connection reached the server, which refused this role's
  // statements (their preparation failed: a missing function, a missing
  // grant): not an outage but a refusal. Cleared when one is ready.
  bool refused() const { return refused_; }
  // Smoothed round trip of the calls answered (EWMA), and the last one.
  std::chrono::microseconds latency() const { return latency_; }
  std::size_t in_flight() const { return calls_.size(); }

  void call(const std::string& statement, std::vector<Value> params, std::function<void(Result<Rows>)> done);

 private:
  enum class State { kIdle, kConnecting, kPreparing, kReady, kBackoff, kStopped };
  struct Call {
    std::function<void(Result<Rows>)> done;
    std::chrono::steady_clock::time_point sent;
    std::optional<Result<Rows>> result;  // the statement's, before its sync
    bool prepare = false;                // the statements' preparation (not a caller's)
  };

  void connect();
  void poll_connect();
  void wait_socket(bool write, void (PgConnection::*then)());
  void on_readable();
  void flush();
  void drain();
  void notifications();
  void arm_deadline();
  void fail(const std::string& why);  // drops the connection, fails the calls, backs off
  void close();
  void finish_call(Result<Rows> r);

  boost::asio::any_io_executor ex_;
  Options opt_;
  PGconn* conn_ = nullptr;
  std::optional<boost::asio::posix::stream_descriptor> sock_;
  boost::asio::steady_timer deadline_;
  boost::asio::steady_timer backoff_timer_;
  State state_ = State::kIdle;
  uint64_t generation_ = 0;  // handlers of an older connection do nothing
  bool waiting_read_ = false, waiting_write_ = false;
  std::deque<Call> calls_;
  std::chrono::milliseconds backoff_{0};
  std::string why_ = "not connected yet";
  bool refused_ = false;
  std::chrono::microseconds latency_{0};
};

}  // namespace vigil::fleet
