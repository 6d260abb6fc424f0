// Method and error names of the vigil wire protocol (varlink-style).
//
// Every program speaks only through these names; a new method is added here
// first, then to the daemon's dispatch table (daemon/dispatch.cc), then to its
// clients.
#pragma once

namespace vigil::proto {

// Public socket.
inline constexpr char kAuthReport[] = "io.vigil.Auth.Report";      // module: password outcome
inline constexpr char kAccountCheck[] = "io.vigil.Account.Check";  // module: account phase
inline constexpr char kStatusGet[] = "io.vigil.Status.Get";        // one account's state
inline constexpr char kStatusList[] = "io.vigil.Status.List";      // root: every account
inline constexpr char kAccountReset[] = "io.vigil.Account.Reset";  // root: clear a lock
inline constexpr char kPing[] = "io.vigil.Daemon.Ping";            // anyone: liveness
inline constexpr char kAuthVerify[] = "io.vigil.Auth.Verify";      // module: the second factor
inline constexpr char kTotpEnroll[] = "io.vigil.Totp.Enroll";
inline constexpr char kTotpConfirm[] = "io.vigil.Totp.Confirm";
inline constexpr char kTotpDisable[] = "io.vigil.Totp.Disable";
inline constexpr char kTotpRecoveryCodes[] = "io.vigil.Totp.RecoveryCodes";
inline constexpr char kAccountBlock[] = "io.vigil.Account.Block";      // root: block
inline constexpr char kAccountUnblock[] = "io.vigil.Account.Unblock";  // root: lift a block
inline constexpr char kSessionOpen[] = "io.vigil.Session.Open";     // module: a login session began
inline constexpr char kDevicesList[] = "io.vigil.Devices.List";
inline constexpr char kDevicesForget[] = "io.vigil.Devices.Forget";

// Errors.
inline constexpr char kErrInvalidRequest[] = "io.vigil.Error.InvalidRequest";
inline constexpr char kErrMethodNotFound[] = "io.vigil.Error.MethodNotFound";
inline constexpr char kErrInvalidParameter[] = "io.vigil.Error.InvalidParameter";
inline constexpr char kErrPermissionDenied[] = "io.vigil.Error.PermissionDenied";
inline constexpr char kErrNotFound[] = "io.vigil.Error.NotFound";
inline constexpr char kErrUnavailable[] = "io.vigil.Error.Unavailable";
inline constexpr char kErrInternal[] = "io.vigil.Error.Internal";

// Values of Auth.Report "outcome" and of every "verdict".
inline constexpr char kOutcomeFailure[] = "failure";
inline constexpr char kOutcomeSuccess[] = "success";
inline constexpr char kVerdictAllow[] = "allow";
inline constexpr char kVerdictDeny[] = "deny";
// Auth.Report: the password was right; prompt for a code and call Auth.Verify.
inline constexpr char kVerdictVerify[] = "verify";

}  // namespace vigil::proto
