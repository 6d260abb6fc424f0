// The typed API of vigild's methods (issue #16): one struct per request
// and one per reply, each with its encoding and its decoding, shared by
// pam_vigil.so, vigild and vigilctl.
//
// Contract:
//  * A member's wire name is written once: in key:: below, named by its
//    struct's fields(), which pairs each member with its name and with how
//    it travels (a Spec). to_json() and from_json() both walk that one list
//    (api.cc), in its order, which is also the order of the keys on the
//    wire.
//  * to_json() writes the frames the module always wrote: a kIfSet member is
//    left out when it is "", false or 0, a kAlways member never is.
//  * from_json() never throws for bad input (std::bad_alloc aside). A
//    request is closed: a key its struct does not accept is an error, found
//    before any member is read. Then the first bad member, in fields()
//    order, is an Error::InvalidParameter with the words the daemon's
//    validators always used:
//      unknown parameter "K"          missing parameter "K"
//      parameter "K" must be a string (an integer, a boolean)
//      parameter "K" is too long
//    A reply is open: a key it does not know is ignored (a newer daemon may
//    add one). Decoding checks types and bounds only; the rules of a method
//    (an outcome's values, a required audit session) are vigild's
//    validators'.
//  * An optional string that is absent or null reads as "", and a kIfSet
//    one that is "" is not written: "" and absent mean the same to the
//    daemon, as they always did.
//  * An admin-socket request (a struct with `static constexpr bool kAdmin`)
//    also lets through "step_up_code" (key::kStepUpCode) without reading it:
//    the caller's own code is the admin gate's, which takes it out and wipes
//    it (daemon/rpc/admin.cc), and vigilctl adds it to the call's JSON when
//    the daemon asks for one (ctl/client.cc).
//  * The methods are split by socket: this header has the module's calls
//    and the public self-service ones; api_self.h has status and TOTP;
//    api_admin.h the admin socket's. Their codec is api_codec.h.
//  * AuthVerify::code and TokenCheck::token are secrets. from_json() wipes
//    what it copied when it fails; otherwise whoever holds a struct or a
//    to_json() object with one wipes it (pam_vigil.cc; vigild: handlers,
//    and the server for the request's own JSON).
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "protocol/message.h"
#include "protocol/names.h"
#include "protocol/result.h"

