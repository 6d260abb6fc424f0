#include "daemon/rpc/token_http.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "daemon/core/log.h"
#include "daemon/rpc/server.h"
#include "daemon/rpc/token_http_parse.h"
#include "daemon/core/tokens.h"

namespace vigil {
namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::local::stream_protocol;

namespace {
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
constexpr int kRootConnections = 1024;

http::response<http::string_body> reply(unsigned version, http::status status, bool keep_alive) {
  http::response<http::string_body> res{status, version};
  res.set(http::field::server, "vigild");
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(keep_alive);
  res.content_length(0);
  return res;
}

}  // namespace

Status TokenHttpServer::listen_path(const std::string& path, gid_t group) {
  auto acc = listen_unix(io_, path, 0660, group);
  if (!acc) return acc.error();
  owned_path_ = path;
  acceptor_ = std::move(*acc);
  return Ok{};
}

Status TokenHttpServer::listen_fd(int fd) {
  auto acc = std::make_unique<Acceptor>(io_);
  boost::system::error_code ec;
  acc->assign(stream_protocol(), fd, ec);
  if (ec) return Error::Socket("cannot adopt socket fd " + std::to_string(fd) + ": " + ec.message());
  if (auto st = prepare_listener(*acc); !st) return st.error();  // close-on-exec, non-blocking
  acceptor_ = std::move(acc);
  return Ok{};
}

void TokenHttpServer::start() {
  if (acceptor_) asio::co_spawn(io_, accept_loop(), asio::detached);
}

void TokenHttpServer::stop() {
  if (acceptor_) {
    boost::system::error_code ec;
    acceptor_->close(ec);
  }
  if (!owned_path_.empty()) ::unlink(owned_path_.c_str());
  owned_path_.clear();
}

asio::awaitable<void> TokenHttpServer::accept_loop() {
  for (;;) {
    // Named: GCC 12 mishandles temporaries in co_await operands.
    auto next = accept_peer(io_, *acceptor_);
    std::optional<Accepted> accepted = co_await std::move(next);
    if (!accepted) co_return;
    const uid_t uid = accepted->cred.uid;
    // nginx workers share one uid: their budget is root's, not a user's.
    const int limit = kRootConnections;
    if ((*per_uid_)[uid] >= limit) continue;
    asio::co_spawn(io_, session(std::move(accepted->socket), uid), asio::detached);
  }
}

asio::awaitable<void> TokenHttpServer::session(stream_protocol::socket raw, uid_t uid) {
  ++(*per_uid_)[uid];
  struct Release {
    std::shared_ptr<std::map<uid_t, int>> m;
    uid_t uid;
    ~Release() {
      if (--(*m)[uid] <= 0) m->erase(uid);
    }
  } release{per_uid_, uid};
  auto conn = std::make_shared<stream_protocol::socket>(std::move(raw));
  auto timer = std::make_shared<asio::steady_timer>(io_);
  boost::beast::flat_buffer buffer(8192);
  // One deadline per request, from its first byte to the end of its answer:
  // a client that sends slowly or never reads is closed.
  auto arm = [&] { arm_deadline(*timer, conn, services_.config->daemon.request_timeout); };
  for (;;) {
    arm();
    http::request_parser<http::empty_body> parser;
    parser.header_limit(token_http::kHeaderLimit);
    parser.body_limit(token_http::kBodyLimit);
    auto [ec, n] = co_await http::async_read(*conn, buffer, parser, use_nothrow);
    if (ec) {
      if (ec != http::error::end_of_stream && conn->is_open() && ec != asio::error::eof &&
          ec != asio::error::operation_aborted) {
        auto res = reply(11, http::status::bad_request, false);
        co_await http::async_write(*conn, res, use_nothrow);
      }
      break;
    }
    auto& req = parser.get();
    const bool keep = req.keep_alive();
    http::response<http::string_body> res = reply(req.version(), http::status::not_found, keep);
    token_http::AuthRequest ask = token_http::classify(req);
    if (ask.status != 0) {
      res.result(static_cast<http::status>(ask.status));
    } else {
      auto check = check_token(services_, std::move(ask.token), ask.scope);
      TokenCheckResult r = co_await std::move(check);
      res.result(static_cast<http::status>(tokens::http_status(r.verdict)));
      res.set("X-Vigil-Verdict", tokens::verdict_name(r.verdict));
      if (r.verdict == tokens::Verdict::kValid) {
        std::string scopes;
        for (const auto& s : r.scopes) scopes += (scopes.empty() ? "" : " ") + s;
        res.set("X-Vigil-Owner", r.owner);
        res.set("X-Vigil-Scopes", scopes);
      } else if (r.verdict == tokens::Verdict::kUnknown || r.verdict == tokens::Verdict::kExpired) {
        res.set(http::field::www_authenticate, "Bearer");
      }
    }
    // The request's headers held the token: wipe the copies in the fields.
    token_http::wipe_authorization(req);
    // The read buffer held the request line and headers: zero it when it
    // holds nothing more (no pipelined request waiting).
    if (buffer.size() == 0) {
      buffer.clear();
      auto all = buffer.prepare(buffer.capacity());
      explicit_bzero(all.data(), all.size());
    }
    auto [wec, wn] = co_await http::async_write(*conn, res, use_nothrow);
    timer->cancel();
    if (wec || !keep) break;
  }
  timer->cancel();
  boost::system::error_code ignored;
  conn->close(ignored);
}

}  // namespace vigil
