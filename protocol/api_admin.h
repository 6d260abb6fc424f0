// The typed API of the admin socket's account, recovery and token methods:
// Account.Reset, Account.Block, Account.Unblock, Account.PasswordChanged,
// Recovery.Approve, Recovery.List, Admin.Audit, Token.Issue, Token.List,
// Token.Show, Token.Revoke. The contract is api.h's.
//
// Every request here is an admin request (kAdmin): "step_up_code" passes
// unread. vigild calls admin_params() before decoding one (the wire types it
// always allowed, 512 bytes at most), so the members a method checks with
// its own words are read kLoose: a wrong type reads as unset, and the
// validator's rule says what is missing ("a valid \"user\" is required").
//
// Secrets: AccountUnblock::verify_code and TokenIssueReply::token (the rest
// of the contract is api.h's: whoever holds one wipes it).
#pragma once

#include "protocol/api.h"

namespace vigil::proto::api {

namespace key {
inline constexpr char kWasLocked[] = "was_locked";
inline constexpr char kApproval[] = "approval";
inline constexpr char kVerifyCode[] = "verify_code";
inline constexpr char kExpires[] = "expires";
inline constexpr char kDevicesForgotten[] = "devices_forgotten";
inline constexpr char kSuspiciousSince[] = "suspicious_since";
inline constexpr char kMessage[] = "message";
inline constexpr char kRequests[] = "requests";
inline constexpr char kApprovals[] = "approvals";
inline constexpr char kKind[] = "kind";
inline constexpr char kRequester[] = "requester";
inline constexpr char kRequesterUid[] = "requester_uid";
inline constexpr char kCreated[] = "created";
inline constexpr char kAdmins[] = "admins";
inline constexpr char kWithoutTotp[] = "without_totp";
inline constexpr char kWarnings[] = "warnings";
inline constexpr char kName[] = "name";
inline constexpr char kTtl[] = "ttl";
inline constexpr char kAccessor[] = "accessor";
inline constexpr char kOwnerUid[] = "owner_uid";
inline constexpr char kCreatedBy[] = "created_by";
inline constexpr char kExpired[] = "expired";
inline constexpr char kStateReason[] = "state_reason";
inline constexpr char kStateChanged[] = "state_changed";
inline constexpr char kFrozen[] = "frozen";
inline constexpr char kFreezes[] = "freezes";
inline constexpr char kTokens[] = "tokens";
// The audit's report-mode section (names of its own: prefixed so that they
// cannot meet another header's).
inline constexpr char kReportActive[] = "active";
inline constexpr char kReportCounts[] = "counts";
inline constexpr char kReportCount[] = "count";
inline constexpr char kReportLatest[] = "latest";
inline constexpr char kReportSource[] = "source";
inline constexpr char kReportAt[] = "at";
}  // namespace key

// A member vigild checks itself after admin_params(): always written, read
// loosely (the contract above).
inline constexpr Spec kChecked{Write::kAlways, Read::kLoose};

// ---- io.vigil.Account.Reset: clear a lock ----
struct AccountResetReply {
  static constexpr bool kClosed = false;
  std::string user;
  bool was_locked = false;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kUser, s.user, kRequired);
    v(key::kWasLocked, s.was_locked, kRequired);
  }
  boost::json::object to_json() const;
  static Result<AccountResetReply> from_json(const boost::json::object& o);
};

struct AccountReset {
  static constexpr const char* kMethod = kAccountReset;
  static constexpr bool kClosed = true;
  static constexpr bool kAdmin = true;
  using Reply = AccountResetReply;
  std::string user;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kUser, s.user, kChecked);
  }
  boost::json::object to_json() const;
  static Result<AccountReset> from_json(const boost::json::object& o);
};

// ---- io.vigil.Account.Block ----
struct AccountBlockReply {
  static constexpr bool kClosed = false;
  std::string user;
  bool changed = false;  // false: it was blocked already

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kUser, s.user, kRequired);
    v(key::kChanged, s.changed, kRequired);
  }
  boost::json::object to_json() const;
  static Result<AccountBlockReply> from_json(const boost::json::object& o);
};