namespace vigil::proto::api {

// The wire names of the members, each written here and nowhere else.
namespace key {
inline constexpr char kUser[] = "user";
inline constexpr char kService[] = "service";
inline constexpr char kRhost[] = "rhost";
inline constexpr char kTty[] = "tty";
inline constexpr char kRuser[] = "ruser";
inline constexpr char kAuthInfo[] = "auth_info";
inline constexpr char kAuditSession[] = "audit_session";
inline constexpr char kSetuid[] = "setuid";
inline constexpr char kOutcome[] = "outcome";
inline constexpr char kNonce[] = "nonce";
inline constexpr char kCode[] = "code";
inline constexpr char kNoPrompt[] = "no_prompt";
inline constexpr char kVerdict[] = "verdict";
inline constexpr char kPrompt[] = "prompt";
inline constexpr char kWarning[] = "warning";
inline constexpr char kChanged[] = "changed";
inline constexpr char kVersion[] = "version";
inline constexpr char kToken[] = "token";
inline constexpr char kScope[] = "scope";
inline constexpr char kOwner[] = "owner";
inline constexpr char kScopes[] = "scopes";
inline constexpr char kTrustDays[] = "trust_days";
inline constexpr char kDevices[] = "devices";
inline constexpr char kDevice[] = "device";
inline constexpr char kState[] = "state";  // an account's verdict, a token's state
inline constexpr char kRecoveryCodes[] = "recovery_codes";  // a factor's codes left
inline constexpr char kReportMode[] = "report_mode";  // vigild enforces nothing ([daemon] mode)
inline constexpr char kFirstSeen[] = "first_seen";
inline constexpr char kLastSeen[] = "last_seen";
inline constexpr char kKnown[] = "known";
inline constexpr char kAll[] = "all";
inline constexpr char kForgotten[] = "forgotten";
inline constexpr char kReason[] = "reason";
inline constexpr char kId[] = "id";
inline constexpr char kRepeated[] = "repeated";
// Shared by api_self.h (status) and api_admin.h (the audit, recovery).
inline constexpr char kAdmin[] = "admin";
inline constexpr char kBlocked[] = "blocked";
inline constexpr char kBy[] = "by";
inline constexpr char kPassword[] = "password";
inline constexpr char kPasswordChangeRequired[] = "password_change_required";
inline constexpr char kPending[] = "pending";
inline constexpr char kSince[] = "since";
inline constexpr char kTotp[] = "totp";
inline constexpr char kUid[] = "uid";
inline constexpr char kStepUpCode[] = "step_up_code";  // admin requests: the gate's
}  // namespace key

// How a member is written.
enum class Write : uint8_t {
  kIfSet,   // left out when "", false or 0
  kAlways,
};

// How a member is read.
enum class Read : uint8_t {
  kRequired,  // present and of its type
  kOptional,  // absent reads as unset; a wrong type is an error
  kLoose,     // a wrong type reads as unset too: a member the daemon never
              // checked for that method, read as it always read it
};

struct Spec {
  Write write = Write::kIfSet;
  Read read = Read::kOptional;
  std::size_t max = SIZE_MAX;  // strings, when checked: longer is an error
};
inline constexpr Spec kRequired{Write::kAlways, Read::kRequired};
inline constexpr Spec kOptional{};
inline constexpr Spec kLoose{Write::kIfSet, Read::kLoose};

// Member types: std::string; bool; uint32_t, an id written as a JSON
// integer, where 0 is unset and a value outside 1..2^32-2 (2^32-1 is the
// kernel's "unset" audit session) reads as 0; int64_t, a JSON integer (a
// count, an epoch time), where 0 is unset; std::vector<std::string>, a JSON
// array of strings, and std::vector<T> of a struct T with fields(), a JSON
// array of objects (each an open T: its keys are T's), unset when empty;
// std::optional<T> of such a struct, a JSON object, written only when set
// (null reads as unset); boost::json::value, any JSON kept as it is (null
// is unset), for a member whose shape is not the API's (a block's evidence).

// How a method reads the login members that not every method checked: what
// the daemon always accepted, no more and no less.
struct LoginReads {
  Read auth_info = Read::kOptional;
  Read audit_session = Read::kOptional;
  Read setuid = Read::kOptional;
};

// What the module knows of a login, sent with each of its calls but
// Auth.Verify: the PAM items, sshd's key, the process's audit session.
struct Login {
  std::string user;       // as the PAM stack has it; always written
  std::string service;    // PAM_SERVICE
  std::string rhost;      // PAM_RHOST
  std::string tty;        // PAM_TTY
  std::string ruser;      // PAM_RUSER
  std::string auth_info;  // SSH_AUTH_INFO_0 (sshd's ExposeAuthInfo)
  uint32_t audit_session = 0;  // /proc/self/sessionid; 0: unset
  bool setuid = false;    // a setuid caller (getuid() != geteuid())

  template <class L, class V>
  static void fields(L& l, V&& v, LoginReads r) {
    v(key::kUser, l.user, kRequired);
    v(key::kService, l.service, kOptional);
    v(key::kRhost, l.rhost, kOptional);
    v(key::kTty, l.tty, kOptional);
    v(key::kRuser, l.ruser, kOptional);
    v(key::kAuthInfo, l.auth_info, Spec{Write::kIfSet, r.auth_info});
    v(key::kAuditSession, l.audit_session, Spec{Write::kIfSet, r.audit_session});
    v(key::kSetuid, l.setuid, Spec{Write::kIfSet, r.setuid});
  }
};

// ---- io.vigil.Auth.Report: a password's outcome ----
struct AuthReportReply {
  static constexpr bool kClosed = false;
  std::string verdict;  // kVerdictAllow, kVerdictDeny or kVerdictVerify
  bool prompt = false;  // a code prompt follows, whatever the verdict
  std::string warning;  // for the user: a second factor is required soon

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kVerdict, s.verdict, kRequired);
    v(key::kPrompt, s.prompt, Spec{Write::kAlways, Read::kLoose});
    v(key::kWarning, s.warning, kLoose);
  }
  boost::json::object to_json() const;
  static Result<AuthReportReply> from_json(const boost::json::object& o);
};

struct AuthReport {
  static constexpr const char* kMethod = kAuthReport;
  static constexpr bool kClosed = true;
  using Reply = AuthReportReply;
  Login login;
  std::string outcome;  // kOutcomeFailure or kOutcomeSuccess
  std::string nonce;    // one per pam_authenticate call; "" without randomness

  template <class S, class V>
  static void fields(S& s, V&& v) {
    Login::fields(s.login, v, LoginReads{});
    v(key::kOutcome, s.outcome, kRequired);
    v(key::kNonce, s.nonce, Spec{Write::kIfSet, Read::kOptional, 128});
  }
  boost::json::object to_json() const;
  static Result<AuthReport> from_json(const boost::json::object& o);
};

