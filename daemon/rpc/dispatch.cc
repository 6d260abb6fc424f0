#include "daemon/rpc/dispatch.h"

#include "daemon/core/log.h"
#include "daemon/rpc/admin.h"
#include "daemon/rpc/handlers.h"
#include "protocol/names.h"

namespace vigil {
namespace json = boost::json;
using proto::Reply;

namespace {

namespace m = methods;
constexpr auto kPublic = Socket::kPublic;
constexpr auto kAdmin = Socket::kAdmin;

// Secret fields (dispatch.h): the request's, then the reply's.
constexpr SecretFields kNoSecrets{};
constexpr SecretFields kCode{{"code"}, {}};
constexpr SecretFields kStepUp{{"step_up_code"}, {}};  // any admin request may carry one

// Every method of both sockets. A method's name may appear once per socket.
// clang-format off
const Method kMethods[] = {
  // name                          socket   who            subject               step-up         secrets    validator                       handler
  // ---- login: the module's calls ----
  {proto::kAuthReport,             kPublic, Who::kSelf,    Subject::kAnyName,    StepUp::kNone,  kNoSecrets, m::validate_report,            m::report},
  {proto::kAccountCheck,           kPublic, Who::kSelf,    Subject::kUser,       StepUp::kNone,  kNoSecrets, m::validate_account,           m::account},
  {proto::kAuthVerify,             kPublic, Who::kSelf,    Subject::kAnyName,    StepUp::kNone,  kCode,      m::validate_verify,            m::verify},
  {proto::kSessionOpen,            kPublic, Who::kRoot,    Subject::kUser,       StepUp::kNone,  kNoSecrets, m::validate_session,           m::session_open},
  {proto::kPasswordChanged,        kPublic, Who::kRoot,    Subject::kUser,       StepUp::kNone,  kNoSecrets, m::validate_password_changed,  m::password_changed},
  {proto::kPing,                   kPublic, Who::kAnyone,  Subject::kNone,       StepUp::kNone,  kNoSecrets, m::validate_empty,             m::ping},
  // ---- status ----
  {proto::kStatusGet,              kPublic, Who::kSelf,    Subject::kUserOrSelf, StepUp::kNone,  kNoSecrets, m::validate_user_only,         m::status_get},
  {proto::kStatusList,             kPublic, Who::kRoot,    Subject::kNone,       StepUp::kNone,  kNoSecrets, m::validate_empty,             m::status_list},
  {proto::kStatusGet,              kAdmin,  Who::kAdmin,   Subject::kNone,       StepUp::kNone,  kStepUp,    m::validate_admin_status,      m::admin_status},
  {proto::kStatusList,             kAdmin,  Who::kAdmin,   Subject::kNone,       StepUp::kNone,  kStepUp,    m::validate_admin_empty,       m::admin_status},
  // ---- TOTP: one's own second factor (root: anyone's) ----
  {proto::kTotpEnroll,             kPublic, Who::kSelf,    Subject::kUserOrSelf, StepUp::kNone,  {{"code", "password"}, {"secret", "uri"}},
                                                                                                             m::validate_enroll,            m::totp_enroll},
  {proto::kTotpConfirm,            kPublic, Who::kSelf,    Subject::kUserOrSelf, StepUp::kNone,  kCode,      m::validate_totp,              m::totp_confirm},
  {proto::kTotpDisable,            kPublic, Who::kSelf,    Subject::kUserOrSelf, StepUp::kNone,  kCode,      m::validate_totp,              m::totp_disable},
  {proto::kTotpRecoveryCodes,      kPublic, Who::kSelf,    Subject::kUserOrSelf, StepUp::kNone,  {{"code"}, {"codes"}},
                                                                                                             m::validate_totp,              m::totp_recovery_codes},
  // ---- devices: forgetting only makes logins stricter, so a user may ----
  {proto::kDevicesList,            kPublic, Who::kSelf,    Subject::kUserOrSelf, StepUp::kNone,  kNoSecrets, m::validate_user_only,         m::devices_list},
  {proto::kDevicesList,            kAdmin,  Who::kAdmin,   Subject::kNone,       StepUp::kNone,  kStepUp,    m::validate_admin_user,        m::admin_devices_list},
  {proto::kDevicesForget,          kPublic, Who::kSelf,    Subject::kUser,       StepUp::kNone,  kNoSecrets, m::validate_forget,            m::devices_forget},
  // ---- recovery: any active user asks for a blocked colleague; admins act ----
  {proto::kRecoveryRequest,        kPublic, Who::kAnyone,  Subject::kUser,       StepUp::kNone,  kNoSecrets, m::validate_request,           m::recovery_request},
  {proto::kAccountReset,           kAdmin,  Who::kAdmin,   Subject::kNone,       StepUp::kHeld,  kStepUp,    m::validate_admin_user,        m::reset},
  {proto::kAccountBlock,           kAdmin,  Who::kAdmin,   Subject::kNone,       StepUp::kHeld,  kStepUp,    m::validate_admin_user_reason, m::block},
  {proto::kAccountUnblock,         kAdmin,  Who::kAdmin,   Subject::kNone,       StepUp::kHeld,  {{"step_up_code", "verify_code"}, {}},
                                                                                                             m::validate_unblock,           m::unblock},
  {proto::kAccountPasswordChanged, kAdmin,  Who::kAdmin,   Subject::kNone,       StepUp::kHeld,  kStepUp,    m::validate_admin_user_reason, m::admin_password_changed},
  {proto::kRecoveryApprove,        kAdmin,  Who::kAdmin,   Subject::kNone,       StepUp::kHeld,  kStepUp,    m::validate_approve,           m::approve},
  {proto::kRecoveryList,           kAdmin,  Who::kAdmin,   Subject::kNone,       StepUp::kNone,  kStepUp,    m::validate_admin_empty,       m::recovery_list},
  {proto::kAdminAudit,             kAdmin,  Who::kAdmin,   Subject::kNone,       StepUp::kNone,  kStepUp,    m::validate_admin_empty,       m::audit},
  // ---- tokens: services check them; admins issue and revoke them ----
  {proto::kTokenCheck,             kPublic, Who::kAnyone,  Subject::kNone,       StepUp::kNone,  {{"token"}, {}},
                                                                                                             m::validate_token_check,       m::token_check},
  {proto::kTokenIssue,             kAdmin,  Who::kAdmin,   Subject::kNone,       StepUp::kFresh, {{"step_up_code"}, {"token"}},
                                                                                                             m::validate_token_issue,       m::token_issue},
  {proto::kTokenRevoke,            kAdmin,  Who::kAdmin,   Subject::kNone,       StepUp::kHeld,  kStepUp,    m::validate_token_revoke,      m::token_revoke},
  {proto::kTokenList,              kAdmin,  Who::kAdmin,   Subject::kNone,       StepUp::kNone,  kStepUp,    m::validate_token_list,        m::token_list},
  {proto::kTokenShow,              kAdmin,  Who::kAdmin,   Subject::kNone,       StepUp::kNone,  kStepUp,    m::validate_accessor,          m::token_show},
  // ---- the per-source throttle: admins see and lift it ----
  {proto::kThrottleList,           kAdmin,  Who::kAdmin,   Subject::kNone,       StepUp::kNone,  kStepUp,    m::validate_admin_empty,       m::throttle_list},
  {proto::kThrottleLift,           kAdmin,  Who::kAdmin,   Subject::kNone,       StepUp::kHeld,  kStepUp,    m::validate_throttle_lift,     m::throttle_lift},
  // ---- fleet mode: admins see the hosts ----
  {proto::kFleetStatus,            kAdmin,  Who::kAdmin,   Subject::kNone,       StepUp::kNone,  kStepUp,    m::validate_admin_empty,       m::fleet_status},
  {proto::kFleetQuarantine,        kAdmin,  Who::kAdmin,   Subject::kNone,       StepUp::kFresh, kStepUp,    m::validate_quarantine,        m::fleet_quarantine},
  // ---- root reads on the public socket what administrators read (never a change) ----
  {proto::kThrottleList,           kPublic, Who::kRoot,    Subject::kNone,       StepUp::kNone,  kStepUp,    m::validate_admin_empty,       m::throttle_list},
  {proto::kFleetStatus,            kPublic, Who::kRoot,    Subject::kNone,       StepUp::kNone,  kStepUp,    m::validate_admin_empty,       m::fleet_status},
  {proto::kAdminAudit,             kPublic, Who::kRoot,    Subject::kNone,       StepUp::kNone,  kStepUp,    m::validate_admin_empty,       m::audit},
  {proto::kRecoveryList,           kPublic, Who::kRoot,    Subject::kNone,       StepUp::kNone,  kStepUp,    m::validate_admin_empty,       m::recovery_list},
  {proto::kTokenList,              kPublic, Who::kRoot,    Subject::kNone,       StepUp::kNone,  kStepUp,    m::validate_token_list,        m::token_list},
};
// clang-format on

Reply denied(const Peer& peer, std::string_view method, std::string msg) {
  log::event(log::Priority::kWarning, log::kMsgPermissionDenied,
             "refused " + std::string(method) + " from uid " + std::to_string(peer.uid),
             {{"VIGIL_CALLER_UID", std::to_string(peer.uid)},
              {"VIGIL_METHOD", std::string(method)},
              {"VIGIL_REASON", msg}});
  return refused(std::move(msg));
}

// Resolves the subject a public method names into r.target; a reply when
// the request stops here.
boost::asio::awaitable<std::optional<Reply>> resolve_subject(const Method& m, Request& r) {
  auto user = proto::get_optional_string(r.params, "user");
  if (!user) co_return invalid(user.error().message);
  if (!*user && m.subject != Subject::kUserOrSelf) co_return invalid("missing parameter \"user\"");
  Target& target = r.target;
  if (*user) {
    target.given_name = **user;
    if (valid_user_name(**user)) {
      target.lookup = co_await r.sv.resolver->by_name(**user);
    } else if (m.subject == Subject::kAnyName) {
      target.lookup.status = Lookup::Status::kNotFound;
    } else {
      co_return invalid("invalid user name");
    }
  } else {
    target.lookup = co_await r.sv.resolver->by_uid(r.peer.uid);
  }
  if (target.lookup.status == Lookup::Status::kError) {
    log::warning("user lookup failed (NSS error); refusing " + std::string(m.name),
                 {{"VIGIL_CALLER_UID", std::to_string(r.peer.uid)}});
    co_return unavailable("user lookup failed");  // strictest reading
  }
  if (m.who == Who::kSelf && !r.peer.root() && (!target.lookup.found() || target.lookup.id.uid != r.peer.uid))
    co_return denied(r.peer, m.name, "you may only act for your own account");
  if (!target.lookup.found() && !user->has_value()) co_return not_found("no such user");
  co_return std::nullopt;
}

// The public socket: who may call, the parameters, the subject, then the
// handler.
boost::asio::awaitable<Reply> public_call(Services& sv, const Peer& peer, const proto::Call& call,
                                          const Method* m) {
  if (!m) {
    log::debug("unknown method", {{"VIGIL_CALLER_UID", std::to_string(peer.uid)}});
    co_return Reply::failure(proto::kErrMethodNotFound, "unknown method");
  }
  if (m->who == Who::kRoot && !peer.root()) co_return denied(peer, m->name, "only root may call this method");
  if (auto bad = m->validate(call.params)) co_return *bad;
  Request r{sv, peer, call.params, {}, {}};
  if (m->subject != Subject::kNone) {
    if (auto stop = co_await resolve_subject(*m, r)) co_return std::move(*stop);
  }
  if (sv.fleet) {
    const auto& l = r.target.lookup;
    const std::optional<bool> fleet_subject =
        l.found() ? std::optional<bool>(sv.fleet->account_of(l.id.uid, l.id.name).has_value()) : std::nullopt;
    if (auto no = fleet_degraded_refusal(sv, m->name, fleet_subject)) co_return *no;
  }
  co_return co_await m->handle(r);
}

}  // namespace

const Method* find_method(Socket socket, std::string_view name) {
  for (const auto& m : kMethods)
    if (m.socket == socket && m.name == name) return &m;
  return nullptr;
}

std::span<const Method> request_table() { return kMethods; }

const SecretFields& secret_fields(bool admin_socket, std::string_view method) {
  if (const Method* m = find_method(admin_socket ? kAdmin : kPublic, method)) return m->secrets;
  // An unknown method: whatever a confused client sent, the usual names.
  static const SecretFields kUnknownPublic{{"code", "password", "token"}, {}};
  static const SecretFields kUnknownAdmin{{"step_up_code", "verify_code"}, {}};
  return admin_socket ? kUnknownAdmin : kUnknownPublic;
}

std::optional<Reply> fleet_degraded_refusal(const Services& sv, std::string_view method,
                                            std::optional<bool> fleet_subject) {
  if (!sv.fleet || !sv.fleet->degraded()) return std::nullopt;
  // Recovery and enrolment of a fleet account (or of no account named: an
  // approval) need the database; those of this host's own accounts (root,
  // system accounts: break-glass territory) do not. A token or a
  // quarantine always does: the freeze may have changed fleet-wide.
  struct Need {
    std::string_view method, what;
    bool any_subject;
  };
  static constexpr Need kNeedsDatabase[] = {
      {proto::kAccountUnblock, "recovery", false},     {proto::kRecoveryApprove, "recovery", false},
      {proto::kAccountReset, "recovery", false},       {proto::kTotpEnroll, "enrolment", false},
      {proto::kTotpConfirm, "enrolment", false},       {proto::kTotpDisable, "enrolment", false},
      {proto::kTotpRecoveryCodes, "enrolment", false}, {proto::kTokenIssue, "a token change", true},
      {proto::kFleetQuarantine, "a quarantine", true},
  };
  for (const auto& [name, what, any_subject] : kNeedsDatabase) {
    if (name != method) continue;
    if (!any_subject && fleet_subject == false) return std::nullopt;
    const auto& st = sv.fleet->degraded_state();
    const std::string since = st.since == std::chrono::system_clock::time_point{}
                                  ? std::string("since vigild started")
                                  : "since " + utc_text(std::chrono::time_point_cast<Seconds>(st.since));
    return Reply::failure(proto::kErrDatabaseUnreachable,
                          "refused: this host is in fleet degraded mode (" + since + ": " + st.why + "), and " +
                              std::string(what) +
                              " needs the fleet's database; try again once `vigilctl fleet status` shows "
                              "it caught up");
  }
  return std::nullopt;
}

boost::asio::awaitable<Reply> dispatch(Services& sv, const Peer& peer, const proto::Call& call) {
  try {
    const Method* m = find_method(peer.admin_socket ? kAdmin : kPublic, call.method);
    if (peer.admin_socket) co_return co_await admin_call(sv, peer, call, m);
    co_return co_await public_call(sv, peer, call, m);
  } catch (const std::exception& e) {
    log::error(std::string("internal error in a request: ") + e.what());
  }
  co_return Reply::failure(proto::kErrInternal, "internal error");
}

}  // namespace vigil
