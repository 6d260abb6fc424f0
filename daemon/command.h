// Running the system's own tools from the daemon: chage for password
// expiry, and the site's [recovery] notify_command.
//
// Contract:
//  * run_command() is blocking: call it off the I/O thread. It never uses a
//    shell itself; argv[0] is looked up in a fixed PATH
//    (/usr/sbin:/usr/bin:/sbin:/bin), the environment is that PATH alone,
//    stdin carries `input`, stdout and stderr are captured (first 4 KiB).
//  * The child is killed (SIGKILL) when it outlives `timeout`.
//  * Under systemd, chage, notify_command and the revoke hooks run through
//    outside_sandbox(): the daemon's hardening (read-only system, no
//    network) would break them.
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

// argv, run outside the daemon's sandbox when vigild runs under systemd
// ($INVOCATION_ID set): as a transient unit of its own (systemd-run --wait
// --pipe), whose stdin, stdout and exit status are the command's. Otherwise
// argv unchanged.
std::vector<std::string> outside_sandbox(std::vector<std::string> argv, std::chrono::seconds max_time);

struct ExpiryResult {
  enum class Outcome { kExpired, kNotLocal, kFailed } outcome = Outcome::kFailed;
  std::string message;  // for the log and the administrator
};

ExpiryResult expire_password(const std::string& user, const std::string& passwd_file = "/etc/passwd");

}  // namespace vigil
