// vigil::Result<T> — expected failures as values.
//
// Contract: a Result holds either a T or an Error {code, message}. Code is a
// stable machine-readable name (for the wire: an io.vigil.Error.* name);
// message is for humans and never contains a secret. Accessing value() on an
// error, or error() on a value, is a programming bug and aborts.
#pragma once

#include <cstdlib>
#include <string>
#include <utility>
#include <variant>

namespace vigil {

struct Error {
  std::string code;
  std::string message;
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
