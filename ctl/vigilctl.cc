// vigilctl: the command line for administrators and for self-service.
// See vigilctl(8).
#include <CLI/CLI.hpp>
#include <boost/json/serialize.hpp>
#include <fcntl.h>
#include <qrencode.h>
#include <pwd.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <iostream>
#include <string>

#include "daemon/core/config.h"
#include "protocol/client.h"
#include "protocol/names.h"
#include "protocol/utf8.h"
#include "vigil_build_config.h"

namespace json = boost::json;
namespace proto = vigil::proto;

namespace {

std::string terminal_safe(std::string_view in);

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

struct Global {
  std::string config_path = VIGIL_DEFAULT_CONFIG;
  bool config_given = false;
  std::string socket;
  std::string admin_socket;
  int timeout_ms = 5000;
};

// Sockets: --socket / --admin-socket, else the config's [daemon] keys, else
// the built-in defaults.
bool resolve_sockets(Global& g) {
  if (!g.socket.empty() && !g.admin_socket.empty()) return true;
  vigil::Config cfg;
  if (g.config_given || ::access(g.config_path.c_str(), F_OK) == 0) {
    auto loaded = vigil::load_config(g.config_path);
    if (!loaded) {
      std::cerr << "vigilctl: " << loaded.error().message << "\n";
      return false;
    }
    cfg = *loaded;
  }
  if (g.socket.empty()) g.socket = cfg.daemon.socket;
  if (g.admin_socket.empty()) g.admin_socket = cfg.daemon.admin_socket;
  return true;
}

struct CallError {
  std::string error;
  std::string message;
};

// One call; prints the error and returns nullopt on any failure (unless
// `quiet_error` is given: then the daemon's refusal is handed back instead).
std::optional<json::object> call(Global& g, const char* method, json::object params,
                                 CallError* quiet_error = nullptr, bool admin = false) {
  if (!resolve_sockets(g)) return std::nullopt;
  const std::string& path = admin ? g.admin_socket : g.socket;
  proto::ClientOptions o{path, std::chrono::milliseconds(g.timeout_ms), true};
  auto res = proto::call(o, proto::Call{method, std::move(params)});
  if (res.transport != proto::Transport::kOk) {
    std::cerr << "vigilctl: cannot reach vigild at " << path << ": "
              << proto::transport_name(res.transport) << " (" << res.detail << ")\n";
    if (res.transport == proto::Transport::kAbsent)
      std::cerr << "vigilctl: is vigild running? (systemctl status vigild)\n";
    if (admin && res.detail.find("ermission") != std::string::npos)
      std::cerr << "vigilctl: the admin socket is for administrators: members of its group "
                   "([daemon] admin_socket_group)\n";
    return std::nullopt;
  }
  if (!res.reply.ok() && quiet_error) {
    *quiet_error = CallError{res.reply.error, terminal_safe(res.reply.message())};
    return std::nullopt;
  }
  if (!res.reply.ok()) {
    std::string msg = terminal_safe(res.reply.message());
    std::cerr << "vigilctl: " << (msg.empty() ? terminal_safe(res.reply.error) : msg);
    if (res.reply.error == proto::kErrPermissionDenied) std::cerr << " (permission denied)";
    std::cerr << "\n";
    return std::nullopt;
  }
  return std::move(res.reply.params);
}

int64_t num(const json::object& o, const char* k) {
  auto it = o.find(k);
  if (it == o.end()) return 0;
  if (it->value().is_int64()) return it->value().as_int64();
  if (it->value().is_uint64()) return static_cast<int64_t>(it->value().as_uint64());
  return 0;
}
bool flag(const json::object& o, const char* k) {
  auto it = o.find(k);
  return it != o.end() && it->value().is_bool() && it->value().as_bool();
}
// A string for the terminal: control characters (escape sequences in a
// reason typed by someone else) are shown as '?'.
// Text for the terminal: what users wrote (reasons, names) must not drive
// it. C0 and C1 controls, DEL, the bidirectional overrides and invalid UTF-8
// become '?'; other UTF-8 passes.
std::string terminal_safe(std::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size();) {
    uint32_t cp = 0;
    const size_t len = proto::utf8_sequence(in, i, &cp);
    const bool bidi = (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
    if (len > 0 && !proto::is_control(cp) && !bidi) out.append(in.substr(i, len));
    else out.push_back('?');
    i += len > 0 ? len : 1;
  }
  return out;
}

std::string str(const json::object& o, const char* k) {
  auto it = o.find(k);
  return it != o.end() && it->value().is_string() ? terminal_safe(it->value().as_string()) : std::string();
}

std::string when(int64_t epoch) {
  if (epoch <= 0) return "never";
  std::time_t t = static_cast<std::time_t>(epoch);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %Z", &tm);
  return buf;
}

std::string left(int64_t until) {
  int64_t s = until - static_cast<int64_t>(std::time(nullptr));
  if (s < 0) s = 0;
  char buf[64];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%lldh %02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
  else std::snprintf(buf, sizeof buf, "%lldm %02llds", (long long)(s / 60), (long long)(s % 60));
  return buf;
}

std::string state_text(const json::object& a) {
  if (flag(a, "blocked")) return "BLOCKED";
  if (flag(a, "locked")) return "locked until " + when(num(a, "locked_until")) + " (" + left(num(a, "locked_until")) + " left)";
  return "not locked";
}

// A code: from the environment variable, else read from the terminal
// without echo. Codes never go on the command line.
std::optional<std::string> read_code(const std::string& prompt, const char* env_name = "VIGIL_CODE") {
  if (const char* env = std::getenv(env_name); env && *env) return std::string(env);
  int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return std::nullopt;
  termios old{};
  bool restore = ::tcgetattr(fd, &old) == 0;
  if (restore) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  (void)!::write(fd, prompt.data(), prompt.size());
  std::string code;
  char c;
  while (::read(fd, &c, 1) == 1 && c != '\n') code.push_back(c);
  (void)!::write(fd, "\n", 1);
  if (restore) ::tcsetattr(fd, TCSAFLUSH, &old);
  ::close(fd);
  return code;
}

void wipe(std::string& s) {
  if (!s.empty()) explicit_bzero(s.data(), s.size());
  s.clear();
}

// Draws a QR code with Unicode half blocks, two modules per character cell.
void print_qr(const std::string& text) {
  QRcode* qr = QRcode_encodeString(text.c_str(), 0, QR_ECLEVEL_M, QR_MODE_8, 1);
  if (!qr) {
    std::printf("(cannot draw a QR code: %s)\n", std::strerror(errno));
    return;
  }
  const int w = qr->width, margin = 2;
  auto dark = [&](int x, int y) {
    if (x < 0 || y < 0 || x >= w || y >= w) return false;
    return (qr->data[y * w + x] & 1) != 0;
  };
  for (int y = -margin; y < w + margin; y += 2) {
    std::string line;
    for (int x = -margin; x < w + margin; ++x) {
      bool top = dark(x, y), bottom = dark(x, y + 1);
      // Light modules are drawn, dark ones left blank: works on dark terminals.
      if (!top && !bottom) line += "\u2588";
      else if (!top) line += "\u2580";
      else if (!bottom) line += "\u2584";
      else line += " ";
    }
    std::printf("%s\n", line.c_str());
  }
  QRcode_free(qr);
}

// Whether USER (empty: yourself) names the account vigilctl runs as.
bool is_me(const std::string& user) {
  if (user.empty()) return true;
  const passwd* pw = ::getpwuid(::geteuid());
  return pw && user == pw->pw_name;
}

// Runs a TOTP call; when the daemon wants the caller's own current code,
// asks for it (VIGIL_CODE or the terminal) and tries once more.
std::optional<json::object> totp_call(Global& g, const char* method, const std::string& user,
                                      bool code_required, bool password_required = false) {
  json::object p;
  if (!user.empty()) p["user"] = user;
  std::string password;
  if (password_required) {
    // The user's own enrolment: vigild checks the account's password (PAM).
    auto pw = read_code("Password: ", "VIGIL_PASSWORD");
    if (!pw || pw->empty()) {
      std::cerr << "vigilctl: enrolling your own second factor needs your password: run on a "
                   "terminal, or set VIGIL_PASSWORD\n";
      return std::nullopt;
    }
    password = std::move(*pw);
    p["password"] = password;
    wipe(password);
  }
  std::string code;
  if (code_required || std::getenv("VIGIL_CODE")) {
    auto c = read_code(code_required ? "Verification code: " : "Current code or recovery code: ");
    if (!c) {
      std::cerr << "vigilctl: a code is needed: set VIGIL_CODE or run on a terminal\n";
      return std::nullopt;
    }
    code = *c;
    p["code"] = code;
  }
  CallError err;
  auto r = call(g, method, p, &err);
  if (!r && err.error == proto::kErrPermissionDenied && code.empty() &&
      err.message.find("code") != std::string::npos && ::isatty(STDIN_FILENO)) {
    auto c = read_code("Current code or recovery code: ");
    if (c) {
      code = *c;
      p["code"] = code;
      r = call(g, method, p, &err);
    }
  }
  wipe(code);
  for (const char* k : {"code", "password"}) {
    if (auto it = p.find(k); it != p.end()) {
      auto& js = it->value().as_string();
      explicit_bzero(js.data(), js.size());
    }
  }
  if (!r && !err.error.empty()) {
    std::cerr << "vigilctl: " << (err.message.empty() ? err.error : err.message) << "\n";
    return std::nullopt;
  }
  return r;
}

// An admin-socket call. A change needs the caller's own code (step-up): it
// is sent from VIGIL_CODE when set; otherwise, when the daemon asks for it,
// read from the terminal, and the call is made once more.
std::optional<json::object> admin_call(Global& g, const char* method, json::object p) {
  std::string code;
  if (const char* env = std::getenv("VIGIL_CODE"); env && *env) {
    code = env;
    p["step_up_code"] = code;
  }
  CallError err;
  auto r = call(g, method, p, &err, true);
  if (!r && err.error == proto::kErrStepUpRequired && code.empty()) {
    auto c = read_code("Your code (step-up): ");
    if (!c) {
      std::cerr << "vigilctl: " << err.message << "\nvigilctl: set VIGIL_CODE or run on a terminal\n";
      return std::nullopt;
    }
    code = *c;
    p["step_up_code"] = code;
    r = call(g, method, p, &err, true);
  }
  wipe(code);
  for (const char* k : {"step_up_code", "verify_code"}) {
    if (auto it = p.find(k); it != p.end() && it->value().is_string()) {
      auto& js = it->value().as_string();
      explicit_bzero(js.data(), js.size());
    }
  }
  if (!r && !err.error.empty()) {
    std::cerr << "vigilctl: " << (err.message.empty() ? err.error : err.message);
    if (err.error == proto::kErrPermissionDenied || err.error == proto::kErrStepUpRequired)
      std::cerr << " (permission denied)";
    std::cerr << "\n";
    return std::nullopt;
  }
  return r;
}

std::string token_scopes(const json::object& t) {
  std::string out;
  if (auto it = t.find("scopes"); it != t.end() && it->value().is_array())
    for (const auto& v : it->value().as_array())
      if (v.is_string()) {
        json::object one;
        one["s"] = v;
        out += (out.empty() ? "" : ",") + str(one, "s");
      }
  return out;
}

void print_token(const json::object& t, bool full) {
  std::string state = str(t, "state");
  if (state == "active" && flag(t, "expired")) state = "expired";
  if (!full) {
    std::printf("%-16s %-12s %-20s %-20s %-10s %s\n", str(t, "accessor").c_str(), str(t, "owner").c_str(),
                str(t, "name").c_str(), token_scopes(t).c_str(), state.c_str(), when(num(t, "expires")).c_str());
    return;
  }
  std::printf("accessor:    %s\nowner:       %s\nname:        %s\nscopes:      %s\n", str(t, "accessor").c_str(),
              str(t, "owner").c_str(), str(t, "name").c_str(), token_scopes(t).c_str());
  std::printf("created:     %s by %s\nexpires:     %s\nstate:       %s\n", when(num(t, "created")).c_str(),
              str(t, "created_by").c_str(), when(num(t, "expires")).c_str(), state.c_str());
  if (!str(t, "state_reason").empty())
    std::printf("why:         %s (%s)\n", str(t, "state_reason").c_str(), when(num(t, "state_changed")).c_str());
  if (flag(t, "frozen")) std::printf("NOTE:        the token API is frozen: every check answers 403\n");
}

void print_recovery(const json::object& r) {
  std::printf("%-9s %-16s %-16s %-25s %-8s %s\n", str(r, "id").c_str(), str(r, "user").c_str(),
              str(r, "requester").c_str(), when(num(r, "created")).c_str(),
              flag(r, "blocked") ? "BLOCKED" : "no", str(r, "reason").c_str());
}

void print_one(const json::object& a) {
  std::printf("user:          %s (uid %lld)\n", str(a, "user").c_str(), (long long)num(a, "uid"));
  if (auto it = a.find("block"); it != a.end() && it->value().is_object()) {
    const auto& b = it->value().as_object();
    std::printf("BLOCKED:       since %s by %s\n", when(num(b, "since")).c_str(), str(b, "by").c_str());
    std::printf("reason:        %s\n", str(b, "reason").c_str());
    if (auto d = b.find("details"); d != b.end()) std::printf("evidence:      %s\n", terminal_safe(json::serialize(d->value())).c_str());
  }
  std::printf("state:         %s\n", state_text(a).c_str());
  std::printf("failures:      %lld within fail_interval\n", (long long)num(a, "failures"));
  std::printf("locks:         %lld since the last successful login\n", (long long)num(a, "lock_count"));
  std::printf("refused:       %lld attempts while locked\n", (long long)num(a, "refused"));
  std::printf("last failure:  %s\n", when(num(a, "last_failure")).c_str());
  std::printf("last success:  %s\n", when(num(a, "last_success")).c_str());
  if (auto it = a.find("totp"); it != a.end() && it->value().is_object()) {
    const auto& t = it->value().as_object();
    std::string f = flag(t, "enrolled") ? "enrolled, " + std::to_string(num(t, "recovery_codes")) +
                                              " recovery codes left"
                                        : flag(t, "pending") ? "enrolment waiting for its first code"
                                                             : "none";
    if (flag(t, "required")) f += flag(t, "enrolled") ? " (required by policy)" : " (REQUIRED by policy)";
    std::printf("second factor: %s\n", f.c_str());
    if (num(t, "failures")) std::printf("wrong codes:   %lld within fail_interval\n", (long long)num(t, "failures"));
  }
  if (auto it = a.find("known_devices"); it != a.end() && it->value().is_object()) {
    const auto& k = it->value().as_object();
    std::printf("known devices: %lld, each with its own bucket: %s, %lld failures\n",
                (long long)num(a, "devices"), state_text(k).c_str(), (long long)num(k, "failures"));
    if (auto l = k.find("locked_devices"); l != k.end() && l->value().is_array())
      for (const auto& d : l->value().as_array())
        std::printf("               %s locked until %s\n", str(d.as_object(), "device").c_str(),
                    when(num(d.as_object(), "locked_until")).c_str());
  }
  if (auto it = a.find("password_change"); it != a.end() && it->value().is_object())
    std::printf("password:      CHANGE REQUIRED since the recovery of %s by %s: the old one opens "
                "nothing\n", when(num(it->value().as_object(), "since")).c_str(),
                str(it->value().as_object(), "by").c_str());
  if (flag(a, "admin")) std::printf("role:          administrator\n");
}

}  // namespace

