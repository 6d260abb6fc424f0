// client.h: how vigilctl talks to vigild, and how it reads codes.
//
// Contract: call() and admin_call() make one request on the public or the
// admin socket. On any failure (vigild unreachable, a refusal) they print
// the reason to stderr and answer nullopt, so that a handler only has to
// return kExitError; call() with a CallError hands a refusal back instead.
// Codes and passwords never come from the command line: read_code() takes
// them from an environment variable or from the terminal, without echo, and
// whoever holds one wipes it once it is sent.
#pragma once

#include <boost/json/object.hpp>

#include <initializer_list>
#include <optional>
#include <string_view>
#include <string>

#include "protocol/wipe.h"  // wipe, wipe_fields: secrets sent or received
#include "vigil_build_config.h"

namespace vigil::ctl {

namespace json = boost::json;

// vigilctl's exit codes (vigilctl(8), EXIT STATUS). A handler returns
// kExitError for any failure; main() replaces it with the code of the last
// failure recorded (record_failure()), so that a script can tell them apart.
constexpr int kExitError = 1;        // failed: vigild could not do it, a malformed reply
constexpr int kExitUsage = 2;        // a wrong command line, or a parameter vigild refused as invalid
constexpr int kExitUnreachable = 3;  // vigild could not be reached (not running, no access, timeout)
constexpr int kExitRefused = 4;      // refused: not allowed, step-up required or refused, a rule
constexpr int kExitNotFound = 5;     // no such user, request or token

// The last failure: its exit code, a stable name ("io.vigil.Error.NotFound",
// or vigilctl's own: "vigilctl.Unreachable", "vigilctl.MalformedReply",
// "vigilctl.Usage") and its message (terminal-safe). With --json it is
// printed on standard output as {"error": NAME, "code": EXIT, "message": ...}.
struct Failure {
  int exit = kExitError;
  std::string error;
  std::string message;
};
void record_failure(Failure f);
const std::optional<Failure>& last_failure();
// The exit code of a daemon's error name.
int exit_for(std::string_view error);

// The options before the subcommand, which every command shares.
struct Global {
  std::string config_path = VIGIL_DEFAULT_CONFIG;
  bool config_given = false;
  std::string socket;
  std::string admin_socket;
  int timeout_ms = 5000;
};

// A refusal from vigild: its error name and its message (terminal-safe).
struct CallError {
  std::string error;
  std::string message;
};

// One call; prints the error and returns nullopt on any failure (unless
// `quiet_error` is given: then the daemon's refusal is handed back instead).
// Resolves the socket paths of `g` first (see resolve_sockets in client.cc).
std::optional<json::object> call(Global& g, const char* method, json::object params,
                                 CallError* quiet_error = nullptr, bool admin = false);

// An admin-socket call. A change needs the caller's own code (step-up): it
// is sent from VIGIL_CODE when set; otherwise, when the daemon asks for it,
// read from the terminal, and the call is made once more.
std::optional<json::object> admin_call(Global& g, const char* method, json::object p);
// A read about USER's account on the public socket; when it refuses
// because USER is someone else and the caller can open the admin socket,
// the same read there (administrators read any account).
std::optional<json::object> own_or_admin_call(Global& g, const char* method, json::object p,
                                              const std::string& user);
// An administrators' read (audit, requests, token list, throttles): root
// reads it on the public socket, where vigild serves these to uid 0 without
// the admin socket, [recovery] allow_root or a step-up; anyone else through
// the admin socket.
std::optional<json::object> read_call(Global& g, const char* method, json::object p);

// Prints a refusal handed back by call(): "vigilctl: MESSAGE" (the error's
// name when there is no message). The exit status says what kind it was.
void print_refusal(const CallError& err);

// A code: from the environment variable, else read from the terminal
// without echo. Codes never go on the command line.
std::optional<std::string> read_code(const std::string& prompt, const char* env_name = "VIGIL_CODE");

}  // namespace vigil::ctl
