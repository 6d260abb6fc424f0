#include "daemon/rpc/server.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "daemon/core/log.h"
#include "daemon/os/nss.h"
#include "daemon/os/peer_session.h"
#include "protocol/names.h"

namespace vigil {
namespace asio = boost::asio;
using asio::local::stream_protocol;

namespace {
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
constexpr char kTooMany[] = "too many requests: at most [daemon] max_requests_per_second a second per uid";
}

Result<std::unique_ptr<stream_protocol::acceptor>> listen_unix(asio::io_context& io, const std::string& path,
                                                               unsigned mode, gid_t group) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return Error::Socket(path + " exists and is not a socket");
    ::unlink(path.c_str());
  }
  auto acc = std::make_unique<stream_protocol::acceptor>(io);
  boost::system::error_code ec;
  // Close-on-exec from its first instant (Asio's open() is not).
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Error::Socket("cannot create a socket for " + path + ": " + std::strerror(errno));
  acc->assign(stream_protocol(), fd, ec);
  if (ec) ::close(fd);
  if (!ec) {
    // Bind with a strict umask, then set the final mode.
    mode_t old = ::umask(0177);
    acc->bind(stream_protocol::endpoint(path), ec);
    ::umask(old);
  }
  if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Error::Socket("cannot listen on " + path + ": " + ec.message());
  if (auto st = prepare_listener(*acc); !st) return st.error();
  if (group != static_cast<gid_t>(-1) && ::chown(path.c_str(), static_cast<uid_t>(-1), group) != 0)
    return Error::Socket("cannot chown " + path + ": " + std::strerror(errno));
  if (::chmod(path.c_str(), mode) != 0)
    return Error::Socket("cannot chmod " + path + ": " + std::strerror(errno));
  return acc;
}

Status Server::listen_path(const std::string& path, unsigned mode, Kind kind, gid_t group) {
  auto acc = listen_unix(io_, path, mode, group);
  if (!acc) return acc.error();
  owned_paths_.push_back(path);
  acceptors_.emplace_back(std::move(*acc), kind);
  return Ok{};
}

Status Server::listen_fd(int fd, Kind kind) {
  auto acc = std::make_unique<Acceptor>(io_);
  boost::system::error_code ec;
  acc->assign(stream_protocol(), fd, ec);
  if (ec) return Error::Socket("cannot adopt socket fd " + std::to_string(fd) + ": " + ec.message());
  if (auto st = prepare_listener(*acc); !st) return st.error();
  acceptors_.emplace_back(std::move(acc), kind);
  return Ok{};
}

void Server::start() {
  for (auto& [a, kind] : acceptors_) asio::co_spawn(io_, accept_loop(*a, kind), asio::detached);
}

void arm_deadline(asio::steady_timer& timer, const std::shared_ptr<stream_protocol::socket>& conn,
                  std::chrono::steady_clock::duration timeout) {
  timer.expires_after(timeout);
  timer.async_wait([weak = std::weak_ptr(conn)](boost::system::error_code ec) {
    if (ec) return;
    if (auto c = weak.lock()) {
      boost::system::error_code ignored;
      c->close(ignored);
    }
  });
}

void Server::stop() {
  for (auto& [a, kind] : acceptors_) {
    boost::system::error_code ec;
    a->close(ec);
  }
  for (const auto& p : owned_paths_) ::unlink(p.c_str());
  owned_paths_.clear();
}

Status prepare_listener(stream_protocol::acceptor& acceptor) {
  const int fd = acceptor.native_handle();
  const int fd_flags = ::fcntl(fd, F_GETFD);
  if (fd_flags < 0 || ::fcntl(fd, F_SETFD, fd_flags | FD_CLOEXEC) != 0)
    return Error::Socket("cannot make socket fd " + std::to_string(fd) + " close-on-exec: " + std::strerror(errno));
  boost::system::error_code ec;
  acceptor.native_non_blocking(true, ec);
  if (ec) return Error::Socket("cannot make socket fd " + std::to_string(fd) + " non-blocking: " + ec.message());
  return Ok{};
}

namespace {

// accept4(SOCK_CLOEXEC) on a ready, non-blocking listener: the connection's
// descriptor, or -errno (-EAGAIN when another took the connection first).
int accept_cloexec(int listener) {
  int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  return fd >= 0 ? fd : -errno;
}

// The connection went, or was never there: wait for the next one.
bool transient_accept_error(int err) {
  return err == EAGAIN || err == EWOULDBLOCK || err == EINTR || err == ECONNABORTED || err == EPROTO;
}

}  // namespace

