// The typed API of the public socket's status and TOTP methods, and of the
// admin socket's Status.Get and Status.List: Status.Get, Status.List,
// Totp.Enroll, Totp.Confirm, Totp.Disable, Totp.RecoveryCodes. The
// contract is api.h's.
//
// Secrets, besides api.h's: the TOTP requests' code, TotpEnroll::password,
// TotpEnrollReply's secret and uri, TotpRecoveryCodesReply::codes. Whoever
// holds one of these structs, or its to_json() object, wipes them after use
// (vigild: methods_totp.cc, and the server for the request's and the
// reply's JSON; vigilctl: commands_totp.cc).
#pragma once

#include "protocol/api.h"

namespace vigil::proto::api {

// The wire names of the members of this header's structs that api.h does
// not name. Several are the admin socket's too (uid, admin, blocked, since,
// by, totp, failures, locked, locked_until): they are written here once.
namespace key {
inline constexpr char kFailures[] = "failures";
inline constexpr char kLocked[] = "locked";
inline constexpr char kLockedUntil[] = "locked_until";
inline constexpr char kLockCount[] = "lock_count";
inline constexpr char kRefused[] = "refused";
inline constexpr char kLastFailure[] = "last_failure";
inline constexpr char kLastSuccess[] = "last_success";
inline constexpr char kKnownDevices[] = "known_devices";
inline constexpr char kLockedDevices[] = "locked_devices";
inline constexpr char kPasswordChange[] = "password_change";
inline constexpr char kBlock[] = "block";
inline constexpr char kDetails[] = "details";
inline constexpr char kEnrolled[] = "enrolled";
inline constexpr char kRequired[] = "required";  // a policy's, not the Spec kRequired
inline constexpr char kAccounts[] = "accounts";
inline constexpr char kSecret[] = "secret";
inline constexpr char kUri[] = "uri";
inline constexpr char kCodes[] = "codes";
inline constexpr char kWhy[] = "why";
inline constexpr char kUntil[] = "until";
inline constexpr char kSource[] = "source";
inline constexpr char kAt[] = "at";
inline constexpr char kCounts[] = "counts";
inline constexpr char kBucket[] = "bucket";
inline constexpr char kRecentFailures[] = "recent_failures";
inline constexpr char kThrottledSources[] = "throttled_sources";
}  // namespace key

// A fact of a reply that vigild always writes, and that a reply without it
// reads as unset (0, false, ""), as vigilctl always read it.
inline constexpr Spec kAlwaysSent{Write::kAlways, Read::kOptional};

// ---- io.vigil.Status.Get, io.vigil.Status.List: an account's state ----

// A bucket's lock state: an account's, or its known devices' together. Its
// members come first in each object that has them (like Login).
struct LockStatus {
  int64_t failures = 0;      // within fail_interval
  bool locked = false;
  int64_t locked_until = 0;  // epoch; 0 when not locked
  int64_t lock_count = 0;    // locks since the last successful login
  int64_t refused = 0;       // attempts refused while locked
  int64_t last_failure = 0;  // epoch
  int64_t last_success = 0;  // epoch

  template <class L, class V>
  static void fields(L& l, V&& v) {
    v(key::kFailures, l.failures, kAlwaysSent);
    v(key::kLocked, l.locked, kAlwaysSent);
    v(key::kLockedUntil, l.locked_until, kAlwaysSent);
    v(key::kLockCount, l.lock_count, kAlwaysSent);
    v(key::kRefused, l.refused, kAlwaysSent);
    v(key::kLastFailure, l.last_failure, kAlwaysSent);
    v(key::kLastSuccess, l.last_success, kAlwaysSent);
  }
};

// A known device whose own bucket is locked.
struct LockedDevice {
  static constexpr bool kClosed = false;
  std::string device;
  int64_t locked_until = 0;  // epoch

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kDevice, s.device, kRequired);
    v(key::kLockedUntil, s.locked_until, kAlwaysSent);
  }
};

