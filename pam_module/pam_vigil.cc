// pam_vigil.so: a thin PAM shim. It reports the outcome of the password step
// to vigild and returns the daemon's verdict. See pam_vigil(8) and
// DESIGN.md, "The PAM stack".
//
//   auth     [success=1 default=ignore]               pam_unix.so
//   auth     [default=die]                            pam_vigil.so authfail
//   auth     required                                 pam_permit.so
//   auth     [success=ok ignore=ignore default=die]   pam_vigil.so authsucc
//   account  required                                 pam_vigil.so
//
// Rules this file keeps:
//  * No exception crosses the C ABI: every entry point is wrapped.
//  * authfail never returns anything but PAM_AUTH_ERR, whatever happens: with
//    [default=die] anything else could let the stack continue to success.
//  * One round trip per call, on a fresh connection closed before returning,
//    within one deadline (protocol/client.h).
//  * Each pam_authenticate call gets one nonce, so a stack that reports twice
//    in one call counts once. The nonce is kept in PAM_OLDAUTHTOK, which
//    libpam wipes at the start and end of every pam_authenticate call, so a
//    second call on the same handle (sudo's retries) gets a fresh one.
//  * No secret is read or logged; the user name is logged only at debug level.
#include <fcntl.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <syslog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "pam_module/options.h"
#include "protocol/wipe.h"
#include "protocol/api.h"
#include "protocol/api_lite.h"
#include "protocol/transport.h"
#include "protocol/login.h"
#include "protocol/names.h"
#include "protocol/utf8.h"

namespace {

using vigil::pam::FailMode;
using vigil::pam::Mode;
using vigil::pam::Options;
namespace proto = vigil::proto;
namespace api = vigil::proto::api;

constexpr char kVerdictData[] = "vigil.verdict";
constexpr char kNonceMarker[] = "vigil-call:";

struct Verdict {
  std::string user;
  bool allow = false;
};

void free_verdict(pam_handle_t*, void* data, int) { delete static_cast<Verdict*>(data); }

std::string item(pam_handle_t* pamh, int type) {
  const void* v = nullptr;
  if (pam_get_item(pamh, type, &v) != PAM_SUCCESS || v == nullptr) return {};
  return static_cast<const char*>(v);
}

// Text for the wire: strictly valid UTF-8 (RFC 3629: no overlong forms, no
// surrogates), no control characters, at most max bytes. Items such as
// PAM_RHOST can come from the network; a report must never be lost because
// one of them is malformed (the daemon refuses a frame that is not UTF-8).
std::string wire_text(std::string_view in, size_t max, bool keep_newlines = false) {
  std::string out;
  size_t i = 0;
  while (i < in.size()) {
    uint32_t cp = 0;
    size_t len = proto::utf8_sequence(in, i, &cp);
    bool ok = len > 0 && (!proto::is_control(cp) || (keep_newlines && cp == '\n'));
    if (len == 0) len = 1;
    if (out.size() + (ok ? len : 1) > max) break;
    if (ok) out.append(in.substr(i, len));
    else out.push_back('?');
    i += len;
  }
  return out;
}

// What the config files said to the previous module line of this
// transaction (its key: the files it read), and when. A login's lines run
// within milliseconds of each other (authsucc, then the account line): the
// next line takes the same files' answer instead of checking them again,
// so a login looks at them once. Never older than kFilesMemoTtl: a handle
// kept for long (a screen locker's) checks the files again.
constexpr char kFilesData[] = "vigil.files";
constexpr auto kFilesMemoTtl = std::chrono::seconds(2);
struct FilesMemo {
  std::string key;
  vigil::pam::FileOptions files;
  std::chrono::steady_clock::time_point at;
};
void free_files_memo(pam_handle_t*, void* data, int) { delete static_cast<FilesMemo*>(data); }

vigil::pam::FileOptions files_for(pam_handle_t* pamh, const std::vector<std::string_view>& args) {
  const std::string key = vigil::pam::files_key(args);
  const auto now = std::chrono::steady_clock::now();
  const void* data = nullptr;
  if (pam_get_data(pamh, kFilesData, &data) == PAM_SUCCESS && data) {
    const auto* m = static_cast<const FilesMemo*>(data);
    if (m->key == key && now - m->at < kFilesMemoTtl) return m->files;
  }
  auto* m = new FilesMemo{key, vigil::pam::load_files(args), now};
  vigil::pam::FileOptions files = m->files;
  if (pam_set_data(pamh, kFilesData, m, free_files_memo) != PAM_SUCCESS) delete m;
  return files;
}

bool load_options(pam_handle_t* pamh, int argc, const char** argv, Options* out) {
  std::vector<std::string_view> args(argv, argv + argc);
  auto parsed = vigil::pam::apply_args(args, files_for(pamh, args));
  if (!parsed.error.empty()) {
    pam_syslog(pamh, LOG_ERR, "bad module argument, refusing: %s", parsed.error.c_str());
    return false;
  }
  if (!parsed.config_error.empty())
    pam_syslog(pamh, LOG_ERR, "ignoring unreadable configuration (built-in defaults, no console "
               "exemption): %s", parsed.config_error.c_str());
  *out = parsed.options;
  return true;
}

// A fresh nonce for this pam_authenticate call, or the one already set in it.
std::string call_nonce(pam_handle_t* pamh) {
  std::string marker = item(pamh, PAM_OLDAUTHTOK);
  if (marker.rfind(kNonceMarker, 0) == 0) return marker.substr(sizeof(kNonceMarker) - 1);
  unsigned char raw[16];
  // Never block and never abort inside sshd: without randomness there is no
  // nonce, and every report simply counts.
  if (::getrandom(raw, sizeof raw, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof raw)) return {};
  static const char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char b : raw) {
    hex.push_back(kHex[b >> 4]);
    hex.push_back(kHex[b & 15]);
  }
  if (marker.empty()) {
    std::string value = std::string(kNonceMarker) + hex;
    pam_set_item(pamh, PAM_OLDAUTHTOK, value.c_str());
  }
  return hex;
}

