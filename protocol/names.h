// Method and error names of the vigil wire protocol (varlink-style).
//
// Every program speaks only through these names; a new method is added here
// first, then to the daemon's dispatch table (daemon/rpc/dispatch.cc), then to its
// clients.
#pragma once

namespace vigil::proto {

// Public socket.
inline constexpr char kAuthReport[] = "io.vigil.Auth.Report";      // module: password outcome
inline constexpr char kAccountCheck[] = "io.vigil.Account.Check";  // module: account phase
inline constexpr char kStatusGet[] = "io.vigil.Status.Get";        // one account's state
inline constexpr char kStatusList[] = "io.vigil.Status.List";      // root: every account
inline constexpr char kPing[] = "io.vigil.Daemon.Ping";            // anyone: liveness
inline constexpr char kAuthVerify[] = "io.vigil.Auth.Verify";      // module: the second factor
inline constexpr char kTotpEnroll[] = "io.vigil.Totp.Enroll";
inline constexpr char kTotpConfirm[] = "io.vigil.Totp.Confirm";
inline constexpr char kTotpDisable[] = "io.vigil.Totp.Disable";
inline constexpr char kTotpRecoveryCodes[] = "io.vigil.Totp.RecoveryCodes";
inline constexpr char kSessionOpen[] = "io.vigil.Session.Open";     // module: a login session began
inline constexpr char kDevicesList[] = "io.vigil.Devices.List";
inline constexpr char kDevicesForget[] = "io.vigil.Devices.Forget";
// Anyone: services check an API token (daemon/core/tokens.h).
inline constexpr char kTokenCheck[] = "io.vigil.Token.Check";
// Any active user, for a blocked colleague (never for oneself).
inline constexpr char kRecoveryRequest[] = "io.vigil.Recovery.Request";
// Root callers (the module's password phase): a password was changed.
inline constexpr char kPasswordChanged[] = "io.vigil.Password.Changed";

// Admin socket (daemon/rpc/admin.cc). Status.Get and Status.List are served
// there too. Every call may carry "step_up_code".
inline constexpr char kAccountReset[] = "io.vigil.Account.Reset";      // clear a lock
inline constexpr char kAccountBlock[] = "io.vigil.Account.Block";      // block
inline constexpr char kAccountUnblock[] = "io.vigil.Account.Unblock";  // recover
// Records that a recovered account's password was changed outside PAM (a
// directory's own tool): password logins work again.
inline constexpr char kAccountPasswordChanged[] = "io.vigil.Account.PasswordChanged";
inline constexpr char kRecoveryApprove[] = "io.vigil.Recovery.Approve";  // complete an --approval unblock
inline constexpr char kRecoveryList[] = "io.vigil.Recovery.List";      // requests and approvals
inline constexpr char kAdminAudit[] = "io.vigil.Admin.Audit";          // prevention report
inline constexpr char kTokenIssue[] = "io.vigil.Token.Issue";          // shown once
inline constexpr char kTokenList[] = "io.vigil.Token.List";
inline constexpr char kTokenShow[] = "io.vigil.Token.Show";
inline constexpr char kTokenRevoke[] = "io.vigil.Token.Revoke";
// The per-source throttle: its list (root may read it on the public socket
// too), and lifting a source's ban.
inline constexpr char kThrottleList[] = "io.vigil.Throttle.List";
inline constexpr char kThrottleLift[] = "io.vigil.Throttle.Lift";
inline constexpr char kFleetStatus[] = "io.vigil.Fleet.Status";
inline constexpr char kFleetQuarantine[] = "io.vigil.Fleet.Quarantine";

// Errors.
inline constexpr char kErrInvalidRequest[] = "io.vigil.Error.InvalidRequest";
inline constexpr char kErrMethodNotFound[] = "io.vigil.Error.MethodNotFound";
inline constexpr char kErrInvalidParameter[] = "io.vigil.Error.InvalidParameter";
inline constexpr char kErrPermissionDenied[] = "io.vigil.Error.PermissionDenied";
inline constexpr char kErrNotFound[] = "io.vigil.Error.NotFound";
inline constexpr char kErrUnavailable[] = "io.vigil.Error.Unavailable";
inline constexpr char kErrInternal[] = "io.vigil.Error.Internal";
// Fleet mode: the shared database is unreachable, so vigild has no decision.
// The module answers as it does when vigild is absent (its failmode).
inline constexpr char kErrDatabaseUnreachable[] = "io.vigil.Error.DatabaseUnreachable";
// Admin socket: this change needs the caller's own current code.
inline constexpr char kErrStepUpRequired[] = "io.vigil.Error.StepUpRequired";

// Values of Auth.Report "outcome" and of every "verdict".
inline constexpr char kOutcomeFailure[] = "failure";
inline constexpr char kOutcomeSuccess[] = "success";
inline constexpr char kVerdictAllow[] = "allow";
inline constexpr char kVerdictDeny[] = "deny";
// Auth.Report: the password was right; prompt for a code and call Auth.Verify.
inline constexpr char kVerdictVerify[] = "verify";

}  // namespace vigil::proto