// The buckets of an account's known devices: their state summed up, then
// the locked ones.
struct KnownDevicesStatus {
  static constexpr bool kClosed = false;
  LockStatus lock;
  std::vector<LockedDevice> locked_devices;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    LockStatus::fields(s.lock, v);
    v(key::kLockedDevices, s.locked_devices, kAlwaysSent);
  }
};

// The password change a recovery requires.
struct PasswordChangeStatus {
  static constexpr bool kClosed = false;
  int64_t since = 0;  // epoch of the recovery
  std::string by;     // who recovered the account

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kSince, s.since, kAlwaysSent);
    v(key::kBy, s.by, kAlwaysSent);
  }
};

// A block on the account.
struct BlockStatus {
  static constexpr bool kClosed = false;
  std::string reason;
  int64_t since = 0;  // epoch
  std::string by;     // "vigild" (a trigger) or the acting user
  boost::json::value details;  // the evidence as vigild recorded it; null: none

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kReason, s.reason, kAlwaysSent);
    v(key::kSince, s.since, kAlwaysSent);
    v(key::kBy, s.by, kAlwaysSent);
    v(key::kDetails, s.details, kOptional);
  }
};

// An account's verdict: "open", "locked" or "blocked", why (plain words;
// "" when open), until when (epoch; 0: none, or a block's "until
// recovered"), and the device it concerns (a known device's lock) or the
// source of the newest failure (a lock of the unknown devices); "" for none.
struct Verdict {
  std::string state;
  std::string why;
  int64_t until = 0;
  std::string device;
  std::string source;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kState, s.state, kAlwaysSent);
    v(key::kWhy, s.why, kAlwaysSent);
    v(key::kUntil, s.until, kAlwaysSent);
    v(key::kDevice, s.device, kAlwaysSent);
    v(key::kSource, s.source, kAlwaysSent);
  }
};

// A wrong password on record, newest first, as faillock --user lists them.
struct FailureEntry {
  static constexpr bool kClosed = false;
  int64_t at = 0;       // epoch
  std::string source;   // "" for a local login
  std::string service;
  std::string device;   // the known device it was counted on; "": an unknown device
  bool counts = false;  // still counts toward a lock (within fail_interval, since the last reset)

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kAt, s.at, kRequired);
    v(key::kSource, s.source, kAlwaysSent);
    v(key::kService, s.service, kAlwaysSent);
    v(key::kDevice, s.device, kAlwaysSent);
    v(key::kCounts, s.counts, kAlwaysSent);
  }
};

// A source of the account's recent failures that the per-source throttle
// bans now: every attempt from it is refused, whoever it names.
struct ThrottledSource {
  static constexpr bool kClosed = false;
  std::string source;
  std::string bucket;  // the banned bucket (an address, or an IPv6 /64, /56, /48)
  int64_t until = 0;   // epoch

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kSource, s.source, kRequired);
    v(key::kBucket, s.bucket, kAlwaysSent);
    v(key::kUntil, s.until, kAlwaysSent);
  }
};

// The account's second factor.
struct TotpStatus {
  static constexpr bool kClosed = false;
  bool enrolled = false;
  bool pending = false;        // an enrolment waits for its first code
  bool required = false;       // by policy ([totp] require)
  int64_t recovery_codes = 0;  // left
  int64_t failures = 0;        // wrong codes within fail_interval

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kEnrolled, s.enrolled, kAlwaysSent);
    v(key::kPending, s.pending, kAlwaysSent);
    v(key::kRequired, s.required, kAlwaysSent);
    v(key::kRecoveryCodes, s.recovery_codes, kAlwaysSent);
    v(key::kFailures, s.failures, kAlwaysSent);
  }
};

// One account's state. vigild always sets known_devices and totp. The
// lock's members are the account's own bucket's (its unknown devices'),
// except locked and locked_until, which are the account's: locked while any
// of its buckets is (known devices included), until the last of them ends.
struct StatusGetReply {
  static constexpr bool kClosed = false;
  LockStatus lock;
  std::string user;
  int64_t uid = 0;
  bool admin = false;  // a member of [roles] admin_groups
  Verdict verdict;
  std::vector<FailureEntry> recent_failures;
  std::vector<ThrottledSource> throttled_sources;
  std::optional<KnownDevicesStatus> known_devices;
  bool password_change_required = false;
  std::optional<PasswordChangeStatus> password_change;  // when required
  bool blocked = false;
  std::optional<BlockStatus> block;  // when blocked
  int64_t devices = 0;               // how many known devices
  std::optional<TotpStatus> totp;
  bool report_mode = false;  // [daemon] mode = "report": the verdict is recorded, not enforced

