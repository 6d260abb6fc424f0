#include "daemon/server.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/log.h"
#include "protocol/names.h"

namespace vigil {
namespace asio = boost::asio;
using asio::local::stream_protocol;

namespace {
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
}

Result<std::unique_ptr<stream_protocol::acceptor>> listen_unix(asio::io_context& io, const std::string& path,
                                                               unsigned mode, gid_t group) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return Error{"socket", path + " exists and is not a socket"};
    ::unlink(path.c_str());
  }
  auto acc = std::make_unique<stream_protocol::acceptor>(io);
  boost::system::error_code ec;
  acc->open(stream_protocol(), ec);
  if (!ec) {
    // Bind with a strict umask, then set the final mode.
    mode_t old = ::umask(0177);
    acc->bind(stream_protocol::endpoint(path), ec);
    ::umask(old);
  }
  if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Error{"socket", "cannot listen on " + path + ": " + ec.message()};
  if (group != static_cast<gid_t>(-1) && ::chown(path.c_str(), static_cast<uid_t>(-1), group) != 0)
    return Error{"socket", "cannot chown " + path + ": " + std::strerror(errno)};
  if (::chmod(path.c_str(), mode) != 0)
    return Error{"socket", "cannot chmod " + path + ": " + std::strerror(errno)};
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
  if (ec) return Error{"socket", "cannot adopt socket fd " + std::to_string(fd) + ": " + ec.message()};
  acceptors_.emplace_back(std::move(acc), kind);
  return Ok{};
}

void Server::start() {
  for (auto& [a, kind] : acceptors_) asio::co_spawn(io_, accept_loop(*a, kind), asio::detached);
}

void Server::stop() {
  for (auto& [a, kind] : acceptors_) {
    boost::system::error_code ec;
    a->close(ec);
  }
  for (const auto& p : owned_paths_) ::unlink(p.c_str());
  owned_paths_.clear();
}

asio::awaitable<std::optional<Accepted>> accept_peer(asio::io_context& io, stream_protocol::acceptor& acceptor) {
  for (;;) {
    auto [ec, sock] = co_await acceptor.async_accept(use_nothrow);
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return std::nullopt;
    if (ec) {
      log::warning("accept failed: " + ec.message());
      asio::steady_timer t(io, std::chrono::milliseconds(50));
      co_await t.async_wait(use_nothrow);
      continue;
    }
    ucred cred{};
    socklen_t len = sizeof(cred);
    if (::getsockopt(sock.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) continue;
    co_return Accepted{std::move(sock), cred};
  }
}

asio::awaitable<void> Server::accept_loop(Acceptor& acceptor, Kind kind) {
  for (;;) {
    // Named: GCC 12 mishandles temporaries in co_await operands.
    auto next = accept_peer(io_, acceptor);
    std::optional<Accepted> accepted = co_await std::move(next);
    if (!accepted) co_return;
    auto& sock = accepted->socket;
    const ucred& cred = accepted->cred;
    Peer peer{cred.uid, cred.gid, cred.pid, kind == Kind::kAdmin};
    int limit = peer.root() ? kRootConnections
                            : services_.config->daemon.max_connections_per_uid;
    auto held = counts_->per_uid.find(peer.uid);
    if (held != counts_->per_uid.end() && held->second >= limit) {
      log::debug("connection cap reached", {{"VIGIL_CALLER_UID", std::to_string(peer.uid)}});
      continue;  // sock closes here
    }
    asio::co_spawn(io_, session(std::move(sock), peer), asio::detached);
  }
}

asio::awaitable<void> Server::session(stream_protocol::socket raw, Peer peer) {
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

  // The deadline closes the socket; both are shared so that a late timer
  // callback never touches a finished session.
  auto conn = std::make_shared<stream_protocol::socket>(std::move(raw));
  auto& sock = *conn;
  auto timer = std::make_shared<asio::steady_timer>(io_);
  auto arm = [&] {
    timer->expires_after(services_.config->daemon.request_timeout);
    timer->async_wait([weak = std::weak_ptr(conn)](boost::system::error_code ec) {
      if (ec) return;
      if (auto c = weak.lock()) {
        boost::system::error_code ignored;
        c->close(ignored);
      }
    });
  };

  proto::FrameReader reader;
  std::array<char, 8192> buf;
  std::string frame;
  arm();
  for (;;) {
    auto state = reader.next(&frame);
    if (state == proto::FrameReader::State::kTooLarge) {
      auto out = proto::encode(proto::Reply::failure(proto::kErrInvalidRequest, "frame exceeds 64 KiB"));
      if (out) co_await asio::async_write(sock, asio::buffer(*out), use_nothrow);
      break;
    }
    if (state == proto::FrameReader::State::kNeedMore) {
      auto [ec, n] = co_await sock.async_read_some(asio::buffer(buf), use_nothrow);
      if (ec) break;
      reader.feed(std::string_view(buf.data(), n));
      explicit_bzero(buf.data(), n);
      continue;
    }
    timer->cancel();
    auto call = proto::decode_call(frame);
    proto::Reply reply;
    bool close_after = false;
    if (!call) {
      reply = proto::Reply::failure(call.error().code, call.error().message);
      close_after = true;
    } else {
      reply = co_await dispatch(services_, peer, *call);
      // Codes travel in requests: wipe every copy once handled.
      for (const char* k : {"code", "step_up_code", "verify_code", "token"}) {
        if (auto c = call->params.find(k); c != call->params.end() && c->value().is_string()) {
          auto& js = c->value().as_string();
          explicit_bzero(js.data(), js.size());
        }
      }
    }
    explicit_bzero(frame.data(), frame.size());
    auto out = proto::encode(reply);
    // A reply may carry a new token: no copy of it outlives the encoding.
    if (auto t = reply.params.find("token"); t != reply.params.end() && t->value().is_string()) {
      auto& js = t->value().as_string();
      explicit_bzero(js.data(), js.size());
    }
    if (!out) out = proto::encode(proto::Reply::failure(proto::kErrInternal, "reply too large"));
    if (!sock.is_open()) break;
    arm();
    auto [wec, wn] = co_await asio::async_write(sock, asio::buffer(*out), use_nothrow);
    explicit_bzero(out->data(), out->size());  // replies carry new tokens and secrets
    if (wec || close_after) break;
  }
  timer->cancel();
  boost::system::error_code ignored;
  sock.close(ignored);
}

}  // namespace vigil