struct AccountBlock {
  static constexpr const char* kMethod = kAccountBlock;
  static constexpr bool kClosed = true;
  static constexpr bool kAdmin = true;
  using Reply = AccountBlockReply;
  std::string user;
  std::string reason;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kUser, s.user, kChecked);
    v(key::kReason, s.reason, kChecked);
  }
  boost::json::object to_json() const;
  static Result<AccountBlock> from_json(const boost::json::object& o);
};

// ---- io.vigil.Account.Unblock and io.vigil.Recovery.Approve ----
// What expiring the password did, before the unblock.
struct PasswordExpiry {
  static constexpr bool kClosed = false;
  std::string outcome;  // "expired", "not-local", "off" ("failed" stops the unblock)
  std::string message;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kOutcome, s.outcome, kRequired);
    v(key::kMessage, s.message, kRequired);
  }
};

// One reply, three shapes: an unblock filed for approval (pending, id,
// expires), nothing to do (changed false), or the recovery (changed, and
// then the four members after expires, even when 0 or false).
struct UnblockReply {
  static constexpr bool kClosed = false;
  std::string user;
  bool changed = false;
  bool pending = false;      // filed for approval as id, until expires
  std::string id;
  int64_t expires = 0;       // epoch
  int64_t devices_forgotten = 0;
  int64_t suspicious_since = 0;  // epoch
  std::optional<PasswordExpiry> password;
  bool password_change_required = false;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kUser, s.user, kRequired);
    v(key::kChanged, s.changed, kRequired);
    v(key::kPending, s.pending, kOptional);
    v(key::kId, s.id, kOptional);
    v(key::kExpires, s.expires, kOptional);
    // changed is read before these (fields() order), so one Spec serves the
    // encoder and the decoder: written with a recovery only, then always.
    const Spec recovered = s.changed ? Spec{Write::kAlways, Read::kOptional} : kOptional;
    v(key::kDevicesForgotten, s.devices_forgotten, recovered);
    v(key::kSuspiciousSince, s.suspicious_since, recovered);
    v(key::kPassword, s.password, kOptional);
    v(key::kPasswordChangeRequired, s.password_change_required, recovered);
  }
  boost::json::object to_json() const;
  static Result<UnblockReply> from_json(const boost::json::object& o);
};

// verify_code is a secret (api.h's contract). vigild takes one longer than
// 64 bytes as none, as it always did.
struct AccountUnblock {
  static constexpr const char* kMethod = kAccountUnblock;
  static constexpr bool kClosed = true;
  static constexpr bool kAdmin = true;
  using Reply = UnblockReply;
  std::string user;
  std::string reason;
  bool approval = false;    // file it for a second administrator's approval
  std::string verify_code;  // or: the user's code, read out (never both)

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kUser, s.user, kChecked);
    v(key::kReason, s.reason, kChecked);
    v(key::kApproval, s.approval, kLoose);
    v(key::kVerifyCode, s.verify_code, kLoose);
  }
  boost::json::object to_json() const;
  static Result<AccountUnblock> from_json(const boost::json::object& o);
};

struct RecoveryApprove {
  static constexpr const char* kMethod = kRecoveryApprove;
  static constexpr bool kClosed = true;
  static constexpr bool kAdmin = true;
  using Reply = UnblockReply;  // never pending
  std::string id;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kId, s.id, kChecked);
  }
  boost::json::object to_json() const;
  static Result<RecoveryApprove> from_json(const boost::json::object& o);
};

// ---- io.vigil.Account.PasswordChanged: a change made outside PAM ----
struct AccountPasswordChanged {
  static constexpr const char* kMethod = kAccountPasswordChanged;
  static constexpr bool kClosed = true;
  static constexpr bool kAdmin = true;
  using Reply = PasswordChangedReply;  // the module's Password.Changed's (api.h)
  std::string user;
  std::string reason;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kUser, s.user, kChecked);
    v(key::kReason, s.reason, kChecked);
  }
  boost::json::object to_json() const;
  static Result<AccountPasswordChanged> from_json(const boost::json::object& o);
};