  template <class S, class V>
  static void fields(S& s, V&& v) {
    LockStatus::fields(s.lock, v);
    v(key::kUser, s.user, kRequired);
    v(key::kUid, s.uid, kAlwaysSent);
    v(key::kAdmin, s.admin, kAlwaysSent);
    Verdict::fields(s.verdict, v);
    v(key::kRecentFailures, s.recent_failures, kAlwaysSent);
    v(key::kThrottledSources, s.throttled_sources, kAlwaysSent);
    v(key::kKnownDevices, s.known_devices, kOptional);
    v(key::kPasswordChangeRequired, s.password_change_required, kAlwaysSent);
    v(key::kPasswordChange, s.password_change, kOptional);
    v(key::kBlocked, s.blocked, kAlwaysSent);
    v(key::kBlock, s.block, kOptional);
    v(key::kDevices, s.devices, kAlwaysSent);
    v(key::kTotp, s.totp, kOptional);
    v(key::kReportMode, s.report_mode, kOptional);  // written only when true
  }
  boost::json::object to_json() const;
  static Result<StatusGetReply> from_json(const boost::json::object& o);
};

struct StatusGet {
  static constexpr const char* kMethod = kStatusGet;
  static constexpr bool kClosed = true;
  using Reply = StatusGetReply;
  std::string user;  // "": the caller's own account

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kUser, s.user, kLoose);  // vigild's subject lookup checks it
  }
  boost::json::object to_json() const;
  static Result<StatusGet> from_json(const boost::json::object& o);
};

// An account with recorded state, in the list.
// Its lock is as in StatusGetReply; blocked and the verdict are the account's.
struct StatusListAccount {
  static constexpr bool kClosed = false;
  LockStatus lock;
  std::string user;
  int64_t uid = 0;
  bool blocked = false;
  Verdict verdict;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    LockStatus::fields(s.lock, v);
    v(key::kUser, s.user, kRequired);
    v(key::kUid, s.uid, kAlwaysSent);
    v(key::kBlocked, s.blocked, kAlwaysSent);
    Verdict::fields(s.verdict, v);
  }
};

struct StatusListReply {
  static constexpr bool kClosed = false;
  std::vector<StatusListAccount> accounts;
  bool report_mode = false;  // as in StatusGetReply

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kAccounts, s.accounts, kRequired);
    v(key::kReportMode, s.report_mode, kOptional);  // written only when true
  }
  boost::json::object to_json() const;
  static Result<StatusListReply> from_json(const boost::json::object& o);
};

// root only, on the public socket.
struct StatusList {
  static constexpr const char* kMethod = kStatusList;
  static constexpr bool kClosed = true;
  using Reply = StatusListReply;

  template <class S, class V>
  static void fields(S&, V&&) {}
  boost::json::object to_json() const;
  static Result<StatusList> from_json(const boost::json::object& o);
};

// The admin socket's Status.Get: one account's state, or, without a user,
// every account's (then its reply is a StatusListReply). A "user" that is
// there must be a valid name, and every member a string or a boolean: the
// admin socket's rules are vigild's (validate_admin_status).
struct AdminStatusGet {
  static constexpr const char* kMethod = kStatusGet;
  static constexpr bool kClosed = true;
  static constexpr bool kAdmin = true;
  using Reply = StatusGetReply;
  std::string user;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kUser, s.user, kLoose);
  }
  boost::json::object to_json() const;
  static Result<AdminStatusGet> from_json(const boost::json::object& o);
};

// The admin socket's Status.List: every account's state.
struct AdminStatusList {
  static constexpr const char* kMethod = kStatusList;
  static constexpr bool kClosed = true;
  static constexpr bool kAdmin = true;
  using Reply = StatusListReply;

