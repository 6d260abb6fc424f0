// The records vigil keeps: what the store writes and reads, and what the
// engine and the pure rules (recovery.h) pass around. Plain data, no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "daemon/core/clock.h"
#include "daemon/core/policy.h"
#include "daemon/core/secrets.h"
#include "daemon/core/tokens.h"

namespace vigil {

// An account's second factor. Secrets are sealed boxes (see secrets.h).
struct TotpRecord {
  int64_t uid = 0;
  Bytes active_box;                  // empty: no active factor
  Bytes pending_box;                 // empty: no enrolment waiting for its first code
  TimePoint pending_at{};
  int64_t last_step = 0;             // last accepted time step; never accepted again
  TimePoint confirmed_at{};
  std::vector<TimePoint> otp_failures;  // wrong codes after a right password
  TimePoint required_since{};        // first seen required without a factor (grace)

  bool active() const { return !active_box.empty(); }
  bool empty() const {
    return active_box.empty() && pending_box.empty() && otp_failures.empty() &&
           required_since == TimePoint{} && last_step == 0;
  }
};

// A device that completed a login of the account (see device.h).
struct DeviceRecord {
  std::string device;
  TimePoint first_seen{};
  TimePoint last_seen{};
};

// A persistent block: signs that the account is compromised. It lasts until
// recovery.
struct BlockRecord {
  std::string reason;
  TimePoint since{};
  std::string by;       // "vigild" (a trigger) or the acting user
  std::string details;  // JSON: the devices and sources involved
};

// A recovery request (an active user asking for a blocked colleague), or an
// unblock that waits for a second administrator's approval.
struct RecoveryRecord {
  enum class Kind { kRequest, kApproval };
  std::string id;            // "R-" + 6 characters
  Kind kind = Kind::kRequest;
  int64_t uid = 0;           // the blocked account
  std::string name;
  int64_t requester_uid = 0;
  std::string requester;
  std::string reason;
  TimePoint created{};
  TimePoint expires{};
};

// A weighty event kept for the record: a break-glass unblock done offline,
// reported loudly by the daemon at its next start.
struct HistoryRecord {
  int64_t id = 0;
  TimePoint at{};
  std::string kind;  // "break-glass"
  int64_t uid = 0;
  std::string name;
  std::string by;
  std::string reason;
  bool reported = false;
};

// The token API is frozen while any row exists: one per blocked
// administrator, removed by that administrator's recovery.
struct FreezeRecord {
  int64_t uid = 0;
  std::string name;
  TimePoint since{};
  std::string reason;
};

// A revocation to tell external systems about ([tokens] revoke_hooks_dir).
struct OutboxItem {
  int64_t id = 0;
  std::string payload;     // JSON for the hooks' stdin (never a token)
  std::string done_hooks;  // names of the hooks that succeeded, one per line
  int attempts = 0;
  TimePoint next_at{};
  TimePoint created{};
};

// A recovered account whose password is still the one from before its
// block: no password opens it (the console excepted) until a change is
// reported from the PAM password phase, or an administrator records one.
struct PasswordChangeRecord {
  TimePoint since{};
  std::string by;      // who recovered the account
  std::string reason;  // the recovery's reason
};

// A login session (its audit session id, within one boot) and the device it
// came from, for sudo and su run inside it. Bound to the session's uid.
struct SessionRecord {
  uint32_t id = 0;
  int64_t uid = 0;
  std::string device;
  TimePoint at{};
};

// One counted wrong password of an account, as vigilctl status lists it
// (like faillock's tally): when, in which of the account's buckets, from
// where, through which service.
struct FailureRecord {
  int64_t uid = 0;
  TimePoint at{};
  std::string bucket;   // "uid:N" (unknown devices) or "uid:N:dev:DEVICE"
  std::string source;   // normalised source (device.h), "" for a local login
  std::string service;  // the PAM service
};

// Fleet degraded mode: one decision made on this host while the fleet's
// database was unreachable, kept until vigil.replay() has taken it
// (fleet.h). local_seq is assigned by the store, increasing, never reused.
struct JournalEntry {
  int64_t local_seq = 0;
  TimePoint at{};
  std::string kind;     // "failure", "success", "refused", "block"
  std::string account;  // the fleet's key of the account ("" for an unresolved name)
  std::string entry;    // JSON: the fields vigil.replay() reads
};

struct BucketRecord {
  std::string key;
  std::optional<int64_t> uid;  // empty for unknown names
  std::string name;            // canonical user name; empty for unknown names
  LockState state;
  // Account buckets ("uid:N") only: locks of the account's unknown-device
  // bucket in a row, since its last root-reported success ([block]
  // escalate_after_locks).
  int escalation = 0;
};

}  // namespace vigil