asio::awaitable<std::optional<RawAccepted>> accept_raw(asio::io_context& io, stream_protocol::acceptor& acceptor) {
  for (;;) {
    auto [ec] = co_await acceptor.async_wait(stream_protocol::acceptor::wait_read, use_nothrow);
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return std::nullopt;
    const int fd = ec ? -EIO : accept_cloexec(acceptor.native_handle());
    if (fd < 0 && transient_accept_error(-fd)) continue;
    if (fd < 0) {  // EMFILE and friends: back off instead of spinning
      log::warning("accept failed: " + (ec ? ec.message() : std::string(std::strerror(-fd))));
      asio::steady_timer t(io, std::chrono::milliseconds(50));
      co_await t.async_wait(use_nothrow);
      continue;
    }
    UniqueFd owned(fd);
    ucred cred{};
    socklen_t len = sizeof(cred);
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) continue;
    co_return RawAccepted{std::move(owned), cred};
  }
}

asio::awaitable<std::optional<Accepted>> accept_peer(asio::io_context& io, stream_protocol::acceptor& acceptor) {
  for (;;) {
    // Named: GCC 12 mishandles temporaries in co_await operands.
    auto next = accept_raw(io, acceptor);
    std::optional<RawAccepted> raw = co_await std::move(next);
    if (!raw) co_return std::nullopt;
    stream_protocol::socket sock(io);
    boost::system::error_code assigned;
    sock.assign(stream_protocol(), raw->fd.get(), assigned);
    if (assigned) continue;  // raw->fd closes it
    raw->fd.release();
    co_return Accepted{std::move(sock), raw->cred};
  }
}

asio::awaitable<void> Server::accept_loop(Acceptor& acceptor, Kind kind) {
  for (;;) {
    // Named: GCC 12 mishandles temporaries in co_await operands.
    auto next = accept_raw(io_, acceptor);
    std::optional<RawAccepted> accepted = co_await std::move(next);
    if (!accepted) co_return;
    auto& sock = accepted->fd;
    const ucred& cred = accepted->cred;
    Peer peer{cred.uid, cred.gid, cred.pid, kind == Kind::kAdmin};
    // Read now, while the process that connected is the one that owns pid.
    if (peer.admin_socket) peer.login_session = login_session(cred.pid);
    int limit = peer.root() ? kRootConnections
                            : services_.config->daemon.max_connections_per_uid;
    auto held = counts_->per_uid.find(peer.uid);
    if (held != counts_->per_uid.end() && held->second >= limit) {
      log::debug("connection cap reached", {{"VIGIL_CALLER_UID", std::to_string(peer.uid)}});
      continue;  // sock closes here
    }
    // Root's connections run on a PriorityExecutor: their NSS lookups go first.
    if (peer.root())
      asio::co_spawn(make_priority_executor(io_), session(std::move(sock), peer), asio::detached);
    else
      asio::co_spawn(io_, session(std::move(sock), peer), asio::detached);
  }
}

bool Server::allow_request(const Peer& peer) {
  if (peer.root()) return true;
  const int per_second = services_.config->daemon.max_requests_per_second;
  auto verdict = limiter_->take(peer.uid, per_second, RequestLimiter::Clock::now());
  if (verdict.warn)
    log::warning("uid " + std::to_string(peer.uid) + " makes more than " + std::to_string(per_second) +
                     " requests a second ([daemon] max_requests_per_second): the excess is refused",
                 {{"VIGIL_CALLER_UID", std::to_string(peer.uid)}});
  return verdict.allowed;
}

