// Running the system's own tools from the daemon: chage for password
// expiry, and the site's [recovery] notify_command.
//
// Contract:
//  * run_command() is blocking: call it off the I/O thread. It never uses a
//    shell itself; argv[0] is looked up in a fixed PATH
//    (/usr/sbin:/usr/bin:/sbin:/bin), the environment is that PATH alone,
//    stdin carries `input`, stdout and stderr are captured (first 4 KiB).
//    With exec_fd (an open executable, checked by the caller), that very
//    file is run instead (fexecve), argv[0] only naming it.
//  * The child inherits no descriptor but 0, 1 and 2 (its stdin pipe and its
//    output pipe): every other is closed before exec (close_range, or one by
//    one where the kernel lacks it). The one exception is exec_fd, moved to
//    descriptor 3 (kExecFd) and left open across the exec, because the
//    interpreter of a '#!' script opens it again as /dev/fd/3: a script run
//    this way finds its own file open there, and "$0" is /dev/fd/3.
//  * The child starts with default signal dispositions (SIGPIPE included),
//    an empty signal mask, in a session (and process group) of its own.
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

inline constexpr int kExecFd = 3;

CommandResult run_command(const std::vector<std::string>& argv, const std::string& input,
                          std::chrono::milliseconds timeout, int exec_fd = -1);

// Whether vigild runs as a systemd service ($INVOCATION_ID set).
bool under_systemd();

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
