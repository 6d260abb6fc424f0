// The socket server: accepts UNIX stream connections and runs one coroutine
// per connection on the I/O thread.
//
// Contract:
//  * Peer credentials (SO_PEERCRED) are taken once, at accept time.
//  * Every socket vigild listens on or accepts is close-on-exec (SOCK_CLOEXEC
//    from the start: accept4, not Asio's plain accept), so no child inherits
//    one even for an instant.
//  * Non-root uids may hold at most max_connections_per_uid connections at
//    once; further ones are closed at once. Root has its own, larger budget
//    (kRootConnections), so local users cannot starve root's logins.
//  * Non-root uids may make at most [daemon] max_requests_per_second
//    requests a second, across all their connections and both sockets (a
//    bucket of one second's worth, refilled continuously; 0: no limit).
//    Further requests are answered io.vigil.Error.Unavailable at once,
//    without being decoded; the connection stays open. Root is never
//    limited.
//  * Root's connections run on a PriorityExecutor (nss.h), so their NSS
//    lookups go ahead of everyone else's.
//  * A connection must deliver each complete frame within request_timeout,
//    or it is closed. Frames are capped at 64 KiB; an oversized or malformed
//    frame gets an error reply and the connection is closed.
//  * The fast path: a connection's first request is read and answered
//    without waiting (and without Asio's reactor, a descriptor registration
//    or a timer) while that needs no wait: a client that sends its request
//    and half-closes (shutdown SHUT_WR, as the module's transport does) is
//    answered and closed in one turn. At the first read or write that would
//    block, and after that first request in any case, the connection moves
//    into Asio, under the deadline above, where each operation lets the I/O
//    thread serve other connections in between.
//  * Requests on one connection are answered in order.
//  * A connection through the admin socket is marked in its Peer; dispatch()
//    then uses the admin table (admin.h), never the public one.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <sys/socket.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "daemon/os/unique_fd.h"
#include "daemon/rpc/dispatch.h"
#include "daemon/rpc/rate_limit.h"
#include "protocol/result.h"

namespace vigil {

// A fresh listening UNIX socket at path (a stale socket file is replaced;
// anything else there is an error), bound under a strict umask, then given
// its mode and, unless -1, its group. Shared by every socket vigild binds.
Result<std::unique_ptr<boost::asio::local::stream_protocol::acceptor>> listen_unix(
    boost::asio::io_context& io, const std::string& path, unsigned mode, gid_t group);

// Makes a listening socket, bound here or passed by systemd, close-on-exec
// and non-blocking (accept_peer() needs both).
Status prepare_listener(boost::asio::local::stream_protocol::acceptor& acceptor);

// The next connection on acceptor, with its peer's credentials
// (SO_PEERCRED), accepted close-on-exec (accept4). A failed accept (EMFILE
// and friends) is logged and retried after 50 ms instead of spinning; a
// connection whose credentials cannot be read is dropped. nullopt: the
// acceptor was closed. Shared by every socket vigild serves.
struct Accepted {
  boost::asio::local::stream_protocol::socket socket;
  ucred cred;
};
boost::asio::awaitable<std::optional<Accepted>> accept_peer(
    boost::asio::io_context& io, boost::asio::local::stream_protocol::acceptor& acceptor);
// The same, with the connection still a bare descriptor (blocking mode),
// not yet known to Asio's reactor.
struct RawAccepted {
  UniqueFd fd;
  ucred cred;
};
boost::asio::awaitable<std::optional<RawAccepted>> accept_raw(
    boost::asio::io_context& io, boost::asio::local::stream_protocol::acceptor& acceptor);

// (Re)starts a connection's deadline: when timer fires after `timeout`,
// the connection is closed (if it still exists). Re-arming cancels the wait
// before. Shared by every socket vigild serves.
void arm_deadline(boost::asio::steady_timer& timer,
                  const std::shared_ptr<boost::asio::local::stream_protocol::socket>& conn,
                  std::chrono::steady_clock::duration timeout);

class Server {
 public:
  static constexpr int kRootConnections = 1024;

  Server(boost::asio::io_context& io, Services& services) : io_(io), services_(services) {}
  // Removes the socket files it bound, so a start that fails after binding
  // one leaves none behind.
  ~Server() { stop(); }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  enum class Kind { kPublic, kAdmin };
  // Binds a fresh socket at path with the given mode and group (-1: keep),
  // removing a stale one.
  Status listen_path(const std::string& path, unsigned mode, Kind kind = Kind::kPublic,
                     gid_t group = static_cast<gid_t>(-1));
  // Adopts a listening socket passed by systemd.
  Status listen_fd(int fd, Kind kind = Kind::kPublic);
  void start();
  // Closes the listeners and removes the socket files listen_path() bound.
  void stop();
  std::size_t connections() const { return counts_->total; }

 private:
  using Acceptor = boost::asio::local::stream_protocol::acceptor;
  boost::asio::awaitable<void> accept_loop(Acceptor& acceptor, Kind kind);
  boost::asio::awaitable<void> session(UniqueFd fd, Peer peer);

  boost::asio::io_context& io_;
  Services& services_;
  std::vector<std::pair<std::unique_ptr<Acceptor>, Kind>> acceptors_;
  std::vector<std::string> owned_paths_;
  // Shared with every session: a session frame may be destroyed after the
  // Server (when the io_context is torn down at exit).
  struct Counts {
    std::map<uid_t, int> per_uid;
    std::size_t total = 0;
  };
  std::shared_ptr<Counts> counts_ = std::make_shared<Counts>();
  std::shared_ptr<RequestLimiter> limiter_ = std::make_shared<RequestLimiter>();
  // One request's turn: whether peer may make it now (logs the first
  // refusal of a flood).
  bool allow_request(const Peer& peer);
};

}  // namespace vigil