int main(int argc, char** argv) {
  Global g;
  CLI::App app{"vigilctl - inspect and manage vigil's account state.\nSee vigilctl(8)."};
  app.require_subcommand(1);
  auto* cfg_opt = app.add_option("-c,--config", g.config_path,
                                 "configuration file, for the socket path; default " VIGIL_DEFAULT_CONFIG);
  app.add_option("-s,--socket", g.socket, "vigild's public socket (default: [daemon] socket of the config)");
  app.add_option("--admin-socket", g.admin_socket,
                 "vigild's admin socket (default: [daemon] admin_socket of the config)");
  app.add_option("--timeout", g.timeout_ms, "milliseconds to wait for vigild (default 5000)")
      ->check(CLI::Range(10, 600000));
  bool version = false;
  app.add_flag("-V,--version", version, "print the version and exit");

  std::string status_user;
  bool status_json = false;
  auto* status = app.add_subcommand(
      "status",
      "show failures, lock state and unlock time; without USER: every account (root) or your own");
  status->add_option("USER", status_user, "user name");
  status->add_flag("--json", status_json, "print JSON for scripts");

  std::string reset_user;
  bool reset_json = false;
  auto* reset = app.add_subcommand(
      "reset", "clear the failures and lock of USER (administrators, admin socket, step-up)");
  reset->add_option("USER", reset_user, "user name")->required();
  reset->add_flag("--json", reset_json, "print JSON for scripts");

  auto* totp = app.add_subcommand("totp", "manage the TOTP second factor (yours, or USER's as root)");
  totp->require_subcommand(1);
  std::string totp_user;
  bool totp_json = false;
  auto* enroll = totp->add_subcommand(
      "enroll", "create a new secret and show it (URI, QR code, base32); it takes effect after "
                "'totp confirm'. Re-enrolling an active factor needs a current code (VIGIL_CODE)");
  enroll->add_option("USER", totp_user, "user name (default: yourself)");
  enroll->add_flag("--json", totp_json, "print {\"user\",\"secret\",\"uri\"} for scripts");
  auto* confirm = totp->add_subcommand(
      "confirm", "activate the enrolled secret with its first code (terminal prompt or VIGIL_CODE)");
  confirm->add_option("USER", totp_user, "user name (default: yourself)");
  auto* disable = totp->add_subcommand(
      "disable", "remove the second factor; needs a current code or recovery code unless root");
  disable->add_option("USER", totp_user, "user name (default: yourself)");
  auto* codes = totp->add_subcommand(
      "recovery-codes", "print 10 new one-time recovery codes (the old ones become void); needs a "
                        "current code unless root");
  codes->add_option("USER", totp_user, "user name (default: yourself)");
  codes->add_flag("--json", totp_json, "print {\"user\",\"codes\":[...]} for scripts");

  std::string block_user, block_reason;
  bool block_json = false, verify_code = false, approval = false;
  auto* block = app.add_subcommand(
      "block", "block USER until recovery (administrators, admin socket, step-up)");
  block->add_option("USER", block_user, "user name")->required();
  block->add_option("--reason", block_reason, "why (recorded and logged)")->required();
  block->add_flag("--json", block_json, "print JSON for scripts");
  auto* unblock = app.add_subcommand(
      "unblock", "recover USER: lift the block, locks and failures, forget the devices first seen "
                 "since the suspicious activity, expire the password, and refuse the old one until "
                 "it is changed (another active administrator, admin socket, step-up)");
  unblock->add_option("USER", block_user, "user name")->required();
  unblock->add_option("--reason", block_reason, "why (recorded and logged)")->required();
  auto* vc = unblock->add_flag("--verify-code", verify_code,
                               "verify USER's identity with a current code or recovery code that USER "
                               "reads out (terminal prompt or VIGIL_VERIFY_CODE)");
  unblock->add_flag("--approval", approval,
                    "file the unblock for approval by a third active administrator "
                    "(vigilctl approve ID)")
      ->excludes(vc);
  unblock->add_flag("--json", block_json, "print JSON for scripts");
  auto* pw_changed = app.add_subcommand(
      "password-changed", "record that a recovered USER's password was changed outside PAM (a "
                          "directory's own tool), so password logins work again (another "
                          "administrator, admin socket, step-up)");
  pw_changed->add_option("USER", block_user, "user name")->required();
  pw_changed->add_option("--reason", block_reason, "how it was changed (recorded and logged)")->required();
  pw_changed->add_flag("--json", block_json, "print JSON for scripts");

  std::string approve_id;
  bool approve_json = false;
  auto* approve = app.add_subcommand(
      "approve", "complete an unblock filed with --approval (a third active administrator, step-up)");
  approve->add_option("ID", approve_id, "request id, as 'vigilctl requests' shows it")->required();
  approve->add_flag("--json", approve_json, "print JSON for scripts");

  bool requests_json = false;
  auto* requests = app.add_subcommand(
      "requests", "list recovery requests and unblocks waiting for approval (administrators)");
  requests->add_flag("--json", requests_json, "print JSON for scripts");

  bool audit_json = false;
  auto* audit = app.add_subcommand(
      "audit", "report administrators, accounts without a second factor, blocked accounts, open "
               "requests, and who could become unrecoverable (administrators)");
  audit->add_flag("--json", audit_json, "print JSON for scripts");

  std::string req_user, req_reason;
  bool req_json = false;
  auto* request_unblock = app.add_subcommand(
      "request-unblock", "ask the administrators to recover a blocked colleague (any active user; "
                         "never for yourself)");
  request_unblock->add_option("USER", req_user, "the colleague's user name")->required();
  request_unblock->add_option("--reason", req_reason, "what happened (shown to administrators)")->required();
  request_unblock->add_flag("--json", req_json, "print JSON for scripts");

  std::string dev_user, dev_device;
  bool dev_json = false, dev_all = false;
  auto* devices = app.add_subcommand(
      "devices", "list a user's known devices with first and last use (yours, or USER's)");
  devices->add_option("USER", dev_user, "user name (default: yourself)");
  devices->add_flag("--json", dev_json, "print JSON for scripts");
  auto* forget = devices->add_subcommand("forget", "forget one known device of USER, or all of them");
  forget->add_option("USER", dev_user, "user name")->required();
  forget->add_option("DEVICE", dev_device, "device id, as 'vigilctl devices' shows it");
  forget->add_flag("--all", dev_all, "forget every known device of USER");

  auto* token = app.add_subcommand("token", "service API tokens (administrators, admin socket)");
  token->require_subcommand(1);
  std::string tok_owner, tok_name, tok_ttl, tok_acc, tok_reason;
  std::vector<std::string> tok_scopes;
  bool tok_json = false;
  auto* tok_issue = token->add_subcommand(
      "issue", "issue a token for a service account and print it once (step-up)");
  tok_issue->add_option("--owner", tok_owner, "the user the token acts as")->required();
  tok_issue->add_option("--name", tok_name, "what it is for, e.g. \"backup-webhook\"")->required();
  tok_issue->add_option("--scope", tok_scopes, "a scope it grants (repeat for several)")->required();
  tok_issue->add_option("--ttl", tok_ttl, "lifetime, e.g. 30d (default: [tokens] default_ttl)");
  tok_issue->add_flag("--json", tok_json, "print JSON for scripts (it holds the token)");
  auto* tok_list = token->add_subcommand("list", "list tokens (never their secrets) and whether the API is frozen");
  tok_list->add_option("--owner", tok_owner, "only this user's tokens");
  tok_list->add_flag("--json", tok_json, "print JSON for scripts");
  auto* tok_show = token->add_subcommand("show", "show one token");
  tok_show->add_option("ACCESSOR", tok_acc, "its accessor (acc_...)")->required();
  tok_show->add_flag("--json", tok_json, "print JSON for scripts");
  auto* tok_revoke = token->add_subcommand("revoke", "revoke a token for good (step-up)");
  tok_revoke->add_option("ACCESSOR", tok_acc, "its accessor (acc_...)")->required();
  tok_revoke->add_option("--reason", tok_reason, "why (recorded, logged, given to the revoke hooks)")->required();
  tok_revoke->add_flag("--json", tok_json, "print JSON for scripts");

  app.set_version_flag("", "");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    if (version) {
      std::cout << "vigilctl " VIGIL_VERSION "\n";
      return 0;
    }
    app.exit(e);
    return kExitUsage;
  }
  g.config_given = cfg_opt->count() > 0;

  if (status->parsed()) {
    if (status_user.empty() && ::geteuid() == 0) {
      auto r = call(g, proto::kStatusList, {});
      if (!r) return kExitError;
      if (status_json) {
        std::cout << json::serialize(*r) << "\n";
        return 0;
      }
      const auto& accounts = (*r)["accounts"].as_array();
      std::printf("%-20s %8s %8s %6s %8s  %s\n", "USER", "UID", "FAILURES", "LOCKS", "REFUSED", "STATE");
      for (const auto& v : accounts) {
        const auto& a = v.as_object();
        std::printf("%-20s %8lld %8lld %6lld %8lld  %s\n", str(a, "user").c_str(), (long long)num(a, "uid"),
                    (long long)num(a, "failures"), (long long)num(a, "lock_count"),
                    (long long)num(a, "refused"), state_text(a).c_str());
      }
      if (accounts.empty()) std::printf("(no account has recorded state)\n");
      return 0;
    }
    json::object p;
    if (!status_user.empty()) p["user"] = status_user;
    CallError err;
    auto r = call(g, proto::kStatusGet, p, &err);
    if (!r && err.error == proto::kErrPermissionDenied && !status_user.empty() &&
        ::access(g.admin_socket.c_str(), R_OK | W_OK) == 0) {
      // Someone else's account: administrators read it through the admin socket.
      r = admin_call(g, proto::kStatusGet, p);
      if (!r) return kExitError;
    } else if (!r) {
      if (!err.error.empty())
        std::cerr << "vigilctl: " << (err.message.empty() ? err.error : err.message) << "\n";
      return kExitError;
    }
    if (status_json) std::cout << json::serialize(*r) << "\n";
    else print_one(*r);
    return 0;
  }
  if (enroll->parsed()) {
    auto r = totp_call(g, proto::kTotpEnroll, totp_user, false, ::geteuid() != 0 && is_me(totp_user));
    if (!r) return kExitError;
    if (totp_json) {
      std::cout << json::serialize(*r) << "\n";
      return 0;
    }
    std::string uri = str(*r, "uri"), secret = str(*r, "secret"), user = str(*r, "user");
    std::printf("Scan this code with an authenticator app, or enter the secret by hand.\n\n");
    print_qr(uri);
    std::printf("\nsecret: %s\nuri:    %s\n\n", secret.c_str(), uri.c_str());
    std::printf("It takes effect after its first code: vigilctl totp confirm%s%s\n",
                totp_user.empty() ? "" : " ", totp_user.c_str());
    wipe(uri);
    wipe(secret);
    return 0;
  }
  if (confirm->parsed()) {
    auto r = totp_call(g, proto::kTotpConfirm, totp_user, true);
    if (!r) return kExitError;
    std::printf("second factor active for %s\n", str(*r, "user").c_str());
    std::printf("next: print recovery codes and keep them safe: vigilctl totp recovery-codes\n");
    return 0;
  }
  if (disable->parsed()) {
    auto r = totp_call(g, proto::kTotpDisable, totp_user, false);
    if (!r) return kExitError;
    std::printf("second factor removed for %s\n", str(*r, "user").c_str());
    return 0;
  }
  if (codes->parsed()) {
    auto r = totp_call(g, proto::kTotpRecoveryCodes, totp_user, false);
    if (!r) return kExitError;
    if (totp_json) {
      std::cout << json::serialize(*r) << "\n";
      return 0;
    }
    std::printf("Recovery codes for %s. Each works once, in place of a code. Keep them offline;\n"
                "printing a new set voids these.\n\n", str(*r, "user").c_str());
    for (const auto& c : (*r)["codes"].as_array()) std::printf("  %s\n", c.as_string().c_str());
    return 0;
  }
  if (block->parsed()) {
    json::object p;
    p["user"] = block_user;
    p["reason"] = block_reason;
    auto r = admin_call(g, proto::kAccountBlock, std::move(p));
    if (!r) return kExitError;
    if (block_json) std::cout << json::serialize(*r) << "\n";
    else std::printf(flag(*r, "changed") ? "blocked %s\n" : "%s was already blocked\n", str(*r, "user").c_str());
    return 0;
  }
  if (pw_changed->parsed()) {
    json::object p;
    p["user"] = block_user;
    p["reason"] = block_reason;
    auto r = admin_call(g, proto::kAccountPasswordChanged, std::move(p));
    if (!r) return kExitError;
    if (block_json) std::cout << json::serialize(*r) << "\n";
    else if (flag(*r, "changed"))
      std::printf("recorded: %s's password was changed; password logins work again\n", str(*r, "user").c_str());
    else
      std::printf("%s needed no password change; nothing changed\n", str(*r, "user").c_str());
    return 0;
  }
  if (unblock->parsed() || approve->parsed()) {
    json::object p;
    std::string code;
    const char* method = proto::kAccountUnblock;
    if (approve->parsed()) {
      method = proto::kRecoveryApprove;
      p["id"] = approve_id;
    } else {
      p["user"] = block_user;
      p["reason"] = block_reason;
      if (approval) p["approval"] = true;
      if (verify_code) {
        auto c = read_code(block_user + "'s code (read out by " + block_user + "): ", "VIGIL_VERIFY_CODE");
        if (!c || c->empty()) {
          std::cerr << "vigilctl: --verify-code needs " << block_user
                    << "'s code: set VIGIL_VERIFY_CODE or run on a terminal\n";
          return kExitError;
        }
        code = std::move(*c);
        p["verify_code"] = code;
      }
    }
    auto r = admin_call(g, method, std::move(p));
    wipe(code);
    if (!r) return kExitError;
    if (block_json || approve_json) {
      std::cout << json::serialize(*r) << "\n";
      return 0;
    }
    const std::string user = str(*r, "user");
    if (flag(*r, "pending")) {
      std::printf("unblock of %s filed for approval as %s (expires %s)\n"
                  "another active administrator, not %s, completes it with: vigilctl approve %s\n",
                  user.c_str(), str(*r, "id").c_str(), when(num(*r, "expires")).c_str(), user.c_str(),
                  str(*r, "id").c_str());
      return 0;
    }
    if (!flag(*r, "changed")) {
      std::printf("%s is not blocked; nothing changed\n", user.c_str());
      return 0;
    }
    std::printf("unblocked %s: block, locks and failures cleared\n", user.c_str());
    std::printf("forgot %lld device(s) first seen since %s\n", (long long)num(*r, "devices_forgotten"),
                when(num(*r, "suspicious_since")).c_str());
    if (auto it = r->find("password"); it != r->end() && it->value().is_object())
      std::printf("password: %s\n", str(it->value().as_object(), "message").c_str());
    if (flag(*r, "password_change_required"))
      std::printf("%s's password opens nothing until it is changed: %s changes it (passwd) after a key\n"
                  "or console login, or an administrator sets a new one (passwd %s) and hands it\n"
                  "over; a password changed outside PAM: vigilctl password-changed %s --reason TEXT\n",
                  user.c_str(), user.c_str(), user.c_str(), user.c_str());
    return 0;
  }
  if (requests->parsed()) {
    auto r = admin_call(g, proto::kRecoveryList, {});
    if (!r) return kExitError;
    if (requests_json) {
      std::cout << json::serialize(*r) << "\n";
      return 0;
    }
    const auto& reqs = (*r)["requests"].as_array();
    const auto& apps = (*r)["approvals"].as_array();
    std::printf("Recovery requests:\n");
    std::printf("%-9s %-16s %-16s %-25s %-8s %s\n", "ID", "USER", "FILED BY", "FILED", "BLOCKED", "REASON");
    for (const auto& v : reqs) print_recovery(v.as_object());
    if (reqs.empty()) std::printf("(none)\n");
    std::printf("\nUnblocks waiting for approval (vigilctl approve ID):\n");
    std::printf("%-9s %-16s %-16s %-25s %-8s %s\n", "ID", "USER", "REQUESTED BY", "FILED", "BLOCKED", "REASON");
    for (const auto& v : apps) print_recovery(v.as_object());
    if (apps.empty()) std::printf("(none)\n");
    return 0;
  }
  if (audit->parsed()) {
    auto r = admin_call(g, proto::kAdminAudit, {});
    if (!r) return kExitError;
    if (audit_json) {
      std::cout << json::serialize(*r) << "\n";
      return 0;
    }
    std::printf("Administrators:\n");
    for (const auto& v : (*r)["admins"].as_array()) {
      const auto& a = v.as_object();
      std::printf("  %-16s uid %-8lld second factor: %-4s %s\n", str(a, "user").c_str(), (long long)num(a, "uid"),
                  flag(a, "totp") ? "yes" : "NO", flag(a, "blocked") ? "BLOCKED" : "active");
    }
    if ((*r)["admins"].as_array().empty()) std::printf("  (none)\n");
    std::printf("\nAccounts without a second factor:\n");
    for (const auto& v : (*r)["without_totp"].as_array()) {
      const auto& a = v.as_object();
      std::printf("  %-16s uid %lld%s\n", str(a, "user").c_str(), (long long)num(a, "uid"),
                  flag(a, "admin") ? " (administrator)" : "");
    }
    if ((*r)["without_totp"].as_array().empty()) std::printf("  (none)\n");
    std::printf("\nBlocked accounts:\n");
    for (const auto& v : (*r)["blocked"].as_array()) {
      const auto& a = v.as_object();
      std::printf("  %-16s since %s by %s: %s\n", str(a, "user").c_str(), when(num(a, "since")).c_str(),
                  str(a, "by").c_str(), str(a, "reason").c_str());
    }
    if ((*r)["blocked"].as_array().empty()) std::printf("  (none)\n");
    std::printf("\nOpen requests: %zu (vigilctl requests)\n", (*r)["requests"].as_array().size());
    const auto& warnings = (*r)["warnings"].as_array();
    if (!warnings.empty()) std::printf("\n");
    for (const auto& w : warnings) {
      json::object one;
      one["w"] = w;
      std::printf("WARNING: %s\n", str(one, "w").c_str());
    }
    return 0;
  }
  if (tok_issue->parsed()) {
    json::object p;
    p["owner"] = tok_owner;
    p["name"] = tok_name;
    json::array scopes;
    for (const auto& x : tok_scopes) scopes.push_back(json::string(x));
    p["scopes"] = std::move(scopes);
    if (!tok_ttl.empty()) p["ttl"] = tok_ttl;
    auto r = admin_call(g, proto::kTokenIssue, std::move(p));
    if (!r) return kExitError;
    std::string secret = str(*r, "token");
    if (tok_json) {
      std::cout << json::serialize(*r) << "\n";
    } else {
      std::printf("token for %s (%s), scopes: %s, expires %s\naccessor: %s\n\n  %s\n\n"
                  "This is the only time the token is shown: vigil keeps only its hash.\n",
                  str(*r, "owner").c_str(), str(*r, "name").c_str(), token_scopes(*r).c_str(),
                  when(num(*r, "expires")).c_str(), str(*r, "accessor").c_str(), secret.c_str());
    }
    wipe(secret);
    if (auto it = r->find("token"); it != r->end() && it->value().is_string()) {
      auto& js = it->value().as_string();
      explicit_bzero(js.data(), js.size());
    }
    return 0;
  }
  if (tok_list->parsed() || tok_show->parsed()) {
    json::object p;
    const char* method = proto::kTokenList;
    if (tok_show->parsed()) {
      method = proto::kTokenShow;
      p["accessor"] = tok_acc;
    } else if (!tok_owner.empty()) {
      p["owner"] = tok_owner;
    }
    auto r = admin_call(g, method, std::move(p));
    if (!r) return kExitError;
    if (tok_json) {
      std::cout << json::serialize(*r) << "\n";
      return 0;
    }
    if (tok_show->parsed()) {
      print_token(*r, true);
      return 0;
    }
    if (flag(*r, "frozen")) {
      for (const auto& v : (*r)["freezes"].as_array())
        std::printf("TOKEN API FROZEN since %s: administrator %s is blocked\n",
                    when(num(v.as_object(), "since")).c_str(), str(v.as_object(), "user").c_str());
      std::printf("\n");
    }
    std::printf("%-16s %-12s %-20s %-20s %-10s %s\n", "ACCESSOR", "OWNER", "NAME", "SCOPES", "STATE", "EXPIRES");
    for (const auto& v : (*r)["tokens"].as_array()) print_token(v.as_object(), false);
    if ((*r)["tokens"].as_array().empty()) std::printf("(no token)\n");
    return 0;
  }
  if (tok_revoke->parsed()) {
    json::object p;
    p["accessor"] = tok_acc;
    p["reason"] = tok_reason;
    auto r = admin_call(g, proto::kTokenRevoke, std::move(p));
    if (!r) return kExitError;
    if (tok_json) std::cout << json::serialize(*r) << "\n";
    else
      std::printf(flag(*r, "changed") ? "revoked %s (%s of %s)\n" : "%s (%s of %s) was already revoked\n",
                  str(*r, "accessor").c_str(), str(*r, "name").c_str(), str(*r, "owner").c_str());
    return 0;
  }
  if (request_unblock->parsed()) {
    json::object p;
    p["user"] = req_user;
    p["reason"] = req_reason;
    auto r = call(g, proto::kRecoveryRequest, std::move(p));
    if (!r) return kExitError;
    if (req_json) std::cout << json::serialize(*r) << "\n";
    else if (flag(*r, "repeated"))
      std::printf("you already filed recovery request %s for %s; it is still open\n", str(*r, "id").c_str(),
                  str(*r, "user").c_str());
    else
      std::printf("recovery request %s filed for %s; the administrators see it with 'vigilctl requests'\n",
                  str(*r, "id").c_str(), str(*r, "user").c_str());
    return 0;
  }
  if (forget->parsed()) {
    if (dev_all == !dev_device.empty()) {
      std::cerr << "vigilctl: give either DEVICE or --all\n";
      return kExitUsage;
    }
    json::object p;
    p["user"] = dev_user;
    if (dev_all) p["all"] = true;
    else p["device"] = dev_device;
    auto r = call(g, proto::kDevicesForget, std::move(p));
    if (!r) return kExitError;
    std::printf("forgot %lld device(s) of %s\n", (long long)num(*r, "forgotten"), str(*r, "user").c_str());
    return 0;
  }
  if (devices->parsed()) {
    json::object p;
    if (!dev_user.empty()) p["user"] = dev_user;
    auto r = call(g, proto::kDevicesList, std::move(p));
    if (!r) return kExitError;
    if (dev_json) {
      std::cout << json::serialize(*r) << "\n";
      return 0;
    }
    const auto& list = (*r)["devices"].as_array();
    std::printf("%-48s %-25s %-25s %s\n", "DEVICE", "FIRST USE", "LAST USE", "STATE");
    for (const auto& v : list) {
      const auto& d = v.as_object();
      std::printf("%-48s %-25s %-25s %s\n", str(d, "device").c_str(), when(num(d, "first_seen")).c_str(),
                  when(num(d, "last_seen")).c_str(), flag(d, "known") ? "known" : "expired");
    }
    if (list.empty()) std::printf("(%s has no known device yet)\n", str(*r, "user").c_str());
    return 0;
  }
  if (reset->parsed()) {
    json::object p;
    p["user"] = reset_user;
    auto r = admin_call(g, proto::kAccountReset, std::move(p));
    if (!r) return kExitError;
    if (reset_json) std::cout << json::serialize(*r) << "\n";
    else
      std::printf("reset %s%s\n", str(*r, "user").c_str(),
                  flag(*r, "was_locked") ? " (it was locked)" : "");
    return 0;
  }
  return kExitUsage;
}