// This process's audit session (/proc/self/sessionid): sudo and su run inside
// the login session whose device they belong to. 0 when unset.
uint32_t audit_session_id() {
  int fd = ::open("/proc/self/sessionid", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[16] = {0};
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return 0;
  unsigned long v = std::strtoul(buf, nullptr, 10);
  return v > 0 && v < 4294967295UL ? static_cast<uint32_t>(v) : 0;
}

// The login every call but Auth.Verify describes. An unset item stays ""
// (wire_text keeps a non-empty text non-empty), which is never sent.
api::Login login_of(pam_handle_t* pamh, const std::string& user) {
  api::Login l;
  l.user = wire_text(user, 1024);  // the daemon refuses a mangled or long name
  l.service = wire_text(item(pamh, PAM_SERVICE), 256);
  l.rhost = wire_text(item(pamh, PAM_RHOST), 256);
  l.tty = wire_text(item(pamh, PAM_TTY), 256);
  l.ruser = wire_text(item(pamh, PAM_RUSER), 256);
  // sshd with ExposeAuthInfo: the public key used, which names the device.
  if (const char* info = pam_getenv(pamh, "SSH_AUTH_INFO_0"); info && *info)
    l.auth_info = wire_text(info, 8192, true);
  l.audit_session = audit_session_id();
  // The daemon trusts this only from a root peer: a setuid caller (su, sudo)
  // run by a local user can never vouch for a console login.
  l.setuid = ::getuid() != ::geteuid();
  return l;
}

// The fail mode in use is a security event: where journald runs it carries
// a stable MESSAGE_ID (listed in vigild(8)); elsewhere it goes to syslog.
constexpr char kMsgFailMode[] = "2dd7a5d0f4844ef8b539404e3f56adfb";

// journald's native protocol: one datagram of KEY=value lines. Written here
// rather than through libsystemd, so that loading the module (once per PAM
// transaction) loads no further library. False when journald is not there.
bool journal_send(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string msg;
  for (const auto& [k, v] : fields) {
    msg += k;
    msg += '=';
    for (char c : v) msg.push_back(c == '\n' ? ' ' : c);
    msg += '\n';
  }
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, "/run/systemd/journal/socket", sizeof(addr.sun_path) - 1);
  ssize_t n = ::sendto(fd, msg.data(), msg.size(), MSG_NOSIGNAL | MSG_DONTWAIT,
                       reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::close(fd);
  return n == static_cast<ssize_t>(msg.size());
}

void failmode_event(pam_handle_t* pamh, proto::Transport t, const std::string& why, const char* rule,
                    bool deferred) {
  const char* action = deferred ? "deferring to the password module" : "refusing";
  const std::string service = item(pamh, PAM_SERVICE);
  const std::string text = "pam_vigil(" + service + "): vigild could not decide (" +
                           proto::transport_name(t) + ": " + why + "); " + rule + ": " + action;
  if (journal_send({{"MESSAGE", text},
                    {"MESSAGE_ID", kMsgFailMode},
                    {"PRIORITY", std::to_string(LOG_ERR)},
                    {"SYSLOG_IDENTIFIER", "pam_vigil"},
                    {"VIGIL_SERVICE", service},
                    {"VIGIL_TRANSPORT", proto::transport_name(t)},
                    {"VIGIL_FAILMODE", rule},
                    {"VIGIL_OUTCOME", deferred ? "deferred" : "refused"}}))
    return;
  pam_syslog(pamh, LOG_ERR, "vigild could not decide (%s: %s); %s: %s", proto::transport_name(t),
             why.c_str(), rule, action);
}

// What to do when the daemon cannot decide. PAM_IGNORE lets the password
// module decide alone; any other value refuses.
int unavailable(pam_handle_t* pamh, const Options& o, proto::Transport t, const std::string& why) {
  const bool setuid_caller = ::getuid() != ::geteuid();
  const bool console = proto::is_console_login(item(pamh, PAM_RHOST), item(pamh, PAM_TTY)) &&
                       o.console_exempt && ::getuid() == 0 && ::geteuid() == 0;
  int rc = PAM_AUTHINFO_UNAVAIL;
  const char* rule = "failmode=secure";
  if (setuid_caller) {
    rule = "setuid caller: always secure";
  } else if (console) {
    rc = PAM_IGNORE;
    rule = "console login: exempt";
  } else if (o.failmode == FailMode::kSafe && t == proto::Transport::kAbsent) {
    rc = PAM_IGNORE;
    rule = "failmode=safe, daemon absent";
  } else if (o.failmode == FailMode::kSafe) {
    rule = "failmode=safe applies only to an absent daemon";
  }
  failmode_event(pamh, t, why, rule, rc == PAM_IGNORE);
  return rc;
}

using vigil::wipe;  // protocol/wipe.h

// One call to vigild and its reply, encoded and decoded without Boost.JSON
// (protocol/api_lite.h); the request frame is wiped once sent.
struct Answer {
  proto::Transport transport = proto::Transport::kIo;
  std::string detail;          // when transport != kOk
  api::lite::Reply reply;      // when transport == kOk
};

template <class T>
Answer ask(const Options& o, const T& request) {
  Answer a;
  auto frame = api::lite::encode_call(request);
  if (!frame) {
    a.detail = frame.error().message;
    return a;
  }
  proto::FrameCall sent = proto::call_frame(proto::ClientOptions{o.socket, o.timeout, true}, *frame);
  wipe(*frame);
  a.transport = sent.transport;
  a.detail = std::move(sent.detail);
  if (a.transport != proto::Transport::kOk) return a;
  auto reply = api::lite::decode_reply(sent.reply);
  if (!reply) {
    a.transport = proto::Transport::kGarbage;
    a.detail = reply.error().message;
    return a;
  }
  a.reply = std::move(*reply);
  return a;
}

constexpr char kCodePrompt[] = "Verification code: ";

// Asks for the second factor. Returns false when the conversation fails.
bool ask_code(pam_handle_t* pamh, std::string* code) {
  char* resp = nullptr;
  int rc = pam_prompt(pamh, PAM_PROMPT_ECHO_OFF, &resp, "%s", kCodePrompt);
  if (rc != PAM_SUCCESS || resp == nullptr) {
    if (resp) free(resp);
    return false;
  }
  code->assign(resp);
  explicit_bzero(resp, std::strlen(resp));
  free(resp);
  return true;
}

// The code check that follows the prompt: the code (or "" when there is
// none) for this call's nonce. The caller wipes the copy of the code.
api::AuthVerify verify_request(const api::AuthReport& report, const std::string& code, const Options& o) {
  return api::AuthVerify{report.login.user, report.nonce, code, !o.can_prompt};
}

// The same prompt, answer thrown away unverified, and the same round trip
// after it (the daemon refuses it: no right password in this call): a wrong
// password, or a refused account, must look and take exactly like a right
// one, before the prompt and after it.
void ask_and_discard(pam_handle_t* pamh, const Options& o, const api::AuthReport& report) {
  std::string code;
  if (o.can_prompt) ask_code(pamh, &code);
  wipe(code);
  ask(o, verify_request(report, "", o));
}

// The daemon's warning to the user (a second factor required soon), unless
// the application asked for silence.
void show_warning(pam_handle_t* pamh, int flags, const std::string& warning) {
  if (flags & PAM_SILENT) return;
  if (!warning.empty()) pam_info(pamh, "%s", warning.c_str());
}

void remember(pam_handle_t* pamh, const std::string& user, bool allow) {
  auto* v = new Verdict{user, allow};
  if (pam_set_data(pamh, kVerdictData, v, free_verdict) != PAM_SUCCESS) delete v;
}

// The second factor, after a right password: the prompt, then Auth.Verify.
// user is the PAM user (the report carries its wire text).
int second_factor(pam_handle_t* pamh, int flags, const Options& o, const api::AuthReport& report,
                  const std::string& user) {
  remember(pamh, user, false);
  std::string code;
  if (o.can_prompt && !ask_code(pamh, &code)) return PAM_AUTH_ERR;
  // Clients that answer every prompt with the password (sshd's
  // PasswordAuthentication, python-pam, screen lockers): the password never
  // goes out as a code; an empty one does, which an account with a factor
  // refuses uncounted, and one without accepts.
  std::string authtok = item(pamh, PAM_AUTHTOK);
  if (!code.empty() && code == authtok) {
    wipe(code);
    if (o.debug) pam_syslog(pamh, LOG_DEBUG, "code prompt answered with the password; not sent");
  }
  wipe(authtok);
  api::AuthVerify verify = verify_request(report, code, o);
  wipe(code);
  Answer vres = ask(o, verify);
  wipe(verify.code);
  if (vres.transport != proto::Transport::kOk) {
    // The daemon answered the password step: it is there. Never "safe" here.
    pam_syslog(pamh, LOG_ERR, "vigild did not answer the code check (%s); refusing",
               proto::transport_name(vres.transport));
    return PAM_AUTHINFO_UNAVAIL;
  }
  auto vreply = api::lite::decode_params<api::AuthVerifyReply>(vres.reply.params);
  bool allow = vres.reply.ok() && vreply && vreply->verdict == proto::kVerdictAllow;
  remember(pamh, user, allow);
  if (allow) show_warning(pamh, flags, vreply->warning);
  return allow ? PAM_SUCCESS : PAM_AUTH_ERR;
}

int authenticate(pam_handle_t* pamh, int flags, int argc, const char** argv) {
  Options o;
  bool have_options = load_options(pamh, argc, argv, &o);
  // Without a mode the module cannot know what to report: refuse.
  if (have_options && o.mode == Mode::kNone) {
    pam_syslog(pamh, LOG_ERR, "auth needs the argument authfail or authsucc; refusing");
    have_options = false;
  }
  const bool failed_password = !have_options || o.mode == Mode::kAuthFail;
  const char* user_c = nullptr;
  if (pam_get_user(pamh, &user_c, nullptr) != PAM_SUCCESS || !user_c || !*user_c) {
    remember(pamh, "", false);
    return failed_password ? PAM_AUTH_ERR : PAM_USER_UNKNOWN;
  }
  std::string user = user_c;
  if (!have_options) {
    remember(pamh, user, false);
    return failed_password ? PAM_AUTH_ERR : PAM_SERVICE_ERR;
  }

  const api::AuthReport report{login_of(pamh, user),
                               failed_password ? proto::kOutcomeFailure : proto::kOutcomeSuccess,
                               call_nonce(pamh)};
  Answer res = ask(o, report);

  if (failed_password) {
    // The password already failed: report it (done above) and fail, always.
    remember(pamh, user, false);
    if (res.transport != proto::Transport::kOk)
      pam_syslog(pamh, LOG_WARNING, "could not report a failure to vigild (%s: %s)",
                 proto::transport_name(res.transport), res.detail.c_str());
    else if (!res.reply.ok())
      pam_syslog(pamh, LOG_WARNING, "vigild refused a failure report: %s",
                 res.reply.error.c_str());
    if (res.transport == proto::Transport::kOk && res.reply.ok()) {
      if (auto reply = api::lite::decode_params<api::AuthReportReply>(res.reply.params); reply && reply->prompt)
        ask_and_discard(pamh, o, report);
    }
    return PAM_AUTH_ERR;
  }

  if (res.transport != proto::Transport::kOk) {
    remember(pamh, user, false);
    int rc = unavailable(pamh, o, res.transport, res.detail);
    if (rc == PAM_IGNORE) remember(pamh, user, true);
    return rc;
  }
  if (!res.reply.ok()) {
    remember(pamh, user, false);
    if (res.reply.error == proto::kErrPermissionDenied) return PAM_AUTH_ERR;
    if (res.reply.error == proto::kErrDatabaseUnreachable) {
      // Fleet mode without its database: as if vigild were absent.
      int rc = unavailable(pamh, o, proto::Transport::kAbsent, "vigild's fleet database is unreachable");
      if (rc == PAM_IGNORE) remember(pamh, user, true);
      return rc;
    }
    return unavailable(pamh, o, proto::Transport::kGarbage, res.reply.error);
  }
  auto reply = api::lite::decode_params<api::AuthReportReply>(res.reply.params);
  if (!reply) {
    remember(pamh, user, false);
    return unavailable(pamh, o, proto::Transport::kGarbage, "reply without a verdict");
  }
  if (o.debug)
    pam_syslog(pamh, LOG_DEBUG, "verdict for %s: %s", user.c_str(), reply->verdict.c_str());
  if (reply->verdict == proto::kVerdictAllow) {
    remember(pamh, user, true);
    show_warning(pamh, flags, reply->warning);
    return PAM_SUCCESS;
  }
  if (reply->verdict != proto::kVerdictVerify) {
    // A refusal looks exactly like a wrong password, prompt included.
    remember(pamh, user, false);
    if (reply->prompt) ask_and_discard(pamh, o, report);
    return PAM_AUTH_ERR;
  }

  // The password was right, and this host asks every login for a code. The
  // daemon decides whether this account needs one.
  return second_factor(pamh, flags, o, report, user);
}

int account(pam_handle_t* pamh, int argc, const char** argv) {
  Options o;
  if (!load_options(pamh, argc, argv, &o)) return PAM_SERVICE_ERR;
  const char* user_c = nullptr;
  if (pam_get_user(pamh, &user_c, nullptr) != PAM_SUCCESS || !user_c || !*user_c)
    return PAM_USER_UNKNOWN;
  std::string user = user_c;

  // Same handle already authenticated with success: reuse that verdict, no
  // round trip. A refused password on this handle proves nothing about the
  // account (sshd may go on to a public-key login on the same handle), so
  // then the daemon is asked.
  const void* data = nullptr;
  if (pam_get_data(pamh, kVerdictData, &data) == PAM_SUCCESS && data) {
    const auto* v = static_cast<const Verdict*>(data);
    if (v->user == user && v->allow) return PAM_SUCCESS;
  }

  // The account phase answers to failmode_account= when it is given.
  Options ao = o;
  if (o.failmode_account) ao.failmode = *o.failmode_account;
  Answer res = ask(o, api::AccountCheck{login_of(pamh, user)});
  if (res.transport != proto::Transport::kOk)
    return unavailable(pamh, ao, res.transport, res.detail);
  if (!res.reply.ok()) {
    if (res.reply.error == proto::kErrPermissionDenied) return PAM_PERM_DENIED;
    if (res.reply.error == proto::kErrDatabaseUnreachable)
      return unavailable(pamh, ao, proto::Transport::kAbsent, "vigild's fleet database is unreachable");
    return unavailable(pamh, ao, proto::Transport::kGarbage, res.reply.error);
  }
  auto reply = api::lite::decode_params<api::AccountCheckReply>(res.reply.params);
  if (!reply) return unavailable(pamh, ao, proto::Transport::kGarbage, "reply without a verdict");
  return reply->verdict == proto::kVerdictAllow ? PAM_SUCCESS : PAM_PERM_DENIED;
}

template <class F>
int guarded(pam_handle_t* pamh, int on_exception, F&& f) noexcept {
  try {
    return f();
  } catch (const std::exception& e) {
    pam_syslog(pamh, LOG_CRIT, "internal error: %s", e.what());
  } catch (...) {
    pam_syslog(pamh, LOG_CRIT, "internal error");
  }
  return on_exception;
}

}  // namespace