// ---- io.vigil.Account.Check: the account phase ----
struct AccountCheckReply {
  static constexpr bool kClosed = false;
  std::string verdict;  // kVerdictAllow or kVerdictDeny

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kVerdict, s.verdict, kRequired);
  }
  boost::json::object to_json() const;
  static Result<AccountCheckReply> from_json(const boost::json::object& o);
};

struct AccountCheck {
  static constexpr const char* kMethod = kAccountCheck;
  static constexpr bool kClosed = true;
  using Reply = AccountCheckReply;
  Login login;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    Login::fields(s.login, v, LoginReads{Read::kLoose, Read::kLoose, Read::kLoose});
  }
  boost::json::object to_json() const;
  static Result<AccountCheck> from_json(const boost::json::object& o);
};

// ---- io.vigil.Auth.Verify: the second factor ----
struct AuthVerifyReply {
  static constexpr bool kClosed = false;
  std::string verdict;  // kVerdictAllow or kVerdictDeny
  std::string warning;  // as in AuthReportReply

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kVerdict, s.verdict, kRequired);
    v(key::kWarning, s.warning, kLoose);
  }
  boost::json::object to_json() const;
  static Result<AuthVerifyReply> from_json(const boost::json::object& o);
};

struct AuthVerify {
  static constexpr const char* kMethod = kAuthVerify;
  static constexpr bool kClosed = true;
  using Reply = AuthVerifyReply;
  std::string user;
  std::string nonce;       // the Auth.Report's
  std::string code;        // a secret; "" when there is none, and still sent
  bool no_prompt = false;  // the service cannot prompt

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kUser, s.user, kRequired);
    v(key::kNonce, s.nonce, Spec{Write::kIfSet, Read::kOptional, 128});
    v(key::kCode, s.code, Spec{Write::kAlways, Read::kOptional, 64});
    v(key::kNoPrompt, s.no_prompt, kOptional);
  }
  boost::json::object to_json() const;
  static Result<AuthVerify> from_json(const boost::json::object& o);
};

// ---- io.vigil.Session.Open: a login session began ----
struct SessionOpenReply {
  static constexpr bool kClosed = false;

  template <class S, class V>
  static void fields(S&, V&&) {}
  boost::json::object to_json() const;
  static Result<SessionOpenReply> from_json(const boost::json::object& o);
};

struct SessionOpen {
  static constexpr const char* kMethod = kSessionOpen;
  static constexpr bool kClosed = true;
  using Reply = SessionOpenReply;
  Login login;  // with an audit session: the daemon requires one

  template <class S, class V>
  static void fields(S& s, V&& v) {
    Login::fields(s.login, v, LoginReads{Read::kOptional, Read::kLoose, Read::kLoose});
  }
  boost::json::object to_json() const;
  static Result<SessionOpen> from_json(const boost::json::object& o);
};

// ---- io.vigil.Password.Changed: the module's password phase ----
struct PasswordChangedReply {
  static constexpr bool kClosed = false;
  std::string user;
  bool changed = false;  // a password change a recovery required has ended

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kUser, s.user, kRequired);
    v(key::kChanged, s.changed, Spec{Write::kAlways, Read::kOptional});
  }
  boost::json::object to_json() const;
  static Result<PasswordChangedReply> from_json(const boost::json::object& o);
};

struct PasswordChanged {
  static constexpr const char* kMethod = kPasswordChanged;
  static constexpr bool kClosed = true;
  using Reply = PasswordChangedReply;
  // The module sends auth_info whenever sshd exposes one (a password
  // changed at an sshd login); the daemon takes no decision on it here.
  Login login;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    Login::fields(s.login, v, LoginReads{Read::kLoose, Read::kLoose, Read::kLoose});
  }
  boost::json::object to_json() const;
  static Result<PasswordChanged> from_json(const boost::json::object& o);
};

// ---- io.vigil.Daemon.Ping: liveness ----
struct PingReply {
  static constexpr bool kClosed = false;
  std::string version;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kVersion, s.version, kRequired);
  }
  boost::json::object to_json() const;
  static Result<PingReply> from_json(const boost::json::object& o);
};

struct Ping {
  static constexpr const char* kMethod = kPing;
  static constexpr bool kClosed = true;
  using Reply = PingReply;

  template <class S, class V>
  static void fields(S&, V&&) {}
  boost::json::object to_json() const;
  static Result<Ping> from_json(const boost::json::object& o);
};

// ---- io.vigil.Token.Check: a service checks an API token ----
struct TokenCheckReply {
  static constexpr bool kClosed = false;
  std::string verdict;              // tokens::verdict_name()
  std::string owner;                // with a valid verdict only
  std::vector<std::string> scopes;  // with a valid verdict only (never empty then)

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kVerdict, s.verdict, kRequired);
    v(key::kOwner, s.owner, kOptional);
    v(key::kScopes, s.scopes, kOptional);
  }
  boost::json::object to_json() const;
  static Result<TokenCheckReply> from_json(const boost::json::object& o);
};

