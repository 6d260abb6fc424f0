// Running the system's own tools from the daemon: chage for password
// expiry, and the site's [recovery] notify_command.
//
// Contract:
//  * run_command() is blocking: call it off the I/O thread. It never uses a
//    shell itself; argv[0] is looked up in a fixed PATH
//    (/usr/sbin:/usr/bin:/sbin:/bin), the environment is that PATH alone,
//    stdin carries `input`, stdout and stderr are captured (first 4 KiB).
//  * The child is killed (SIGKILL) when it outlives `timeout`.
//  * expire_password() expires the password of a local account (one listed
//    in /etc/passwd) with `chage -d 0`, so it must be changed at the next
//    login. Accounts from a directory (LDAP, SSSD) are left alone and
//    reported as such: their password lives in the directory.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace vigil {

struct CommandResult {
  bool started = false;
  bool timed_out = false;
  int exit_status = -1;  // WEXITSTATUS, or 128+signal
  std::string output;    // stdout and stderr, at most 4 KiB
  std::string error;     // why it did not start
  bool ok() const { return started && !timed_out && exit_status == 0; }
};

CommandResult run_command(const std::vector<std::string>& argv, const std::string& input,
                          std::chrono::milliseconds timeout);

struct ExpiryResult {
  enum class Outcome { kExpired, kNotLocal, kFailed } outcome = Outcome::kFailed;
  std::string message;  // for the log and the administrator
};

ExpiryResult expire_password(const std::string& user, const std::string& passwd_file = "/etc/passwd");

}  // namespace vigil