// The C++ runtime is linked into the module (-static-libstdc++). Its default
// terminate handler prints the type of the exception that ended the process,
// demangled, and so links in the demangler: 37 KB of code that every login
// process would map (bench/RESULTS.md, "Fewer pages per login process").
// guarded() catches every exception, so std::terminate can only come from a
// bug such as an exception thrown out of a noexcept function; it then ends
// the process with abort(), as the default handler does after its message.
namespace __gnu_cxx {
void __verbose_terminate_handler() { std::abort(); }
}  // namespace __gnu_cxx

#define VIGIL_EXPORT __attribute__((visibility("default")))

extern "C" {

VIGIL_EXPORT int pam_sm_authenticate(pam_handle_t* pamh, int flags, int argc, const char** argv) {
  return guarded(pamh, PAM_AUTH_ERR, [&] { return authenticate(pamh, flags, argc, argv); });
}

// pam_setcred runs the same auth lines; [default=die] would turn PAM_IGNORE
// into a failure, so succeed.
VIGIL_EXPORT int pam_sm_setcred(pam_handle_t*, int, int, const char**) { return PAM_SUCCESS; }

// session: tells the daemon which device this login session belongs to, so
// that sudo and su inside it count as that device. Never fails the session.
VIGIL_EXPORT int pam_sm_open_session(pam_handle_t* pamh, int, int argc, const char** argv) {
  return guarded(pamh, PAM_IGNORE, [&] {
    Options o;
    if (!load_options(pamh, argc, argv, &o)) return PAM_IGNORE;
    const char* user = nullptr;
    if (pam_get_user(pamh, &user, nullptr) != PAM_SUCCESS || !user) return PAM_IGNORE;
    // Only a new login session names a device: never a setuid caller's (su
    // and sudo run by a user) nor one that says who ran it (PAM_RUSER: su,
    // sudo), whose own session phase would otherwise replace the login's.
    if (::geteuid() != 0 || ::getuid() != 0 || !item(pamh, PAM_RUSER).empty()) return PAM_IGNORE;
    const api::SessionOpen session{login_of(pamh, user)};
    if (session.login.audit_session == 0) return PAM_IGNORE;
    ask(o, session);
    return PAM_IGNORE;
  });
}

VIGIL_EXPORT int pam_sm_close_session(pam_handle_t*, int, int, const char**) { return PAM_IGNORE; }

// password: placed after the password module (`password optional
// pam_vigil.so` after pam_unix's success jump and pam_permit), so that the
// update pass reaches it only when the password was changed. Tells the
// daemon, which then ends the password change a recovery required. Only a
// root caller is believed (passwd is setuid root; chpasswd runs as root).
// Never fails the change.
VIGIL_EXPORT int pam_sm_chauthtok(pam_handle_t* pamh, int flags, int argc, const char** argv) {
  return guarded(pamh, PAM_IGNORE, [&] {
    if (!(flags & PAM_UPDATE_AUTHTOK)) return PAM_IGNORE;
    Options o;
    if (!load_options(pamh, argc, argv, &o)) return PAM_IGNORE;
    const char* user = nullptr;
    if (pam_get_user(pamh, &user, nullptr) != PAM_SUCCESS || !user || !*user) return PAM_IGNORE;
    if (::geteuid() != 0) return PAM_IGNORE;
    Answer res = ask(o, api::PasswordChanged{login_of(pamh, user)});
    if (res.transport != proto::Transport::kOk || !res.reply.ok())
      pam_syslog(pamh, LOG_WARNING, "could not tell vigild about a password change (%s%s%s)",
                 proto::transport_name(res.transport), res.reply.ok() ? "" : ": ",
                 res.reply.ok() ? "" : res.reply.error.c_str());
    return PAM_IGNORE;
  });
}

VIGIL_EXPORT int pam_sm_acct_mgmt(pam_handle_t* pamh, int, int argc, const char** argv) {
  return guarded(pamh, PAM_PERM_DENIED, [&] { return account(pamh, argc, argv); });
}

}  // extern "C"
