// pam_vigil.so's codec for its calls (protocol/api.h structs), on
// protocol/json_lite.h instead of Boost.JSON: the same fields() lists, the
// same rules as protocol/api_codec.h (what is written when, what is read how),
// for the member types the module's calls and replies have (strings,
// booleans, 32- and 64-bit integers). tests/unit check, call by call, that
// vigild's decoder reads what this writes and that this reads what vigild
// writes as vigilctl's codec does.
//
// Contract:
//  * encode_call(T) is the whole frame, {"method":...,"parameters":{...}},
//    its NUL included; an Error (the partial frame wiped) when it would
//    exceed kMaxFrame. Its buffer is reserved once: it never reallocates,
//    so a code it carries is in that buffer alone, which the caller wipes.
//  * decode_reply(frame) reads a reply as protocol/message.h's decode_reply
//    does: an "error" must be a non-empty string, "parameters" an object.
//  * decode_params<T>() reads T from the parameters as api_codec.h's
//    decode<T>() does (replies are open: unknown keys are ignored); a failed
//    decoding wipes what it read.
#pragma once

#include <string.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "protocol/api.h"
#include "protocol/frame.h"
#include "protocol/json_lite.h"
#include "protocol/result.h"

namespace vigil::proto::api::lite {

using proto::lite::JsonObject;
using proto::lite::JsonValue;

// Writes each member that is set, or always written (api_codec.h's Encoder).
struct Writer {
  std::string& out;
  bool first = true;

  void key(std::string_view k) {
    if (!first) out.push_back(',');
    first = false;
    proto::lite::append_json_string(out, k);
    out.push_back(':');
  }
  void operator()(std::string_view k, const std::string& s, Spec spec) {
    if (spec.write != Write::kAlways && s.empty()) return;
    key(k);
    proto::lite::append_json_string(out, s);
  }
  void operator()(std::string_view k, bool b, Spec spec) {
    if (spec.write != Write::kAlways && !b) return;
    key(k);
    out += b ? "true" : "false";
  }
  void operator()(std::string_view k, uint32_t n, Spec spec) {
    if (spec.write != Write::kAlways && n == 0) return;
    key(k);
    out += std::to_string(n);
  }
  void operator()(std::string_view k, const int64_t& n, Spec spec) {
    if (spec.write != Write::kAlways && n == 0) return;
    key(k);
    out += std::to_string(n);
  }
};

// An upper bound of the encoded size (each byte of a string may become
// \u00XX): encode_call reserves it, so that the frame never grows, and no
// freed buffer keeps a partial copy of a code.
struct Sizer {
  std::size_t n = 0;
  void operator()(std::string_view k, const std::string& s, Spec) { n += 6 * k.size() + 4 + 6 * s.size() + 2; }
  void operator()(std::string_view k, bool, Spec) { n += 6 * k.size() + 4 + 5; }
  void operator()(std::string_view k, uint32_t, Spec) { n += 6 * k.size() + 4 + 20; }
  void operator()(std::string_view k, const int64_t&, Spec) { n += 6 * k.size() + 4 + 20; }
};

template <class T>
Result<std::string> encode_call(const T& t) {
  Sizer size;
  T::fields(t, size);
  std::string out;
  out.reserve(size.n + 6 * std::char_traits<char>::length(T::kMethod) + 64);
  out += "{\"method\":";
  proto::lite::append_json_string(out, T::kMethod);
  out += ",\"parameters\":{";
  T::fields(t, Writer{out});
  out += "}}";
  if (out.size() + 1 > kMaxFrame) {
    explicit_bzero(out.data(), out.size());
    return Error::InvalidRequest("frame exceeds 64 KiB");
  }
  out.push_back('\0');
  return out;
}

// A reply: its error name ("" on success) and its parameters.
struct Reply {
  std::string error;
  JsonObject params;
  bool ok() const { return error.empty(); }
};

inline Result<Reply> decode_reply(std::string_view frame) {
  if (frame.size() + 1 > kMaxFrame) return Error::InvalidRequest("frame exceeds 64 KiB");
  std::string why;
  auto o = proto::lite::parse_json_object(frame, &why);
  if (!o) return Error::InvalidRequest("malformed JSON: " + why);
  Reply r;
  if (const JsonValue* e = o->find("error")) {
    if (e->kind != JsonValue::Kind::kString || e->string.empty())
      return Error::InvalidRequest("\"error\" is not a non-empty string");
    r.error = e->string;
  }
  for (auto& [k, v] : o->members) {
    if (k == "parameters" && v.kind == JsonValue::Kind::kObject) {
      r.params = std::move(*v.object);
      return r;
    }
    if (k == "parameters") break;
  }
  return Error::InvalidRequest("reply has no \"parameters\" object");
}

// Reads each member (api_codec.h's Decoder); stops at the first error.
struct Reader {
  const JsonObject& in;
  std::optional<Error> error;

  template <class M>
  void operator()(std::string_view k, M& m, Spec spec) {
    if (error) return;
    const JsonValue* v = in.find(k);
    if (!v) {
      if (spec.read == Read::kRequired) error = Error::InvalidParameter("missing parameter \"" + std::string(k) + "\"");
      return;
    }
    read(k, *v, m, spec);
  }
  void bad(std::string_view k, const char* what) {
    error = Error::InvalidParameter("parameter \"" + std::string(k) + "\" " + what);
  }
  void read(std::string_view k, const JsonValue& v, std::string& m, Spec spec) {
    if (v.kind == JsonValue::Kind::kString) {
      if (spec.read != Read::kLoose && v.string.size() > spec.max) return bad(k, "is too long");
      m.assign(v.string);
    } else if (spec.read == Read::kRequired || (spec.read == Read::kOptional && v.kind != JsonValue::Kind::kNull)) {
      bad(k, "must be a string");
    }
  }
  void read(std::string_view k, const JsonValue& v, bool& m, Spec spec) {
    if (v.kind == JsonValue::Kind::kBool) m = v.boolean;
    else if (spec.read != Read::kLoose) bad(k, "must be a boolean");
  }
  void read(std::string_view k, const JsonValue& v, uint32_t& m, Spec spec) {
    if (v.kind == JsonValue::Kind::kInt) m = v.integer > 0 && v.integer < 4294967295LL ? static_cast<uint32_t>(v.integer) : 0;
    else if (spec.read != Read::kLoose) bad(k, "must be an integer");
  }
  void read(std::string_view k, const JsonValue& v, int64_t& m, Spec spec) {
    if (v.kind == JsonValue::Kind::kInt) m = v.integer;
    else if (spec.read != Read::kLoose) bad(k, "must be an integer");
  }
};

struct Wiper {
  void operator()(std::string_view, std::string& s, Spec) {
    explicit_bzero(s.data(), s.size());
    s.clear();
  }
  template <class M>
  void operator()(std::string_view, M&, Spec) {}
};

template <class T>
Result<T> decode_params(const JsonObject& in) {
  static_assert(!T::kClosed, "the module reads replies, which are open");
  Result<T> out{T{}};
  Reader r{in, std::nullopt};
  T::fields(*out, r);
  if (r.error) {
    T::fields(*out, Wiper{});
    out = std::move(*r.error);
  }
  return out;
}

}  // namespace vigil::proto::api::lite
