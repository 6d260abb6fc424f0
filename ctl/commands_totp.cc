// The TOTP second factor: totp enroll, confirm, disable, recovery-codes.
// See commands.h.
#include <CLI/CLI.hpp>
#include <pwd.h>
#include <qrencode.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "ctl/commands.h"
#include "ctl/output.h"
#include "protocol/api_self.h"
#include "protocol/names.h"

namespace vigil::ctl {
namespace api = proto::api;

namespace {

// Draws a QR code with Unicode half blocks, two modules per character cell:
// the dark modules drawn, the light ones blank, inside a quiet zone of 4
// light modules (as ISO/IEC 18004 asks). On a terminal, black on white is
// set explicitly, so the code reads the right way round whatever the
// terminal's colours (NO_COLOR, or output that is not a terminal, leaves the
// colours alone: dark on a light page).
void print_qr(const std::string& text) {
  QRcode* qr = QRcode_encodeString(text.c_str(), 0, QR_ECLEVEL_M, QR_MODE_8, 1);
  if (!qr) {
    std::printf("(cannot draw a QR code: %s)\n", std::strerror(errno));
    return;
  }
  const int w = qr->width, margin = 4;
  const bool color = ::isatty(STDOUT_FILENO) && !std::getenv("NO_COLOR");
  auto dark = [&](int x, int y) {
    if (x < 0 || y < 0 || x >= w || y >= w) return false;
    return (qr->data[y * w + x] & 1) != 0;
  };
  for (int y = -margin; y < w + margin; y += 2) {
    std::string line = color ? "\033[30;107m" : "";
    for (int x = -margin; x < w + margin; ++x) {
      bool top = dark(x, y), bottom = dark(x, y + 1);
      if (top && bottom) line += "\u2588";
      else if (top) line += "\u2580";
      else if (bottom) line += "\u2584";
      else line += " ";
    }
    if (color) line += "\033[0m";
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

// The user's own enrolment: vigild checks the account's password (PAM).
// Reads it into `password`; without one, says so and answers false.
bool read_password(std::string& password) {
  auto pw = read_code("Password: ", "VIGIL_PASSWORD");
  if (!pw || pw->empty()) {
    std::cerr << "vigilctl: enrolling your own second factor needs your password: run on a "
                 "terminal, or set VIGIL_PASSWORD\n";
    return false;
  }
  password = std::move(*pw);
  wipe(*pw);  // moved from: a short string keeps its characters
  return true;
}

// A code read into the request, when there is one.
bool read_code_into(std::string& code, const std::string& prompt) {
  auto c = read_code(prompt);
  if (!c) return false;
  code = std::move(*c);
  wipe(*c);
  return true;
}

// Runs a TOTP request (its code and password are the caller's to wipe);
// when the daemon wants the caller's own current code, asks for it
// (VIGIL_CODE or the terminal) and tries once more.
template <class Req>
std::optional<json::object> totp_call(Global& g, Req& req, bool code_required) {
  if (code_required || std::getenv("VIGIL_CODE")) {
    if (!read_code_into(req.code, code_required ? "Verification code: " : "Current code or recovery code: ")) {
      std::cerr << "vigilctl: a code is needed: set VIGIL_CODE or run on a terminal\n";
      return std::nullopt;
    }
  }
  CallError err;
  auto r = call(g, Req::kMethod, req.to_json(), &err);
  if (!r && err.error == proto::kErrPermissionDenied && req.code.empty() &&
      err.message.find("code") != std::string::npos && ::isatty(STDIN_FILENO) &&
      read_code_into(req.code, "Current code or recovery code: "))
    r = call(g, Req::kMethod, req.to_json(), &err);
  if (!r && !err.error.empty()) {
    print_refusal(err);
    return std::nullopt;
  }
  return r;
}

// A confirmation or a removal: the account it was for.
template <class Req>
int run_change(Global& g, const std::string& user, bool code_required, bool as_json, const char* done) {
  Req req{user, ""};
  auto r = totp_call(g, req, code_required);
  wipe(req.code);
  if (!r) return kExitError;
  if (as_json) {
    print_json(*r);
    return 0;
  }
  auto reply = Req::Reply::from_json(*r);
  if (!reply) return unreadable(reply.error().message);
  std::printf("%s %s\n", done, terminal_safe(reply->user).c_str());
  return 0;
}

// The new secret, shown once: as a QR code and as text.
int show_enrolment(const json::object& r, const std::string& user) {
  auto reply = api::TotpEnroll::Reply::from_json(r);
  if (!reply) return unreadable(reply.error().message);
  std::string uri = terminal_safe(reply->uri), secret = terminal_safe(reply->secret);
  std::printf("Scan this code with an authenticator app, or enter the secret by hand.\n\n");
  print_qr(uri);
  std::printf("\nsecret: %s\nuri:    %s\n\n", secret.c_str(), uri.c_str());
  std::printf("It takes effect after its first code: vigilctl totp confirm%s%s\n",
              user.empty() ? "" : " ", user.c_str());
  wipe(uri);
  wipe(secret);
  wipe(reply->uri);
  wipe(reply->secret);
  return 0;
}

// New recovery codes, shown once.
int show_codes(const json::object& r) {
  auto reply = api::TotpRecoveryCodes::Reply::from_json(r);
  if (!reply) return unreadable(reply.error().message);
  std::printf("Recovery codes for %s. Each works once, in place of a code. Keep them offline;\n"
              "printing a new set voids these.\n\n", terminal_safe(reply->user).c_str());
  for (auto& c : reply->codes) {
    std::printf("  %s\n", c.c_str());
    wipe(c);
  }
  return 0;
}

void add_user_option(CLI::App& cmd, Args& a) {
  cmd.add_option("USER", a.totp.user, "user name (default: yourself)");
}

}  // namespace

void add_totp_enroll_options(CLI::App& cmd, Args& a) {
  add_user_option(cmd, a);
  cmd.add_flag("--json", a.totp.json, "print {\"user\",\"secret\",\"uri\"} for scripts");
}

int run_totp_enroll(Global& g, const Args& a) {
  const auto& user = a.totp.user;
  api::TotpEnroll req{user, "", ""};
  const bool self = ::geteuid() != 0 && is_me(user);
  std::optional<json::object> r;
  if (!self || read_password(req.password)) r = totp_call(g, req, false);
  wipe(req.code);
  wipe(req.password);
  if (!r) return kExitError;
  int rc = 0;
  if (a.totp.json) print_json(*r);
  else rc = show_enrolment(*r, user);
  wipe_fields(*r, {api::key::kSecret, api::key::kUri});
  return rc;
}

void add_totp_confirm_options(CLI::App& cmd, Args& a) {
  add_user_option(cmd, a);
  cmd.add_flag("--json", a.totp.json, "print JSON for scripts");
}

int run_totp_confirm(Global& g, const Args& a) {
  const int rc = run_change<api::TotpConfirm>(g, a.totp.user, true, a.totp.json, "second factor active for");
  if (rc == 0 && !a.totp.json)
    std::printf("next: print recovery codes and keep them safe: vigilctl totp recovery-codes%s%s\n",
                a.totp.user.empty() ? "" : " ", terminal_safe(a.totp.user).c_str());
  return rc;
}

void add_totp_disable_options(CLI::App& cmd, Args& a) {
  add_user_option(cmd, a);
  cmd.add_flag("--json", a.totp.json, "print JSON for scripts");
}

int run_totp_disable(Global& g, const Args& a) {
  return run_change<api::TotpDisable>(g, a.totp.user, false, a.totp.json, "second factor removed for");
}

void add_totp_codes_options(CLI::App& cmd, Args& a) {
  add_user_option(cmd, a);
  cmd.add_flag("--json", a.totp.json, "print {\"user\",\"codes\":[...]} for scripts");
}

int run_totp_codes(Global& g, const Args& a) {
  api::TotpRecoveryCodes req{a.totp.user, ""};
  auto r = totp_call(g, req, false);
  wipe(req.code);
  if (!r) return kExitError;
  int rc = 0;
  if (a.totp.json) print_json(*r);
  else rc = show_codes(*r);
  wipe_fields(*r, {api::key::kCodes});
  return rc;
}

}  // namespace vigil::ctl
