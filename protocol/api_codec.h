// The codec behind protocol/api*.h: how a struct's fields() list is
// written to JSON and read from it. Included only by protocol/api*.cc; its
// contract is api.h's. Each api*.cc defines a struct's to_json() and
// from_json() as encode(*this) and decode<T>(o).
#pragma once

#include <boost/json.hpp>
#include <string.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/api.h"

namespace vigil::proto::api::codec {
namespace json = boost::json;

inline Error bad(std::string_view before, std::string_view key, std::string_view after) {
  std::string m(before);
  m += '"';
  m += key;
  m += '"';
  m += after;
  return Error::InvalidParameter(std::move(m));
}

template <class T>
concept AdminRequest = requires { T::kAdmin; };

template <class T>
json::object encode(const T& t);
template <class T>
Result<T> decode(const json::object& in);

// Writes each member that is set, or always written.
struct Encoder {
  json::object& out;

  void operator()(std::string_view k, const std::string& s, Spec spec) {
    if (spec.write == Write::kAlways || !s.empty()) out[k] = s;
  }
  void operator()(std::string_view k, bool b, Spec spec) {
    if (spec.write == Write::kAlways || b) out[k] = b;
  }
  void operator()(std::string_view k, uint32_t id, Spec spec) {
    if (spec.write == Write::kAlways || id != 0) out[k] = static_cast<int64_t>(id);
  }
  void operator()(std::string_view k, const int64_t& n, Spec spec) {
    if (spec.write == Write::kAlways || n != 0) out[k] = n;
  }
  void operator()(std::string_view k, const std::vector<std::string>& list, Spec spec) {
    if (spec.write != Write::kAlways && list.empty()) return;
    json::array a;
    for (const auto& s : list) a.push_back(json::string(s));
    out[k] = std::move(a);
  }
  template <class T>
  void operator()(std::string_view k, const std::vector<T>& list, Spec spec) {
    if (spec.write != Write::kAlways && list.empty()) return;
    json::array a;
    for (const auto& t : list) a.push_back(encode(t));
    out[k] = std::move(a);
  }
  template <class T>
  void operator()(std::string_view k, const std::optional<T>& t, Spec) {
    if (t) out[k] = encode(*t);
  }
  void operator()(std::string_view k, const json::value& v, Spec spec) {
    if (spec.write == Write::kAlways || !v.is_null()) out[k] = v;
  }
};

// Reads each member; stops at the first error.
struct Decoder {
  const json::object& in;
  std::optional<Error> error;

  template <class M>
  void operator()(std::string_view k, M& m, Spec spec) {
    if (error) return;
    auto it = in.find(k);
    if (it == in.end()) {
      if (spec.read == Read::kRequired) error = bad("missing parameter ", k, "");
      return;
    }
    read(k, it->value(), m, spec);
  }

  void read(std::string_view k, const json::value& v, std::string& m, Spec spec) {
    if (const json::string* s = v.if_string()) {
      if (spec.read != Read::kLoose && s->size() > spec.max) {
        error = bad("parameter ", k, " is too long");
        return;
      }
      m.assign(s->data(), s->size());  // the one copy: no temporary holds a code
    } else if (spec.read == Read::kRequired || (spec.read == Read::kOptional && !v.is_null())) {
      error = bad("parameter ", k, " must be a string");
    }
  }
  void read(std::string_view k, const json::value& v, bool& m, Spec spec) {
    if (v.is_bool()) m = v.get_bool();
    else if (spec.read != Read::kLoose) error = bad("parameter ", k, " must be a boolean");
  }
  void read(std::string_view k, const json::value& v, uint32_t& m, Spec spec) {
    if (v.is_int64()) {
      const int64_t n = v.get_int64();
      m = n > 0 && n < 4294967295LL ? static_cast<uint32_t>(n) : 0;
    } else if (spec.read != Read::kLoose) {
      error = bad("parameter ", k, " must be an integer");
    }
  }
  void read(std::string_view k, const json::value& v, int64_t& m, Spec spec) {
    if (v.is_int64()) m = v.get_int64();
    else if (spec.read != Read::kLoose) error = bad("parameter ", k, " must be an integer");
  }
  void read(std::string_view k, const json::value& v, std::vector<std::string>& m, Spec spec) {
    const json::array* a = v.if_array();
    if (!a) {
      if (spec.read != Read::kLoose) error = bad("parameter ", k, " must be an array");
      return;
    }
    for (const auto& e : *a) {
      if (!e.is_string()) {
        for (auto& s : m) explicit_bzero(s.data(), s.size());  // recovery codes are secrets
        m.clear();
        if (spec.read != Read::kLoose) error = bad("parameter ", k, " must be an array of strings");
        return;
      }
      m.emplace_back(e.get_string());
    }
  }
  template <class T>
  void read(std::string_view k, const json::value& v, std::vector<T>& m, Spec spec) {
    const json::array* a = v.if_array();
    if (!a) {
      if (spec.read != Read::kLoose) error = bad("parameter ", k, " must be an array");
      return;
    }
    for (const auto& e : *a) {
      const json::object* o = e.if_object();
      Result<T> t = o ? decode<T>(*o) : Result<T>(bad("parameter ", k, " must be an array of objects"));
      if (!t) {
        m.clear();
        if (spec.read != Read::kLoose) error = t.error();
        return;
      }
      m.push_back(std::move(*t));
    }
  }
  template <class T>
  void read(std::string_view k, const json::value& v, std::optional<T>& m, Spec spec) {
    if (v.is_null()) return;
    const json::object* o = v.if_object();
    Result<T> t = o ? decode<T>(*o) : Result<T>(bad("parameter ", k, " must be an object"));
    if (t) m = std::move(*t);
    else if (spec.read != Read::kLoose) error = t.error();
  }
  void read(std::string_view, const json::value& v, json::value& m, Spec) { m = v; }
};

// Whether a struct accepts a key.
struct Accepts {
  std::string_view key;
  bool found = false;

  template <class M>
  void operator()(std::string_view k, const M&, Spec) {
    if (k == key) found = true;
  }
};

// Zeroes every string and string-list member, so that a failed decoding
// leaves no code.
struct Wiper {
  void operator()(std::string_view, std::string& s, Spec) {
    explicit_bzero(s.data(), s.size());
    s.clear();
  }
  void operator()(std::string_view, std::vector<std::string>& list, Spec) {
    for (auto& s : list) explicit_bzero(s.data(), s.size());
    list.clear();
  }
  template <class M>
  void operator()(std::string_view, M&, Spec) {}
};

template <class T>
json::object encode(const T& t) {
  json::object out;
  T::fields(t, Encoder{out});
  return out;
}

// One named result, decoded in place and returned as it is (no moved-from
// copy of a code is left behind).
template <class T>
Result<T> decode(const json::object& in) {
  Result<T> out{T{}};
  if constexpr (T::kClosed) {
    for (const auto& kv : in) {
      if constexpr (AdminRequest<T>) {
        if (kv.key() == key::kStepUpCode) continue;  // the admin gate's (api.h)
      }
      Accepts a{kv.key()};
      T::fields(std::as_const(*out), a);
      if (!a.found) {
        out = bad("unknown parameter ", kv.key(), "");
        return out;
      }
    }
  }
  Decoder d{in, std::nullopt};
  T::fields(*out, d);
  if (d.error) {
    T::fields(*out, Wiper{});
    out = std::move(*d.error);
  }
  return out;
}

}  // namespace vigil::proto::api::codec
