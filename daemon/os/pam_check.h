// Checks an account's password through PAM, inside vigild: the proof a user
// gives to enrol their own second factor (a recent login alone is not
// enough: malware in the user's session has that).
//
// Contract:
//  * check_password() runs pam_start/pam_authenticate on `service` (the
//    [totp] enroll_pam_service, default "vigil": /etc/pam.d/vigil) for
//    `user`, answering the first echo-off prompt with `password` and every
//    other prompt with nothing. Blocking: run it off the I/O thread.
//  * The password is relayed once and never stored; the caller wipes its
//    copy, and the copy handed to libpam is wiped when libpam frees it.
//  * kWrong: PAM said no (a wrong password, an unknown or expired account).
//    kError: PAM could not decide (no such service, a module error).
#pragma once

#include <string>

namespace vigil {

struct PasswordCheck {
  enum class Outcome { kRight, kWrong, kError } outcome = Outcome::kError;
  std::string detail;  // for the log: PAM's error text, never the password
};

PasswordCheck check_password(const std::string& service, const std::string& user,
                             const std::string& password);

}  // namespace vigil
