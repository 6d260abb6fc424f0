// How vigilctl talks to vigild, and how it reads codes. See client.h.
#include "ctl/client.h"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <utility>

#include "ctl/output.h"
#include "daemon/core/config.h"
#include "protocol/client.h"
#include "protocol/names.h"

namespace vigil::ctl {

namespace {

// Sockets: --socket / --admin-socket, else the config's [daemon] keys, else
// the built-in defaults.
bool resolve_sockets(Global& g) {
  if (!g.socket.empty() && !g.admin_socket.empty()) return true;
  vigil::Config cfg;
  if (g.config_given || ::access(g.config_path.c_str(), F_OK) == 0) {
    auto loaded = vigil::load_config(g.config_path);
    if (!loaded) {
      // vigild keeps running on the last good configuration; so does vigilctl.
      const std::string path = last_good_path(g.socket.empty() ? cfg.daemon.socket : g.socket);
      auto text = read_last_good(path);
      auto last = text ? vigil::parse_config(*text, path) : Result<vigil::Config>(loaded.error());
      if (!last) {
        record_failure({kExitError, "vigilctl.Config", terminal_safe(loaded.error().message)});
        std::cerr << "vigilctl: " << loaded.error().message << "\n";
        return false;
      }
      std::cerr << "vigilctl: warning: " << loaded.error().message << "; using the last good settings vigild "
                << "published in " << path << "\n";
      loaded = std::move(last);
    }
    cfg = *loaded;
  }
  if (g.socket.empty()) g.socket = cfg.daemon.socket;
  if (g.admin_socket.empty()) g.admin_socket = cfg.daemon.admin_socket;
  return true;
}

std::optional<Failure>& failure_slot() {
  static std::optional<Failure> f;
  return f;
}

}  // namespace

void record_failure(Failure f) { failure_slot() = std::move(f); }
const std::optional<Failure>& last_failure() { return failure_slot(); }

int exit_for(std::string_view error) {
  if (error == proto::kErrPermissionDenied || error == proto::kErrStepUpRequired) return kExitRefused;
  if (error == proto::kErrNotFound) return kExitNotFound;
  if (error == proto::kErrInvalidParameter || error == proto::kErrInvalidRequest) return kExitUsage;
  return kExitError;
}

std::optional<json::object> call(Global& g, const char* method, json::object params,
                                 CallError* quiet_error, bool admin) {
  if (!resolve_sockets(g)) return std::nullopt;
  const std::string& path = admin ? g.admin_socket : g.socket;
  proto::ClientOptions o{path, std::chrono::milliseconds(g.timeout_ms), true};
  auto res = proto::call(o, proto::Call{method, std::move(params)});
  if (res.transport != proto::Transport::kOk) {
    const std::string why = "cannot reach vigild at " + path + ": " + proto::transport_name(res.transport) +
                            " (" + res.detail + ")";
    record_failure({kExitUnreachable, "vigilctl.Unreachable", terminal_safe(why)});
    std::cerr << "vigilctl: " << terminal_safe(why) << "\n";
    if (res.transport == proto::Transport::kAbsent)
      std::cerr << "vigilctl: is vigild running? (systemctl status vigild)\n";
    if (admin && res.detail.find("ermission") != std::string::npos)
      std::cerr << "vigilctl: the admin socket is for administrators: members of its group "
                   "([daemon] admin_socket_group)\n";
    return std::nullopt;
  }
  if (!res.reply.ok())
    record_failure({exit_for(res.reply.error), terminal_safe(res.reply.error), terminal_safe(res.reply.message())});
  if (!res.reply.ok() && quiet_error) {
    *quiet_error = CallError{res.reply.error, terminal_safe(res.reply.message())};
    return std::nullopt;
  }
  if (!res.reply.ok()) {
    std::string msg = terminal_safe(res.reply.message());
    std::cerr << "vigilctl: " << (msg.empty() ? terminal_safe(res.reply.error) : msg) << "\n";
    return std::nullopt;
  }
  return std::move(res.reply.params);
}

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
  wipe_fields(p, {"step_up_code", "verify_code"});
  if (!r && !err.error.empty()) {
    print_refusal(err);
    return std::nullopt;
  }
  return r;
}

std::optional<json::object> own_or_admin_call(Global& g, const char* method, json::object p,
                                              const std::string& user) {
  CallError err;
  auto r = call(g, method, p, &err);
  if (!r && err.error == proto::kErrPermissionDenied && !user.empty() &&
      ::access(g.admin_socket.c_str(), R_OK | W_OK) == 0)
    return admin_call(g, method, std::move(p));
  if (!r && !err.error.empty()) print_refusal(err);
  return r;
}

std::optional<json::object> read_call(Global& g, const char* method, json::object p) {
  if (::geteuid() == 0) return call(g, method, std::move(p));
  return admin_call(g, method, std::move(p));
}

void print_refusal(const CallError& err) {
  std::cerr << "vigilctl: " << (err.message.empty() ? err.error : err.message) << "\n";
}

std::optional<std::string> read_code(const std::string& prompt, const char* env_name) {
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

}  // namespace vigil::ctl