// token is a secret, as AuthVerify::code is (the contract above).
struct TokenCheck {
  static constexpr const char* kMethod = kTokenCheck;
  static constexpr bool kClosed = true;
  using Reply = TokenCheckReply;
  std::string token;
  std::string scope;  // "" checks none (a "scope" that is "" is invalid: vigild)

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kToken, s.token, Spec{Write::kAlways, Read::kRequired, 256});
    v(key::kScope, s.scope, kOptional);
  }
  boost::json::object to_json() const;
  static Result<TokenCheck> from_json(const boost::json::object& o);
};

// ---- io.vigil.Devices.List: an account's known devices ----
struct KnownDevice {
  static constexpr bool kClosed = false;
  std::string device;
  int64_t first_seen = 0;  // epoch
  int64_t last_seen = 0;   // epoch
  bool known = false;      // last seen within trust_days

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kDevice, s.device, kRequired);
    v(key::kFirstSeen, s.first_seen, kRequired);
    v(key::kLastSeen, s.last_seen, kRequired);
    v(key::kKnown, s.known, kRequired);
  }
};

struct DevicesListReply {
  static constexpr bool kClosed = false;
  std::string user;
  int64_t trust_days = 0;
  std::vector<KnownDevice> devices;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kUser, s.user, kRequired);
    v(key::kTrustDays, s.trust_days, Spec{Write::kAlways, Read::kOptional});
    v(key::kDevices, s.devices, Spec{Write::kAlways, Read::kOptional});
  }
  boost::json::object to_json() const;
  static Result<DevicesListReply> from_json(const boost::json::object& o);
};

struct DevicesList {
  static constexpr const char* kMethod = kDevicesList;
  static constexpr bool kClosed = true;
  using Reply = DevicesListReply;
  std::string user;  // "": the caller's own account

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kUser, s.user, kLoose);  // vigild's subject lookup checks it
  }
  boost::json::object to_json() const;
  static Result<DevicesList> from_json(const boost::json::object& o);
};

// ---- io.vigil.Devices.Forget: forget one known device, or all ----
struct DevicesForgetReply {
  static constexpr bool kClosed = false;
  std::string user;
  int64_t forgotten = 0;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kUser, s.user, kRequired);
    v(key::kForgotten, s.forgotten, kRequired);
  }
  boost::json::object to_json() const;
  static Result<DevicesForgetReply> from_json(const boost::json::object& o);
};

struct DevicesForget {
  static constexpr const char* kMethod = kDevicesForget;
  static constexpr bool kClosed = true;
  using Reply = DevicesForgetReply;
  std::string user;
  std::string device;  // either a device
  bool all = false;    // or all of them (vigild: exactly one)

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kUser, s.user, Spec{Write::kAlways, Read::kLoose});  // vigild's subject lookup checks it
    v(key::kDevice, s.device, Spec{Write::kIfSet, Read::kOptional, 512});
    v(key::kAll, s.all, kLoose);
  }
  boost::json::object to_json() const;
  static Result<DevicesForget> from_json(const boost::json::object& o);
};

// ---- io.vigil.Recovery.Request: a request to unblock a colleague ----
struct RecoveryRequestReply {
  static constexpr bool kClosed = false;
  std::string id;
  std::string user;
  bool repeated = false;  // the caller's open request for user, filed before

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kId, s.id, kRequired);
    v(key::kUser, s.user, kRequired);
    v(key::kRepeated, s.repeated, kRequired);
  }
  boost::json::object to_json() const;
  static Result<RecoveryRequestReply> from_json(const boost::json::object& o);
};

struct RecoveryRequest {
  static constexpr const char* kMethod = kRecoveryRequest;
  static constexpr bool kClosed = true;
  using Reply = RecoveryRequestReply;
  std::string user;
  std::string reason;  // a wrong type reads as "": vigild requires one

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kUser, s.user, Spec{Write::kAlways, Read::kLoose});  // vigild's subject lookup checks it
    v(key::kReason, s.reason, Spec{Write::kAlways, Read::kLoose});
  }
  boost::json::object to_json() const;
  static Result<RecoveryRequest> from_json(const boost::json::object& o);
};

// A request as a call (client.h); its reply decodes with Req::Reply.
template <class Req>
Call make_call(const Req& request) {
  return Call{Req::kMethod, request.to_json()};
}

}  // namespace vigil::proto::api
