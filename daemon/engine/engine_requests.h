// What the engine is asked and what it answers: the requests and results of
// its operations (engine.h). Plain values, no behaviour.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "daemon/core/clock.h"
#include "daemon/core/config.h"
#include "daemon/core/policy.h"
#include "daemon/core/records.h"
#include "daemon/core/tokens.h"
#include "protocol/result.h"

namespace vigil {

struct ReportRequest {
  std::string key;             // bucket key
  std::optional<int64_t> uid;  // empty for unresolved names
  std::string name;            // canonical name; empty for unresolved names
  std::string nonce;           // may be empty (no de-duplication)
  Outcome outcome = Outcome::kFailure;
  bool root_caller = false;
  bool exempt = false;
  bool console = false;        // a console login vouched for by a root caller
  bool totp_required = false;  // by [totp] require, for this account
  bool admin = false;          // a member of [roles] admin_groups
  std::string device;          // device id (device.h); empty: none (unknown, never trusted)
  std::string source;          // normalised source ("" for local logins)
  // The caller's audit session (sudo, su inside a login session): its device
  // is the session's. 0: none.
  uint32_t audit_session = 0;
  // For the device rules:
  std::vector<std::string> groups;
  std::string service, rhost, tty;
  // Fleet degraded mode (fleet.h): the report of a fleet account decided on
  // this host while the fleet's database is unreachable. The caller has
  // decided the second factor (the engine neither prompts nor keeps a
  // challenge), the lock's deny is `deny`, and the decision is journaled
  // (store.h) in the transaction that records it, answered only after its
  // commit: kind "failure" for a wrong password, "success" or "refused" for
  // a right one, with `entry` (JSON) as its fields. A block the report makes
  // is journaled too (kind "block").
  struct Offline {
    int deny = 0;
    std::string account;  // the fleet's key of the account ("" for an unresolved name)
    std::string entry;    // JSON object; the engine adds "verdict"
    // A device rule that requires a code refuses the right password (no
    // code can be checked): [fleet] offline_totp = "deny".
    bool code_refuses = true;
    // Why the caller refuses a right password ("" when it does not): it is
    // refused after the block and the rules, not counted, and journaled.
    std::string refuse;
  };
  std::optional<Offline> offline;
};

struct ReportResult {
  Status status = Ok{};  // not ok: the decision could not be made durable
  Decision decision;
  LockState state;       // after the decision
  bool duplicate = false;
  // Ask for a code (after a right password and after a wrong one alike).
  // Host-level: the same for every name, known or not (see host_prompts).
  bool prompt = false;
  bool verify = false;   // the password was right: a code must follow (challenge left)
  bool in_grace = false; // required but not enrolled, still within [totp] grace
  TimePoint grace_ends{};
  bool known_device = false;
  bool blocked = false;       // refused: the account is blocked (now, or by this attempt)
  bool blocked_now = false;   // this attempt blocked it
  bool throttled = false;     // refused: its source is throttled
  int denied_by_rule = 0;     // refused by the deny rule on this config line
  // Report mode: the refusal this answer did not enforce ("" when none); the
  // fields above still say what was decided.
  std::string not_enforced;
};

// The account phase's answer (in report mode, always an allow: what would
// have denied is in not_enforced).
struct AccountVerdict {
  bool blocked = false;
  int denied_by_rule = 0;  // the deny rule's config line, or 0
  std::string not_enforced;
};

struct VerifyRequest {
  std::string key;
  int64_t uid = 0;
  std::string name;
  std::string nonce;
  std::string code;  // wiped by the engine; "" when the service could not ask, or the
                     // answer was the password (then refused uncounted, or allowed
                     // where no code is needed)
  bool root_caller = false;
  bool no_prompt = false;  // the service cannot prompt (module option prompt=no)
};

struct VerifyResult {
  Status status = Ok{};
  bool allow = false;
  bool in_grace = false;  // allowed without a factor the account will need
  TimePoint grace_ends{};
  bool counted = false;        // a wrong code counted toward max_failures
  bool locked_now = false;
  bool recovery_code = false;  // a recovery code was used
  bool blocked_now = false;
  std::string not_enforced;    // report mode: the refusal waived here ("" when none)
};

struct BlockResult {
  Status status = Ok{};
  bool changed = false;  // false: it was already so (blocked, or not blocked)
};

enum class TotpOp { kEnroll, kConfirm, kDisable, kRecoveryCodes };

struct TotpRequest {
  TotpOp op = TotpOp::kEnroll;
  int64_t uid = 0;
  std::string name;
  bool root_caller = false;
  std::string code;  // the caller's current code or a recovery code; wiped
  bool password_proven = false;  // kEnroll by the user: the password was just checked (PAM)
};

struct TotpResult {
  Status status = Ok{};       // Error::Refused (with the reason), or a failure of the store
  std::string secret_b32;     // enrol: shown once
  std::string uri;            // enrol
  std::vector<std::string> codes;  // recovery codes: shown once
};

// What Status.Get shows: the bucket and the second factor, without secrets.
// A source of an account's recent failures whose throttle bans it now.
struct SourceBan {
  std::string source;  // as the failure recorded it
  std::string bucket;  // the banned throttle bucket, e.g. "2001:db8:1::/48"
  TimePoint until{};
};

struct AccountView {
  std::optional<BucketRecord> bucket;
  std::vector<BucketRecord> known_buckets;    // one per known device with state
  std::vector<FailureRecord> recent_failures;  // newest first (Store::kFailuresKept at most)
  std::vector<SourceBan> banned_sources;       // of those failures' sources, the banned ones
  std::optional<BlockRecord> block;
  std::optional<PasswordChangeRecord> password_change;  // a recovery's, not yet done
  std::vector<DeviceRecord> devices;
  bool totp_active = false;
  bool totp_pending = false;
  int64_t recovery_codes = 0;
  int64_t otp_failures = 0;
};

// One account in the list: its own bucket (the unknown devices'; empty
// state when it has none), its known devices' buckets that are locked, and
// its block.
struct AccountSummary {
  BucketRecord account;
  std::vector<BucketRecord> locked_devices;
  std::optional<BlockRecord> block;
};

// A code checked outside a login: an administrator's step-up, or the
// identity proof of a blocked account read out to the administrator.
enum class ProofOutcome { kOk, kWrong, kReplay, kNoFactor, kTooMany };

struct ProofResult {
  Status status = Ok{};
  ProofOutcome outcome = ProofOutcome::kWrong;
};

// An unblock. Either uid/name (with an optional verify_code of that account,
// checked in the same batch), or approval_id (the account comes from the
// pending approval, which approve_refusal() must allow for actor_uid).
// Checked again inside the batch: the actor is not the account and is not
// blocked, and an approval's requester is not blocked either.
struct RecoverRequest {
  int64_t uid = 0;
  std::string name;
  int64_t actor_uid = -1;  // -1: nobody on the admin socket (break-glass)
  std::string by;       // who, for the record and the log
  std::string reason;
  std::string verify_code;  // wiped by the engine
  std::string approval_id;
  std::optional<HistoryRecord> history;  // written in the same transaction
};

struct RecoverResult {
  Status status = Ok{};         // Error::Refused: nothing changed, the reason said
  int64_t uid = 0;
  std::string name;
  bool changed = false;         // false: it was not blocked
  int64_t devices_forgotten = 0;
  bool password_change = false; // the account now needs a password change
  TimePoint suspicious_since{};
};

// Report mode: one refusal (or a block's effect) decided and not enforced.
struct NotEnforced {
  std::string user;     // the account
  std::string reason;   // "locked", "blocked", "deny rule at line 12", ...
  std::string source;   // normalised source; "" for a local login
  std::string service;  // PAM service; "" when none
  std::string device;   // device id (device.h); "" when none
  TimePoint at{};
  std::string detail;   // logged after the reason, not counted (a block's effects)
};

// What report mode did not enforce since vigild started (memory only: the
// journal keeps every one).
struct NotEnforcedLog {
  static constexpr std::size_t kLatest = 10;
  TimePoint since{};                       // when the engine started
  std::map<std::string, int64_t> counts;   // by reason
  std::deque<NotEnforced> latest;          // newest last, at most kLatest
};

// What the admin socket's listings and the prevention audit read.
struct Overview {
  std::vector<std::pair<int64_t, BlockRecord>> blocks;
  std::vector<int64_t> with_factor;        // uids with an active second factor
  std::map<int64_t, int64_t> recovery_codes;  // codes left, per uid that has any
  std::vector<RecoveryRecord> recovery;    // open requests and approvals (expired ones dropped)
  NotEnforcedLog not_enforced;             // report mode
};

// Service API tokens.
struct TokenIssueRequest {
  int64_t owner_uid = 0;
  std::string owner;
  std::string name;
  std::vector<std::string> scopes;
  int64_t by_uid = 0;
  std::string by;
  Seconds ttl{30 * 86400};
};

struct TokenIssueResult {
  Status status = Ok{};  // Error::Refused: frozen API, blocked owner
  tokens::Token token;  // its record (hash only)
  std::string secret;   // the token itself: shown once, wiped by the caller
};

struct TokenCheckResult {
  tokens::Verdict verdict = tokens::Verdict::kUnknown;
  std::string owner;
  std::vector<std::string> scopes;
  std::string accessor;
  std::string not_enforced;  // report mode: "token API frozen" or "owner blocked"; "" when none
};

struct TokenListing {
  std::vector<tokens::Token> tokens;
  std::vector<FreezeRecord> freezes;  // non-empty: the API is frozen
};

struct TokenRevokeResult {
  Status status = Ok{};  // Error::NotFound: no such token
  tokens::Token token;
  bool changed = false;  // false: it was already revoked
};

struct PasswordChangedResult {
  Status status = Ok{};
  bool changed = false;  // false: no change was required
};

struct ResetResult {
  Status status = Ok{};
  bool was_locked = false;
  bool existed = false;
};

}  // namespace vigil
