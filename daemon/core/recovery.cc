#include "daemon/core/recovery.h"

namespace vigil::recovery {

std::optional<std::string> admin_refusal(int64_t uid, bool is_admin, bool blocked, bool allow_root) {
  if (uid == 0) {
    if (allow_root) return std::nullopt;
    return "root may not use the admin socket ([recovery] allow_root = false): a root shell does "
           "not say which person acts. Run vigilctl as your own administrator account";
  }
  if (!is_admin) return "you are not an administrator (not a member of [roles] admin_groups)";
  if (blocked)
    return "your account is blocked: you cannot act as an administrator until another "
           "administrator recovers it";
  return std::nullopt;
}

std::vector<Admin> active_admins(const std::vector<Admin>& admins, std::set<int64_t> except) {
  std::vector<Admin> out;
  for (const auto& a : admins)
    if (!a.blocked && !except.count(a.uid)) out.push_back(a);
  return out;
}

std::optional<std::string> unblock_refusal(const UnblockCase& c) {
  if (c.actor_uid == c.target_uid)
    return "you cannot lift your own block: another active administrator must recover your account";
  // The caller is an active administrator (or root, allowed by config):
  // someone other than the account. An administrator's account needs more.
  if (!c.target_admin) return std::nullopt;
  if (active_admins(c.admins, {c.target_uid}).empty()) return std::string(kNobodyLeft);
  switch (c.how) {
    case Verification::kNone:
      return c.target_name +
             " is an administrator: unblocking needs identity verification (--verify-code or "
             "--approval)";
    case Verification::kCode:
      return std::nullopt;
    case Verification::kApproval:
      if (active_admins(c.admins, {c.target_uid, c.actor_uid}).empty())
        return "no third active administrator can approve this unblock: use --verify-code with "
               "a code " + c.target_name + " reads out";
      return std::nullopt;
  }
  return std::string("unknown verification");
}

std::optional<std::string> approve_refusal(const RecoveryRecord& r, int64_t approver_uid,
                                           TimePoint now) {
  if (r.kind != RecoveryRecord::Kind::kApproval)
    return r.id + " is a recovery request, not an unblock waiting for approval: unblock " + r.name +
           " with vigilctl unblock";
  if (now >= r.expires) return "request " + r.id + " has expired";
  if (approver_uid == r.requester_uid)
    return "you filed this request: another administrator must approve it";
  if (approver_uid == r.uid) return "you cannot approve the lifting of your own block";
  return std::nullopt;
}

std::optional<std::string> request_refusal(int64_t requester_uid, bool requester_blocked,
                                           int64_t target_uid, const std::vector<Admin>& admins) {
  if (requester_uid == target_uid)
    return "you cannot file a recovery request for yourself: ask a colleague";
  if (requester_blocked) return "your account is blocked: you cannot file recovery requests";
  if (active_admins(admins, {target_uid}).empty()) return std::string(kNobodyLeft);
  return std::nullopt;
}

std::vector<std::string> audit_warnings(const std::vector<Admin>& admins, const std::set<int64_t>& with_factor,
                                        const std::map<int64_t, int64_t>& recovery_codes) {
  std::vector<std::string> out;
  if (admins.size() < 3)
    out.push_back("fewer than three administrators (" + std::to_string(admins.size()) +
                  "): approval needs a third administrator, so a blocked administrator without "
                  "a second factor cannot be recovered");
  for (const auto& a : admins)
    if (!with_factor.count(a.uid)) out.push_back("administrator " + a.name + " has no second factor");
  for (const auto& a : admins)
    if (with_factor.count(a.uid) && !recovery_codes.count(a.uid))
      out.push_back("administrator " + a.name + " has no recovery codes left: a lost phone then needs " +
                    "another administrator (vigilctl totp recovery-codes " + a.name + ")");
  for (const auto& a : admins)
    if (a.blocked && active_admins(admins, {a.uid}).empty())
      out.push_back("administrator " + a.name + " is blocked and " + kNobodyLeft);
  return out;
}

}  // namespace vigil::recovery
