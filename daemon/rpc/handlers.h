// The handlers and validators of the request table (dispatch.cc), by domain;
// each domain is one file, methods_<domain>.cc. A handler runs only after its
// row's validator accepted the parameters and the dispatcher authorised the
// caller (request.h).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <optional>
#include <set>
#include <vector>

#include "daemon/core/recovery.h"
#include "daemon/rpc/request.h"
#include "protocol/message.h"

namespace vigil::methods {

using proto::Reply;
using Params = boost::json::object;
using Answer = boost::asio::awaitable<Reply>;

// ---- login (methods_login.cc): the module's calls ----
std::optional<Reply> validate_report(const Params& p);
std::optional<Reply> validate_account(const Params& p);
std::optional<Reply> validate_verify(const Params& p);
std::optional<Reply> validate_session(const Params& p);
std::optional<Reply> validate_password_changed(const Params& p);
Answer report(Request& r);            // Auth.Report
Answer account(Request& r);           // Account.Check
Answer verify(Request& r);            // Auth.Verify
Answer session_open(Request& r);      // Session.Open
Answer password_changed(Request& r);  // Password.Changed (the module's password phase)
Answer ping(Request& r);              // Daemon.Ping

// ---- status (methods_status.cc) ----
std::optional<Reply> validate_user_only(const Params& p);
std::optional<Reply> validate_empty(const Params& p);
std::optional<Reply> validate_admin_status(const Params& p);
std::optional<Reply> validate_admin_empty(const Params& p);
Answer status_get(Request& r);    // public: the subject's state
Answer status_list(Request& r);   // every account
Answer admin_status(Request& r);  // admin: one account ("user") or every one
// One account's state, and every account's, as replies.
Answer status_reply(Services& sv, const Identity& id);
Answer status_list_reply(Services& sv);

// ---- TOTP (methods_totp.cc) ----
std::optional<Reply> validate_enroll(const Params& p);
std::optional<Reply> validate_totp(const Params& p);
Answer totp_enroll(Request& r);
Answer totp_confirm(Request& r);
Answer totp_disable(Request& r);
Answer totp_recovery_codes(Request& r);

// ---- devices (methods_devices.cc) ----
std::optional<Reply> validate_forget(const Params& p);
Answer devices_list(Request& r);
Answer admin_devices_list(Request& r);  // admin: any account's
Answer devices_forget(Request& r);

// ---- recovery (methods_recovery.cc) ----
std::optional<Reply> validate_request(const Params& p);
std::optional<Reply> validate_admin_user(const Params& p);
std::optional<Reply> validate_admin_user_reason(const Params& p);
std::optional<Reply> validate_unblock(const Params& p);
std::optional<Reply> validate_approve(const Params& p);
Answer recovery_request(Request& r);        // public: for a blocked colleague
Answer reset(Request& r);                   // admin: clear a lock
Answer block(Request& r);                   // admin
Answer unblock(Request& r);                 // admin: recover
Answer approve(Request& r);                 // admin: complete an approval unblock
Answer admin_password_changed(Request& r);  // admin: record a change made outside PAM
Answer recovery_list(Request& r);           // admin
Answer audit(Request& r);                   // admin: the prevention report

// ---- tokens (methods_tokens.cc) ----
std::optional<Reply> validate_token_check(const Params& p);
std::optional<Reply> validate_token_issue(const Params& p);
std::optional<Reply> validate_token_list(const Params& p);
std::optional<Reply> validate_accessor(const Params& p);
std::optional<Reply> validate_token_revoke(const Params& p);
Answer token_check(Request& r);   // public
Answer token_issue(Request& r);   // admin
Answer token_list(Request& r);    // admin
Answer token_show(Request& r);    // admin
Answer token_revoke(Request& r);  // admin

// ---- the per-source throttle (methods_throttle.cc) ----
std::optional<Reply> validate_throttle_lift(const Params& p);
Answer throttle_list(Request& r);  // admin; root on the public socket
Answer throttle_lift(Request& r);  // admin

// ---- fleet mode (methods_fleet.cc) ----
Answer fleet_status(Request& r);  // admin; root on the public socket
std::optional<Reply> validate_quarantine(const Params& p);
Answer fleet_quarantine(Request& r);  // admin; the actor's code checked by the database

// ---- shared between domains ----
// Ends the password change a recovery required (a PAM change, or an admin's
// record).
Answer password_changed_reply(Services& sv, const Identity& id, std::string by);
// Every administrator, with whether each is blocked.
struct AdminPicture {
  std::vector<recovery::Admin> admins;
  Directory dir;
  Overview ov;
};
boost::asio::awaitable<Result<AdminPicture>> admin_picture(Services& sv);
boost::asio::awaitable<Result<Overview>> overview(Services& sv);
// A recovery request or approval, as replies and notify_command show it.
boost::json::object recovery_json(const RecoveryRecord& r, const std::set<int64_t>& blocked);
// The block on an account, if any.
boost::asio::awaitable<Result<std::optional<BlockRecord>>> block_of(Services& sv, uid_t uid);

}  // namespace vigil::methods