// ---- io.vigil.Recovery.List: open requests and approvals ----
// A recovery request or approval (also notify_command's input).
struct RecoveryEntry {
  static constexpr bool kClosed = false;
  std::string id;
  std::string kind;  // "request" or "approval"
  std::string user;
  int64_t uid = 0;
  std::string requester;
  int64_t requester_uid = 0;
  std::string reason;
  int64_t created = 0;  // epoch
  int64_t expires = 0;  // epoch
  bool blocked = false;  // the account is blocked now

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kId, s.id, kRequired);
    v(key::kKind, s.kind, kRequired);
    v(key::kUser, s.user, kRequired);
    v(key::kUid, s.uid, kRequired);
    v(key::kRequester, s.requester, kRequired);
    v(key::kRequesterUid, s.requester_uid, kRequired);
    v(key::kReason, s.reason, kRequired);
    v(key::kCreated, s.created, kRequired);
    v(key::kExpires, s.expires, kRequired);
    v(key::kBlocked, s.blocked, kRequired);
  }
  boost::json::object to_json() const;
};

struct RecoveryListReply {
  static constexpr bool kClosed = false;
  std::vector<RecoveryEntry> requests;
  std::vector<RecoveryEntry> approvals;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kRequests, s.requests, kRequired);
    v(key::kApprovals, s.approvals, kRequired);
  }
  boost::json::object to_json() const;
  static Result<RecoveryListReply> from_json(const boost::json::object& o);
};

struct RecoveryList {
  static constexpr const char* kMethod = kRecoveryList;
  static constexpr bool kClosed = true;
  static constexpr bool kAdmin = true;
  using Reply = RecoveryListReply;

  template <class S, class V>
  static void fields(S&, V&&) {}
  boost::json::object to_json() const;
  static Result<RecoveryList> from_json(const boost::json::object& o);
};

// ---- io.vigil.Admin.Audit: the prevention report ----
struct AuditAdmin {
  static constexpr bool kClosed = false;
  std::string user;
  int64_t uid = 0;
  bool totp = false;  // has a second factor
  bool blocked = false;
  int64_t recovery_codes = 0;  // left

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kUser, s.user, kRequired);
    v(key::kUid, s.uid, kRequired);
    v(key::kTotp, s.totp, kRequired);
    v(key::kBlocked, s.blocked, kRequired);
    v(key::kRecoveryCodes, s.recovery_codes, Spec{Write::kAlways, Read::kOptional});
  }
};

// An account without a second factor.
struct AuditAccount {
  static constexpr bool kClosed = false;
  std::string user;
  int64_t uid = 0;
  bool admin = false;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kUser, s.user, kRequired);
    v(key::kUid, s.uid, kRequired);
    v(key::kAdmin, s.admin, kRequired);
  }
};

struct AuditBlock {
  static constexpr bool kClosed = false;
  std::string user;  // "uid N" when the uid has no name
  int64_t uid = 0;
  std::string reason;
  int64_t since = 0;  // epoch
  std::string by;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kUser, s.user, kRequired);
    v(key::kUid, s.uid, kRequired);
    v(key::kReason, s.reason, kRequired);
    v(key::kSince, s.since, kRequired);
    v(key::kBy, s.by, kRequired);
  }
};

// Report mode ([daemon] mode = "report"): what vigild decided and did not
// enforce, per reason...
struct AuditNotEnforcedCount {
  static constexpr bool kClosed = false;
  std::string reason;
  int64_t count = 0;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kReason, s.reason, kRequired);
    v(key::kReportCount, s.count, kRequired);
  }
};

// ...and the latest ones.
struct AuditNotEnforced {
  static constexpr bool kClosed = false;
  std::string user;
  std::string reason;
  std::string source;   // "" for a local login
  std::string service;  // "" when none
  int64_t at = 0;       // epoch

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kUser, s.user, kRequired);
    v(key::kReason, s.reason, kRequired);
    v(key::kReportSource, s.source, kOptional);
    v(key::kService, s.service, kOptional);
    v(key::kReportAt, s.at, kRequired);
  }
};

