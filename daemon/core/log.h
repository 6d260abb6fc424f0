// Logging for vigild: one place that writes events.
//
// Contract:
//  * Under journald ($JOURNAL_STREAM names our stderr) events go through
//    sd_journal_send with structured fields; otherwise one plain line on
//    stderr: "vigild: <message> [FIELD=value ...]".
//  * Security events carry a stable MESSAGE_ID (the constants below, listed
//    in vigild(8)) and VIGIL_* fields.
//  * Callers never pass a password, code or secret, and never an unresolved
//    user name (people type passwords into the user prompt). Values are
//    sanitised: control characters become '?'. A field whose value is ""
//    (an unknown service, no address) is left out, never sent empty.
//  * Times in messages are UTC text (utc_text(), core/clock.h), never epochs.
//  * Thread-safe.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

namespace vigil::log {

enum class Priority { kCrit = 2, kErr = 3, kWarning = 4, kNotice = 5, kInfo = 6, kDebug = 7 };

struct Field {
  std::string_view name;  // e.g. "VIGIL_USER"
  std::string value;
};

// Stable MESSAGE_IDs.
inline constexpr char kMsgStarted[] = "37be816b9e7e4df8af23ec459e37ff93";
inline constexpr char kMsgStopped[] = "83b0de1097e34f668d42cf70a0ce8585";
inline constexpr char kMsgReloaded[] = "2148aeebbf64463b965af86953cfdaff";
inline constexpr char kMsgConfigRejected[] = "e34db749393e4c71be04fa6f9e9f2888";
inline constexpr char kMsgLocked[] = "d94a9d994c9a423eb32f18a2643a82e2";
inline constexpr char kMsgUnlocked[] = "d075280e4b20434f8ac6c09062c78397";
inline constexpr char kMsgReset[] = "618048a6d57149d4bf728e0b1151948d";
inline constexpr char kMsgRefusedLocked[] = "55b5d80f43b34379858f7f0209afee66";
inline constexpr char kMsgStoreFailed[] = "c6727fd3b6cc41b2a46cd14240bb7d15";
inline constexpr char kMsgStoreRecovered[] = "89626afd86f746b98e07a770ff62b39d";
inline constexpr char kMsgPermissionDenied[] = "0d7aa96873bf4d1abe6abf12d762a4c8";
inline constexpr char kMsgTotpGrace[] = "b054139780bf476cba1c4b023c2d5678";
inline constexpr char kMsgTotpMissing[] = "4874026b2e004e4f89f7837716fa53f8";
inline constexpr char kMsgTotpEnrolled[] = "0b2d4710d2fa478ca270f4df74ed5552";
inline constexpr char kMsgTotpConfirmed[] = "98a8b5fc6e6d436dbaed88b6dbbf0976";
inline constexpr char kMsgTotpDisabled[] = "cd5654ab58044e6da8b485bc61e9c1ac";
inline constexpr char kMsgRecoveryCodes[] = "8624aabc43fd46e1ab1fc647111f5c2e";
inline constexpr char kMsgCodeRefused[] = "37f37f9c3532455d88a2dc4018ec31e0";
inline constexpr char kMsgThrottled[] = "6d690fab287a43a993332218559d4fff";
inline constexpr char kMsgThrottleLifted[] = "ce6ec271b6ee4c4eb92e79190df7f098";
inline constexpr char kMsgBlocked[] = "cf4c60c979054965a8e27dd29cc055f7";
inline constexpr char kMsgUnblocked[] = "2e3383d598c44e8fb78a61532193d19c";
inline constexpr char kMsgDevicesForgotten[] = "f6d2d483a89d41e782259ba2046b0156";
inline constexpr char kMsgAdminAction[] = "aee21c28c6ee4ebd8738cf51b46cf986";
inline constexpr char kMsgBreakGlass[] = "2c8b5cf93e8d43ae97dbf1225c850a79";
inline constexpr char kMsgRecoveryRequest[] = "b20f26488a9a4498a1183d4a2de6421e";
inline constexpr char kMsgAuditWarning[] = "1bb548a9ad5344109037d8ad0bdccae1";
inline constexpr char kMsgApprovalFiled[] = "f0740426d7b4430da927f82f6ceb16b2";
inline constexpr char kMsgPasswordExpired[] = "6a8434ac7470413599e879443cf7a065";
inline constexpr char kMsgTokenIssued[] = "3e4f59fc386e4929a0b05561fd674481";
inline constexpr char kMsgTokenRevoked[] = "d08a33b197074877b750556bc238d964";
inline constexpr char kMsgTokenSuspended[] = "71d469c3af18451c9516439f0e14cfb3";
inline constexpr char kMsgTokenRestored[] = "24d7c639b27c4abb8b47e09924d29268";
inline constexpr char kMsgApiFrozen[] = "ae79b7b57e6c43fb8236f4127026b57f";
inline constexpr char kMsgApiUnfrozen[] = "f8b3d03c62dc428092259b51cb664eb4";
inline constexpr char kMsgHookFailed[] = "fd66633eaa3a49019eccd5cc8e7ddae9";
inline constexpr char kMsgRecoveryRefused[] = "74485ffc941d41768a7ad33b1093f2ae";
inline constexpr char kMsgPasswordChangeRequired[] = "583a6cd426d54b79b5f38e2ac7bc631a";
inline constexpr char kMsgPasswordChanged[] = "2afc8b0d88ab473ebaa9bb1455be33fd";
// Report mode ([daemon] mode = "report"): a refusal, or a block's effect on
// tokens and sessions, that was decided and recorded but not enforced.
inline constexpr char kMsgNotEnforced[] = "0a56d156860e40c5ac244b67648d0818";
// Fleet mode: the shared database could not be reached (again, while the
// host was already degraded), and a connection to it was made.
inline constexpr char kMsgFleetUnreachable[] = "319d454e65b542548ef3eb4f79591bef";
inline constexpr char kMsgFleetConnected[] = "d404f799aae04fbfac9c888bee07dc28";
// Fleet degraded mode: entered (a missed deadline, a lost connection: the
// host decides alone and journals), and left (caught up: the journal
// replayed, the events applied).
inline constexpr char kMsgFleetDegraded[] = "4b3d941333cf46f4a09b1c78fd766f3d";
inline constexpr char kMsgFleetHealed[] = "a2c36c4091bd4686bfc336d3b2ed80e0";
// Fleet: the database had lost history this host had applied (a restore,
// a rewind, a failover to a standby that was behind): its blocks re-asserted.
inline constexpr char kMsgFleetReasserted[] = "64ccf53ba70b432a9005aec6189df706";

void init();  // detects journald; call once at start
void set_debug(bool on);
bool debug_enabled();

void event(Priority prio, std::string_view message_id, std::string_view message,
           std::initializer_list<Field> fields = {});

inline void error(std::string_view msg, std::initializer_list<Field> f = {}) {
  event(Priority::kErr, {}, msg, f);
}
inline void warning(std::string_view msg, std::initializer_list<Field> f = {}) {
  event(Priority::kWarning, {}, msg, f);
}
inline void info(std::string_view msg, std::initializer_list<Field> f = {}) {
  event(Priority::kInfo, {}, msg, f);
}
void debug(std::string_view msg, std::initializer_list<Field> f = {});

}  // namespace vigil::log
