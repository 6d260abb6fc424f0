// vigil::Result<T> — expected failures as values.
//
// Contract:
//  * A Result holds either a T or an Error {code, message}. The code is one
//    of a closed set (Code): the ones a reply carries on the wire (see
//    wire_name), and the ones that stay inside a program. The message is for
//    humans and never contains a secret.
//  * Errors are made with the named constructors (Error::Store(msg), ...)
//    and asked with the checks (e.is_refused(), ...), as LevelDB's Status
//    does; nobody compares codes as strings.
//  * Accessing value() on an error, or error() on a value, is a programming
//    bug and aborts.
#pragma once

#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace vigil {

struct Error {
  enum class Code {
    // The wire's (io.vigil.Error.*, protocol/names.h).
    kInvalidRequest,
    kInvalidParameter,
    kMethodNotFound,
    kPermissionDenied,
    kNotFound,
    kUnavailable,
    kInternal,
    kStepUpRequired,
    // Inside a program.
    kRefused,    // a rule said no: the message says why, for the person asking
    kStore,      // the state could not be read or committed
    kState,      // the state directory (ownership, the lock, its files)
    kLocked,     // the state directory is locked by another process
    kConfig,     // the configuration is invalid, or the host does not fit it
    kSecrets,    // the TOTP key, sealed secrets
    kNss,        // a user or group lookup failed (not "not found")
    kSocket,     // a socket could not be made, bound or adopted
    kSpawn,      // a child process could not be started
    kHardening,  // the process limits could not be set
  };

  Code code = Code::kInternal;
  std::string message;

  static Error InvalidRequest(std::string m) { return {Code::kInvalidRequest, std::move(m)}; }
  static Error InvalidParameter(std::string m) { return {Code::kInvalidParameter, std::move(m)}; }
  static Error NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Error Internal(std::string m) { return {Code::kInternal, std::move(m)}; }
  static Error Refused(std::string m) { return {Code::kRefused, std::move(m)}; }
  static Error Store(std::string m) { return {Code::kStore, std::move(m)}; }
  static Error State(std::string m) { return {Code::kState, std::move(m)}; }
  static Error Locked(std::string m) { return {Code::kLocked, std::move(m)}; }
  static Error Config(std::string m) { return {Code::kConfig, std::move(m)}; }
  static Error Secrets(std::string m) { return {Code::kSecrets, std::move(m)}; }
  static Error Nss(std::string m) { return {Code::kNss, std::move(m)}; }
  static Error Socket(std::string m) { return {Code::kSocket, std::move(m)}; }
  static Error Spawn(std::string m) { return {Code::kSpawn, std::move(m)}; }
  static Error Hardening(std::string m) { return {Code::kHardening, std::move(m)}; }

  bool is_refused() const { return code == Code::kRefused; }
  bool is_not_found() const { return code == Code::kNotFound; }
  bool is_locked() const { return code == Code::kLocked; }
  bool is_store() const { return code == Code::kStore; }

  // The io.vigil.Error.* name a reply carries: the wire codes' own, and for
  // the others the closest (a refusal is PermissionDenied, a failure of the
  // host or the store is Unavailable).
  const char* wire_name() const;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}                 // NOLINT(implicit)
  Result(Error error) : v_(std::move(error)) {}             // NOLINT(implicit)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { check(true); return std::get<0>(v_); }
  const T& value() const& { check(true); return std::get<0>(v_); }
  T&& value() && { check(true); return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { check(false); return std::get<1>(v_); }

 private:
  void check(bool want_value) const {
    if (ok() != want_value) std::abort();
  }
  std::variant<T, Error> v_;
};

// Result<void> stand-in.
struct Ok {};
using Status = Result<Ok>;

}  // namespace vigil