  template <class S, class V>
  static void fields(S&, V&&) {}
  boost::json::object to_json() const;
  static Result<AdminStatusList> from_json(const boost::json::object& o);
};

// ---- io.vigil.Totp.*: one's own second factor (root: anyone's) ----
//
// Each request's user is "" for the caller's own account, and vigild's
// subject lookup checks it; its code (the current one, or a recovery code)
// is "" when the caller gave none, and is a secret.
inline constexpr Spec kTotpCode{Write::kIfSet, Read::kOptional, 64};

// Totp.Enroll: a pending secret, shown once.
struct TotpEnrollReply {
  static constexpr bool kClosed = false;
  std::string user;
  std::string secret;  // base32; a secret
  std::string uri;     // otpauth://; a secret

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kUser, s.user, kRequired);
    v(key::kSecret, s.secret, kRequired);
    v(key::kUri, s.uri, kRequired);
  }
  boost::json::object to_json() const;
  static Result<TotpEnrollReply> from_json(const boost::json::object& o);
};

struct TotpEnroll {
  static constexpr const char* kMethod = kTotpEnroll;
  static constexpr bool kClosed = true;
  using Reply = TotpEnrollReply;
  std::string user;
  std::string code;      // needed to re-enrol over an active factor, but not from root
  std::string password;  // the user's own, for self-enrolment; a secret

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kUser, s.user, kLoose);
    v(key::kCode, s.code, kTotpCode);
    v(key::kPassword, s.password, Spec{Write::kIfSet, Read::kOptional, 512});
  }
  boost::json::object to_json() const;
  static Result<TotpEnroll> from_json(const boost::json::object& o);
};

// Totp.Confirm: the pending secret becomes the active one, on a code of it.
struct TotpConfirmReply {
  static constexpr bool kClosed = false;
  std::string user;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kUser, s.user, kRequired);
  }
  boost::json::object to_json() const;
  static Result<TotpConfirmReply> from_json(const boost::json::object& o);
};

struct TotpConfirm {
  static constexpr const char* kMethod = kTotpConfirm;
  static constexpr bool kClosed = true;
  using Reply = TotpConfirmReply;
  std::string user;
  std::string code;  // of the pending secret

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kUser, s.user, kLoose);
    v(key::kCode, s.code, kTotpCode);
  }
  boost::json::object to_json() const;
  static Result<TotpConfirm> from_json(const boost::json::object& o);
};

// Totp.Disable: the second factor removed.
struct TotpDisableReply {
  static constexpr bool kClosed = false;
  std::string user;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kUser, s.user, kRequired);
  }
  boost::json::object to_json() const;
  static Result<TotpDisableReply> from_json(const boost::json::object& o);
};

struct TotpDisable {
  static constexpr const char* kMethod = kTotpDisable;
  static constexpr bool kClosed = true;
  using Reply = TotpDisableReply;
  std::string user;
  std::string code;  // needed while a factor is active, but not from root

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kUser, s.user, kLoose);
    v(key::kCode, s.code, kTotpCode);
  }
  boost::json::object to_json() const;
  static Result<TotpDisable> from_json(const boost::json::object& o);
};

// Totp.RecoveryCodes: a new set, shown once; the old one is void.
struct TotpRecoveryCodesReply {
  static constexpr bool kClosed = false;
  std::string user;
  std::vector<std::string> codes;  // secrets

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kUser, s.user, kRequired);
    v(key::kCodes, s.codes, kRequired);
  }
  boost::json::object to_json() const;
  static Result<TotpRecoveryCodesReply> from_json(const boost::json::object& o);
};

struct TotpRecoveryCodes {
  static constexpr const char* kMethod = kTotpRecoveryCodes;
  static constexpr bool kClosed = true;
  using Reply = TotpRecoveryCodesReply;
  std::string user;
  std::string code;  // needed, but not from root

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kUser, s.user, kLoose);
    v(key::kCode, s.code, kTotpCode);
  }
  boost::json::object to_json() const;
  static Result<TotpRecoveryCodes> from_json(const boost::json::object& o);
};

}  // namespace vigil::proto::api
