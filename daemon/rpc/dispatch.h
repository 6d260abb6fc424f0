// The way in for requests of both sockets: one request table (dispatch.cc;
// its row type in request.h) says, for each method, which socket serves
// it, who may call it, its subject, its step-up, its secret fields, its
// validator and its handler (after OpenSSH's monitor table).
//
// Contract:
//  * dispatch() never throws and always produces a reply. An unknown method,
//    or one the caller may not use, is refused and logged, never half-handled.
//  * Callers are classified by the peer credentials taken at connect time:
//      kRoot    only uid 0;
//      kSelf    uid 0 for any user, any other uid only for its own account
//               (the "user" parameter is resolved through NSS and compared by
//               uid; a name that does not resolve is refused to non-root
//               callers with the same error, so nothing is disclosed);
//      kAnyone  every caller;
//      kAdmin   the admin socket's: an active administrator (admin.h).
//  * Every handler has the same shape: validate every field, act, answer with
//    a typed reply.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <sys/socket.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <map>
#include <unordered_map>

#include "daemon/core/config.h"
#include "daemon/engine/engine.h"
#include "daemon/fleet/fleet.h"
#include "daemon/os/nss.h"
#include "protocol/message.h"
#include "protocol/wipe.h"  // wipe_fields

namespace vigil {

// What handlers share. Lives on the I/O thread.
struct Services {
  std::shared_ptr<const Config> config;  // replaced on SIGHUP
  Engine* engine = nullptr;
  Resolver* resolver = nullptr;
  // Fleet mode ([fleet]): the decisions of fleet accounts; null on a single host.
  fleet::Fleet* fleet = nullptr;
  std::array<uint8_t, 32> name_key{};   // hashes unresolved names
  boost::asio::thread_pool* tools = nullptr;   // blocking work on the unblock path: chage
  boost::asio::thread_pool* notify = nullptr;  // [recovery] notify_command runs
  // Admin socket: step-ups by uid, valid until (steady clock).
  // Step-ups held: by uid and login session (peer_session.h), until when.
  std::map<std::pair<uid_t, uint32_t>, std::chrono::steady_clock::time_point> step_ups;
  // Drops every step-up of one uid (its block or unblock).
  void drop_step_ups(uid_t uid) {
    std::erase_if(step_ups, [uid](const auto& kv) { return kv.first.first == uid; });
  }
};

struct Peer {
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  pid_t pid = 0;
  bool admin_socket = false;  // connected through the admin socket
  uint32_t login_session = 0;  // admin socket: the peer's audit session (peer_session.h); 0: none
  bool root() const { return uid == 0; }
};

// The fields of a method's request and of its reply that carry secrets
// (codes, passwords, tokens, TOTP secrets, recovery codes), declared with
// the method in its table row. The server wipes them (strings, and the
// strings of arrays) once the request is handled and the reply encoded.
struct SecretFields {
  std::array<std::string_view, 3> request{};
  std::array<std::string_view, 3> reply{};
};
const SecretFields& secret_fields(bool admin_socket, std::string_view method);

// Routes a request to its row in the request table (request.h, dispatch.cc):
// the rows of the socket it came through, never the other's.
boost::asio::awaitable<proto::Reply> dispatch(Services& services, const Peer& peer,
                                              const proto::Call& call);

// Fleet degraded mode (fleet.h): recovery and enrolment of a fleet account
// (`fleet_subject`: the request's account is one; nullopt: none named, or
// unknown), token issuing and quarantines need the fleet's database, and
// are refused with a reply that says so while the host is degraded;
// nothing otherwise.
std::optional<proto::Reply> fleet_degraded_refusal(const Services& sv, std::string_view method,
                                                   std::optional<bool> fleet_subject);

// Token checks, for the public socket and the HTTP checker. The token is
// hashed and wiped at once.
boost::asio::awaitable<TokenCheckResult> check_token(Services& sv, std::string token, std::string scope);

// At start: reports break-glass records loudly, once, and logs the
// prevention warnings (recovery::audit_warnings).
boost::asio::awaitable<void> startup_report(Services& sv);

}  // namespace vigil
