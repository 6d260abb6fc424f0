// One request as its handler sees it, the row type of the request table
// (dispatch.cc), and the helpers every handler shares. Each lives here once.
//
// Contract:
//  * A handler gets a Request whose parameters its row's validator has
//    already accepted, and whose caller the dispatcher has already
//    authorised: for the public socket, `target` holds the subject the row
//    names (resolved through NSS); for the admin socket, `actor` is the
//    administrator who acts (step-up done). A handler never throws for bad
//    input and answers every refusal with a reply, never a half-done change.
//  * The helpers never log, and never keep a copy of a parameter: codes
//    taken with take() are wiped by whoever takes them, and the request's
//    own copy by the server (the row's secret fields).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <array>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "daemon/core/clock.h"
#include "daemon/rpc/dispatch.h"
#include "protocol/message.h"

namespace vigil {

// Which socket a method is served on.
enum class Socket { kPublic, kAdmin };

// Who may call a method.
enum class Who {
  kRoot,    // only uid 0
  kSelf,    // uid 0 for any user, any other uid only for its own account
  kAnyone,  // every caller
  kAdmin,   // the admin socket: an active administrator (admin.h)
};

// Which account a public method acts on, resolved by the dispatcher.
enum class Subject {
  kNone,        // no account
  kUser,        // the "user" parameter, required
  kUserOrSelf,  // the "user" parameter, or the caller's own account
  kAnyName,     // the "user" parameter as typed at a login prompt: a name that
                // is malformed (control characters, over 256 bytes) is not an
                // error but an unknown name, so that its failure still counts
};

// What an admin method needs from the acting administrator's second factor.
enum class StepUp {
  kNone,   // read-only
  kHeld,   // a change: a code, or a step-up held in this login session
  kFresh,  // always a code given with this very request (Token.Issue)
};

// The subject the dispatcher resolved.
struct Target {
  Lookup lookup;           // kFound, or kNotFound (root callers, kAnyName)
  std::string given_name;  // as sent; never logged when unresolved
};

// Who acts through the admin socket: resolved once per request.
struct Actor {
  uid_t uid = 0;
  std::string name;
  uint32_t session = 0;  // the caller's login session (peer_session.h); 0: none
};

struct Request {
  Services& sv;
  const Peer& peer;
  const boost::json::object& params;
  Target target;  // public socket
  Actor actor;    // admin socket
};

using Handler = boost::asio::awaitable<proto::Reply> (*)(Request&);
// nullopt: the parameters are acceptable.
using Validator = std::optional<proto::Reply> (*)(const boost::json::object&);

// A row of the request table.
struct Method {
  std::string_view name;
  Socket socket;
  Who who;
  Subject subject;  // public socket; kNone on the admin socket
  StepUp step_up;   // admin socket; kNone on the public socket
  SecretFields secrets;
  Validator validate;
  Handler handle;
};

// The request table (dispatch.cc): a method's row on a socket, or null; and
// every row.
const Method* find_method(Socket socket, std::string_view name);
std::span<const Method> request_table();

// ---- replies ----
proto::Reply invalid(std::string msg);      // InvalidParameter
proto::Reply unavailable(std::string msg);  // Unavailable
proto::Reply refused(std::string msg);      // PermissionDenied
proto::Reply not_found(std::string msg);    // NotFound

// ---- parameters ----
// Every key of p is one of keys (or `also`, when not empty).
std::optional<proto::Reply> only_keys(const boost::json::object& p,
                                      std::initializer_list<std::string_view> keys,
                                      std::string_view also = {});
// The admin socket's rule: only_keys (any request may carry a step_up_code),
// and every value a string of at most 512 bytes or a boolean ("scopes": an
// array).
std::optional<proto::Reply> admin_params(const boost::json::object& p,
                                         std::initializer_list<std::string_view> keys);
// Optional string fields: type, and at most max_len bytes.
std::optional<proto::Reply> check_strings(const boost::json::object& p,
                                          std::initializer_list<std::string_view> keys,
                                          std::size_t max_len = 256);
// A required "reason": non-empty, printable.
std::optional<proto::Reply> need_reason(const boost::json::object& p);
// A required "user": a valid user name.
std::optional<proto::Reply> need_user(const boost::json::object& p);

// An optional string parameter, cut to max bytes ("" when absent).
std::string param(const boost::json::object& p, std::string_view k, std::size_t max = 256);
// A boolean parameter that is present and true.
bool flag(const boost::json::object& p, std::string_view k);
// A code parameter (at most 64 bytes, else ""): the caller wipes its copy.
std::string take(const boost::json::object& p, std::string_view k);

// The one way an engine's error becomes a reply: a refusal says why
// (PermissionDenied), a missing thing says so (NotFound), anything else is
// Unavailable with `when_unavailable` (never the store's own words).
proto::Reply error_reply(const Error& e, std::string when_unavailable);

// User names accepted on the wire: 1..256 bytes, no control characters.
bool valid_user_name(std::string_view name);
// No control characters, C0 or C1, and no bidirectional overrides (reasons
// and other free text shown to admins on their terminals).
bool printable(std::string_view text);

// ---- accounts ----
// Bucket key of an account, and of a name that does not resolve.
std::string account_key(uid_t uid);
std::string unknown_name_key(const std::array<uint8_t, 32>& key, std::string_view name);
bool is_admin(const Config& cfg, const Identity& id);
TimePoint wall_now();
bool totp_required(const Config& cfg, const Identity& id);
// The account named by the "user" parameter (admin socket): an unknown name
// is Error::NotFound ("no such user: NAME"), an NSS failure Error::Nss; and
// the reply to either.
boost::asio::awaitable<Result<Identity>> named_account(Services& sv, const boost::json::object& p);
proto::Reply lookup_error_reply(const Error& e);
// An account's state as the engine holds it (read-only).
boost::asio::awaitable<Result<AccountView>> account_view(Services& sv, const Identity& id);

}  // namespace vigil