// Since vigild started (kept in memory only; the journal has each one).
struct AuditReportMode {
  static constexpr bool kClosed = false;
  bool active = false;  // vigild runs in report mode now
  int64_t since = 0;    // epoch: vigild's start
  std::vector<AuditNotEnforcedCount> counts;  // the most frequent first
  std::vector<AuditNotEnforced> latest;       // the newest first, at most 10

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kReportActive, s.active, kRequired);
    v(key::kSince, s.since, kRequired);
    v(key::kReportCounts, s.counts, kRequired);
    v(key::kReportLatest, s.latest, kRequired);
  }
};

struct AdminAuditReply {
  static constexpr bool kClosed = false;
  std::vector<AuditAdmin> admins;
  std::vector<AuditAccount> without_totp;
  std::vector<AuditBlock> blocked;
  std::vector<RecoveryEntry> requests;  // requests and approvals alike
  std::vector<std::string> warnings;
  // Present when vigild runs in report mode, or did since it started.
  std::optional<AuditReportMode> report_mode;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kAdmins, s.admins, kRequired);
    v(key::kWithoutTotp, s.without_totp, kRequired);
    v(key::kBlocked, s.blocked, kRequired);
    v(key::kRequests, s.requests, kRequired);
    v(key::kWarnings, s.warnings, kRequired);
    v(key::kReportMode, s.report_mode, kOptional);
  }
  boost::json::object to_json() const;
  static Result<AdminAuditReply> from_json(const boost::json::object& o);
};

struct AdminAudit {
  static constexpr const char* kMethod = kAdminAudit;
  static constexpr bool kClosed = true;
  static constexpr bool kAdmin = true;
  using Reply = AdminAuditReply;

  template <class S, class V>
  static void fields(S&, V&&) {}
  boost::json::object to_json() const;
  static Result<AdminAudit> from_json(const boost::json::object& o);
};

// ---- tokens ----
// A token as the admin replies describe it (never the token itself): an
// item of Token.List, and the first members of Token.Issue's, Token.Show's
// and Token.Revoke's replies.
struct TokenInfo {
  static constexpr bool kClosed = false;
  std::string accessor;
  std::string owner;
  int64_t owner_uid = 0;
  std::string name;
  std::vector<std::string> scopes;
  std::string created_by;
  int64_t created = 0;  // epoch
  int64_t expires = 0;  // epoch
  std::string state;    // "active", "suspended" or "revoked"
  bool expired = false;
  std::string state_reason;   // why suspended or revoked
  int64_t state_changed = 0;  // epoch; vigild gives it with a state that is not active

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kAccessor, s.accessor, kRequired);
    v(key::kOwner, s.owner, kRequired);
    v(key::kOwnerUid, s.owner_uid, kRequired);
    v(key::kName, s.name, kRequired);
    v(key::kScopes, s.scopes, kRequired);
    v(key::kCreatedBy, s.created_by, kRequired);
    v(key::kCreated, s.created, kRequired);
    v(key::kExpires, s.expires, kRequired);
    v(key::kState, s.state, kRequired);
    v(key::kExpired, s.expired, kRequired);
    v(key::kStateReason, s.state_reason, kOptional);
    // state is read before it (fields() order): written with a state that
    // is not active only, and then always, 0 too (a token suspended when
    // vigild loaded its state has no time of change).
    const Spec changed = s.state != "active" ? Spec{Write::kAlways, Read::kOptional} : kOptional;
    v(key::kStateChanged, s.state_changed, changed);
  }
};

// ---- io.vigil.Token.Issue: shown once ----
// token is a secret (the contract above).
struct TokenIssueReply {
  static constexpr bool kClosed = false;
  TokenInfo info;
  std::string user;   // the owner, as vigild named it
  std::string token;  // the token itself: vigild keeps only its hash

