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
#include "protocol/names.h"

namespace vigil::ctl {

namespace {

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

// The user's own enrolment: vigild checks the account's password (PAM).
// Adds it to `p`; without one, says so and answers false.
bool add_password(json::object& p) {
  auto pw = read_code("Password: ", "VIGIL_PASSWORD");
  if (!pw || pw->empty()) {
    std::cerr << "vigilctl: enrolling your own second factor needs your password: run on a "
                 "terminal, or set VIGIL_PASSWORD\n";
    return false;
  }
  std::string password = std::move(*pw);
  p["password"] = password;
  wipe(password);
  return true;
}

// Runs a TOTP call; when the daemon wants the caller's own current code,
// asks for it (VIGIL_CODE or the terminal) and tries once more.
std::optional<json::object> totp_call(Global& g, const char* method, const std::string& user,
                                      bool code_required, bool password_required = false) {
  json::object p;
  if (!user.empty()) p["user"] = user;
  if (password_required && !add_password(p)) return std::nullopt;
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
  wipe_fields(p, {"code", "password"});
  if (!r && !err.error.empty()) {
    print_refusal(err);
    return std::nullopt;
  }
  return r;
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
  auto r = totp_call(g, proto::kTotpEnroll, user, false, ::geteuid() != 0 && is_me(user));
  if (!r) return kExitError;
  if (a.totp.json) {
    print_json(*r);
    return 0;
  }
  std::string uri = str(*r, "uri"), secret = str(*r, "secret");
  std::printf("Scan this code with an authenticator app, or enter the secret by hand.\n\n");
  print_qr(uri);
  std::printf("\nsecret: %s\nuri:    %s\n\n", secret.c_str(), uri.c_str());
  std::printf("It takes effect after its first code: vigilctl totp confirm%s%s\n",
              user.empty() ? "" : " ", user.c_str());
  wipe(uri);
  wipe(secret);
  return 0;
}

void add_totp_confirm_options(CLI::App& cmd, Args& a) { add_user_option(cmd, a); }

int run_totp_confirm(Global& g, const Args& a) {
  auto r = totp_call(g, proto::kTotpConfirm, a.totp.user, true);
  if (!r) return kExitError;
  std::printf("second factor active for %s\n", str(*r, "user").c_str());
  std::printf("next: print recovery codes and keep them safe: vigilctl totp recovery-codes\n");
  return 0;
}

void add_totp_disable_options(CLI::App& cmd, Args& a) { add_user_option(cmd, a); }

int run_totp_disable(Global& g, const Args& a) {
  auto r = totp_call(g, proto::kTotpDisable, a.totp.user, false);
  if (!r) return kExitError;
  std::printf("second factor removed for %s\n", str(*r, "user").c_str());
  return 0;
}

void add_totp_codes_options(CLI::App& cmd, Args& a) {
  add_user_option(cmd, a);
  cmd.add_flag("--json", a.totp.json, "print {\"user\",\"codes\":[...]} for scripts");
}

int run_totp_codes(Global& g, const Args& a) {
  auto r = totp_call(g, proto::kTotpRecoveryCodes, a.totp.user, false);
  if (!r) return kExitError;
  if (a.totp.json) {
    print_json(*r);
    return 0;
  }
  std::printf("Recovery codes for %s. Each works once, in place of a code. Keep them offline;\n"
              "printing a new set voids these.\n\n", str(*r, "user").c_str());
  for (const auto& c : (*r)["codes"].as_array()) std::printf("  %s\n", c.as_string().c_str());
  return 0;
}

}  // namespace vigil::ctl
