// The recovery rules: who may act on the admin socket, who may unblock whom,
// who may approve, and who is left to verify. Pure: no I/O, no clock of its
// own; unit-tested with tables (tests/unit/test_recovery.cc).
//
// Contract:
//  * A refusal is a sentence for the person at the terminal; nullopt allows.
//  * "Active" means not blocked. A temporary lock never makes anyone
//    inactive: attackers must not be able to stop admins by locking them.
//  * Nobody lifts their own block, files a request for themselves, or
//    approves an unblock they asked for or that lifts their own block.
//  * Unblocking an administrator needs identity verification: a code of the
//    blocked administrator, or the approval of a third active administrator.
//  * When no active administrator other than the blocked account is left,
//    recovery is refused with kNobodyLeft (break-glass is the only way).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "daemon/core/clock.h"
#include "daemon/core/records.h"

namespace vigil::recovery {

inline constexpr char kNobodyLeft[] =
    "no other active administrator can verify this account; the only way left is the offline "
    "break-glass procedure (BREAK-GLASS in vigild(8))";

// An administrator as the daemon sees one: a member of [roles] admin_groups.
struct Admin {
  int64_t uid = 0;
  std::string name;
  bool blocked = false;
};

// May this caller use the admin socket?
std::optional<std::string> admin_refusal(int64_t uid, bool is_admin, bool blocked, bool allow_root);

// Active administrators, leaving out the given uids.
std::vector<Admin> active_admins(const std::vector<Admin>& admins, std::set<int64_t> except = {});

enum class Verification { kNone, kCode, kApproval };

struct UnblockCase {
  int64_t actor_uid = 0;
  int64_t target_uid = 0;
  std::string target_name;
  bool target_admin = false;
  Verification how = Verification::kNone;
  std::vector<Admin> admins;  // every administrator, blocked or not
};
std::optional<std::string> unblock_refusal(const UnblockCase& c);

std::optional<std::string> approve_refusal(const RecoveryRecord& r, int64_t approver_uid,
                                           TimePoint now);

// A recovery request by requester for target (public socket).
std::optional<std::string> request_refusal(int64_t requester_uid, bool requester_blocked,
                                           int64_t target_uid, const std::vector<Admin>& admins);

// The prevention warnings: fewer than three administrators, an administrator
// without a second factor, or with one but no recovery code left (a lost
// phone then needs another administrator), a blocked administrator nobody is
// left to verify. `recovery_codes`: codes left per uid (absent: none).
std::vector<std::string> audit_warnings(const std::vector<Admin>& admins, const std::set<int64_t>& with_factor,
                                        const std::map<int64_t, int64_t>& recovery_codes);

}  // namespace vigil::recovery