  template <class S, class V>
  static void fields(S& s, V&& v) {
    TokenInfo::fields(s.info, v);
    v(key::kUser, s.user, kRequired);
    v(key::kToken, s.token, kRequired);
  }
  boost::json::object to_json() const;
  static Result<TokenIssueReply> from_json(const boost::json::object& o);
};

struct TokenIssue {
  static constexpr const char* kMethod = kTokenIssue;
  static constexpr bool kClosed = true;
  static constexpr bool kAdmin = true;
  using Reply = TokenIssueReply;
  std::string owner;
  std::string name;
  std::vector<std::string> scopes;
  std::string ttl;  // a duration ("30d"); "": [tokens] default_ttl

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kOwner, s.owner, kChecked);
    v(key::kName, s.name, kChecked);
    v(key::kScopes, s.scopes, kChecked);
    v(key::kTtl, s.ttl, kLoose);  // vigild: a "ttl" given is parsed, whatever it is
  }
  boost::json::object to_json() const;
  static Result<TokenIssue> from_json(const boost::json::object& o);
};

// ---- io.vigil.Token.List ----
// The token API is frozen while an administrator is blocked.
struct TokenFreeze {
  static constexpr bool kClosed = false;
  std::string user;  // the blocked administrator
  int64_t uid = 0;
  int64_t since = 0;  // epoch
  std::string reason;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kUser, s.user, kRequired);
    v(key::kUid, s.uid, kRequired);
    v(key::kSince, s.since, kRequired);
    v(key::kReason, s.reason, kRequired);
  }
};

struct TokenListReply {
  static constexpr bool kClosed = false;
  std::vector<TokenInfo> tokens;
  bool frozen = false;
  std::vector<TokenFreeze> freezes;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kTokens, s.tokens, kRequired);
    v(key::kFrozen, s.frozen, kRequired);
    v(key::kFreezes, s.freezes, kRequired);
  }
  boost::json::object to_json() const;
  static Result<TokenListReply> from_json(const boost::json::object& o);
};

struct TokenList {
  static constexpr const char* kMethod = kTokenList;
  static constexpr bool kClosed = true;
  static constexpr bool kAdmin = true;
  using Reply = TokenListReply;
  std::string owner;  // "": every owner's

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kOwner, s.owner, kLoose);
  }
  boost::json::object to_json() const;
  static Result<TokenList> from_json(const boost::json::object& o);
};

// ---- io.vigil.Token.Show ----
struct TokenShowReply {
  static constexpr bool kClosed = false;
  TokenInfo info;
  bool frozen = false;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    TokenInfo::fields(s.info, v);
    v(key::kFrozen, s.frozen, kRequired);
  }
  boost::json::object to_json() const;
  static Result<TokenShowReply> from_json(const boost::json::object& o);
};

struct TokenShow {
  static constexpr const char* kMethod = kTokenShow;
  static constexpr bool kClosed = true;
  static constexpr bool kAdmin = true;
  using Reply = TokenShowReply;
  std::string accessor;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kAccessor, s.accessor, kChecked);
  }
  boost::json::object to_json() const;
  static Result<TokenShow> from_json(const boost::json::object& o);
};

// ---- io.vigil.Token.Revoke ----
struct TokenRevokeReply {
  static constexpr bool kClosed = false;
  TokenInfo info;
  bool changed = false;  // false: it was revoked already

  template <class S, class V>
  static void fields(S& s, V&& v) {
    TokenInfo::fields(s.info, v);
    v(key::kChanged, s.changed, kRequired);
  }
  boost::json::object to_json() const;
  static Result<TokenRevokeReply> from_json(const boost::json::object& o);
};

struct TokenRevoke {
  static constexpr const char* kMethod = kTokenRevoke;
  static constexpr bool kClosed = true;
  static constexpr bool kAdmin = true;
  using Reply = TokenRevokeReply;
  std::string accessor;
  std::string reason;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kAccessor, s.accessor, kChecked);
    v(key::kReason, s.reason, kChecked);
  }
  boost::json::object to_json() const;
  static Result<TokenRevoke> from_json(const boost::json::object& o);
};

}  // namespace vigil::proto::api
