// The dispatch table: for each method, who may call it, a validator and a
// handler (after OpenSSH's monitor table).
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
//      kAnyone  every caller.
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
#include "daemon/os/nss.h"
#include "protocol/message.h"

namespace vigil {

// What handlers share. Lives on the I/O thread.
struct Services {
  std::shared_ptr<const Config> config;  // replaced on SIGHUP
  Engine* engine = nullptr;
  Resolver* resolver = nullptr;
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
// Wipes the named fields of an object in place.
void wipe_fields(boost::json::object& o, const std::array<std::string_view, 3>& names);

// Routes to the public table, or to the admin one (daemon/rpc/admin.h) for
// connections through the admin socket.
boost::asio::awaitable<proto::Reply> dispatch(Services& services, const Peer& peer,
                                              const proto::Call& call);

// Shared with the admin socket.
// The one way an engine's error becomes a reply: a refusal says why
// (PermissionDenied), a missing thing says so (NotFound), anything else is
// Unavailable with `when_unavailable` (never the store's own words).
proto::Reply error_reply(const Error& e, std::string when_unavailable);
bool is_admin(const Config& cfg, const Identity& id);
boost::asio::awaitable<proto::Reply> status_reply(Services& sv, const Identity& id);
// Ends the password change a recovery required (a PAM change, or an admin's record).
boost::asio::awaitable<proto::Reply> password_changed_reply(Services& sv, const Identity& id, std::string by);
boost::asio::awaitable<proto::Reply> status_list_reply(Services& sv);
// Token checks, for the public socket and the HTTP checker. The token is
// hashed and wiped at once.
boost::asio::awaitable<TokenCheckResult> check_token(Services& sv, std::string token, std::string scope);
boost::asio::awaitable<proto::Reply> token_check_reply(Services& sv, std::string token, std::string scope);

// Bucket key of an account, and of a name that does not resolve.
std::string account_key(uid_t uid);
std::string unknown_name_key(const std::array<uint8_t, 32>& key, std::string_view name);

// User names accepted on the wire: 1..256 bytes, no control characters.
bool valid_user_name(std::string_view name);
// No control characters, C0 or C1, and no bidirectional overrides (reasons
// and other free text shown to admins on their terminals).
bool printable(std::string_view text);

}  // namespace vigil
