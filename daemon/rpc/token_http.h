// The HTTP token checker for nginx auth_request: HTTP/1.1 on a UNIX socket
// ([tokens] http_socket, mode 0660, group [tokens] http_socket_group).
//
// Contract:
//  * GET /auth/SCOPE with "Authorization: Bearer TOKEN" answers 200 (with
//    X-Vigil-Owner and X-Vigil-Scopes), 401 for an unknown or expired token,
//    403 for a revoked or suspended one, one without SCOPE, or while the API
//    is frozen. The scope comes from the path only: no header chooses it.
//  * Anything else is 400/404/405, which nginx turns into 500: it fails
//    closed. Requests are capped at 8 KiB of headers and no body; each must
//    be read and answered within [daemon] request_timeout, or the connection
//    is closed. At most 1024 connections per uid (nginx workers share one).
//  * The token is hashed at once and never logged, echoed or stored.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include <map>
#include <memory>
#include <string>

#include "daemon/rpc/dispatch.h"
#include "protocol/result.h"

namespace vigil {

class TokenHttpServer {
 public:
  TokenHttpServer(boost::asio::io_context& io, Services& services) : io_(io), services_(services) {}
  ~TokenHttpServer() { stop(); }  // removes the socket file it bound, as Server does
  TokenHttpServer(const TokenHttpServer&) = delete;
  TokenHttpServer& operator=(const TokenHttpServer&) = delete;
  Status listen_path(const std::string& path, gid_t group);
  Status listen_fd(int fd);
  void start();
  void stop();

 private:
  using Acceptor = boost::asio::local::stream_protocol::acceptor;
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> session(boost::asio::local::stream_protocol::socket sock, uid_t uid);

  boost::asio::io_context& io_;
  Services& services_;
  std::unique_ptr<Acceptor> acceptor_;
  std::string owned_path_;
  std::shared_ptr<std::map<uid_t, int>> per_uid_ = std::make_shared<std::map<uid_t, int>>();
};

}  // namespace vigil