asio::awaitable<void> Server::session(UniqueFd fd, Peer peer) {
  ++counts_->per_uid[peer.uid];
  ++counts_->total;
  struct Release {
    std::shared_ptr<Counts> counts;
    uid_t uid;
    ~Release() {
      if (--counts->per_uid[uid] == 0) counts->per_uid.erase(uid);
      --counts->total;
    }
  } release{counts_, peer.uid};

  // Without waiting first (the contract's fast path), the connection is read
  // and written straight through fd. At its first wait it moves into Asio:
  // conn, and a deadline that closes it; both are shared so that a late
  // timer callback never touches a finished session.
  std::shared_ptr<stream_protocol::socket> conn;
  std::shared_ptr<asio::steady_timer> timer;
  auto wait_from_now = [&]() -> bool {
    if (!conn) {
      conn = std::make_shared<stream_protocol::socket>(io_);
      boost::system::error_code assigned;
      conn->assign(stream_protocol(), fd.get(), assigned);
      if (assigned) return false;  // fd closes it
      fd.release();
      timer = std::make_shared<asio::steady_timer>(io_);
    }
    arm_deadline(*timer, conn, services_.config->daemon.request_timeout);
    return true;
  };
  // Sends out whole: at once while the socket takes it, the rest under the
  // deadline. False: the connection failed.
  auto send_reply = [&](const std::string& out) -> asio::awaitable<bool> {
    std::size_t sent = 0;
    if (!conn) {
      while (sent < out.size()) {
        ssize_t n = ::send(fd.get(), out.data() + sent, out.size() - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) sent += static_cast<std::size_t>(n);
        else if (n < 0 && errno == EINTR) continue;
        else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        else co_return false;
      }
      if (sent == out.size()) co_return true;
    }
    if (!wait_from_now() || !conn->is_open()) co_return false;
    auto [ec, n] = co_await asio::async_write(*conn, asio::buffer(out.data() + sent, out.size() - sent),
                                              use_nothrow);
    co_return !ec;
  };

  proto::FrameReader reader;
  std::array<char, 8192> buf;
  std::string frame;
  for (;;) {
    auto state = reader.next(&frame);
    if (state == proto::FrameReader::State::kTooLarge) {
      auto out = proto::encode(proto::Reply::failure(proto::kErrInvalidRequest, "frame exceeds 64 KiB"));
      if (out) {
        auto sending = send_reply(*out);
        co_await std::move(sending);
      }
      break;
    }
    if (state == proto::FrameReader::State::kNeedMore) {
      std::size_t got = 0;
      if (!conn) {
        ssize_t n = ::recv(fd.get(), buf.data(), buf.size(), MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) continue;
        if (n == 0) break;  // the peer closed (or half-closed: no more requests)
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) break;
        if (n > 0) got = static_cast<std::size_t>(n);
        else if (!wait_from_now()) break;
      }
      if (conn) {
        auto [ec, n] = co_await conn->async_read_some(asio::buffer(buf), use_nothrow);
        if (ec) break;
        got = n;
      }
      reader.feed(std::string_view(buf.data(), got));
      explicit_bzero(buf.data(), got);
      continue;
    }
    if (timer) timer->cancel();
    proto::Reply reply;
    bool close_after = false;
    const SecretFields* secrets = nullptr;
    if (!allow_request(peer)) {
      // Over its budget: refused before the frame is even decoded.
      reply = proto::Reply::failure(proto::kErrUnavailable, kTooMany);
    } else if (auto call = proto::decode_call(frame); !call) {
      reply = proto::Reply::failure(call.error().wire_name(), call.error().message);
      close_after = true;
    } else {
      reply = co_await dispatch(services_, peer, *call);
      // The method's secret fields (declared with it, dispatch.h): the
      // request's copies once handled, the reply's once encoded.
      secrets = &secret_fields(peer.admin_socket, call->method);
      wipe_fields(call->params, secrets->request);
    }
    explicit_bzero(frame.data(), frame.size());
    auto out = proto::encode(reply);
    if (secrets) wipe_fields(reply.params, secrets->reply);
    if (!out) out = proto::encode(proto::Reply::failure(proto::kErrInternal, "reply too large"));
    if (conn && !conn->is_open()) break;  // the deadline closed it
    auto sending = send_reply(*out);
    const bool sent = co_await std::move(sending);
    explicit_bzero(out->data(), out->size());  // replies carry new tokens and secrets
    if (!sent || close_after) break;
    if (!conn) {
      // The fast path answers one request. Then the connection ends here,
      // when its end is already there, or moves into Asio, each of whose
      // operations lets the I/O thread serve others in between: a caller
      // that keeps requests waiting cannot hold the thread.
      if (reader.pending() == 0) {
        ssize_t n;
        do n = ::recv(fd.get(), buf.data(), buf.size(), MSG_DONTWAIT);
        while (n < 0 && errno == EINTR);
        if (n == 0) break;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) break;
        if (n > 0) {
          reader.feed(std::string_view(buf.data(), static_cast<std::size_t>(n)));
          explicit_bzero(buf.data(), static_cast<std::size_t>(n));
        }
      }
      if (!wait_from_now()) break;
    }
  }
  if (timer) timer->cancel();
  if (conn) {
    boost::system::error_code ignored;
    conn->close(ignored);
  }
}

}  // namespace vigil
