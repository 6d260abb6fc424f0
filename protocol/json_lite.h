// A small JSON codec for pam_vigil.so: it writes the module's calls and reads
// vigild's replies without Boost.JSON, whose code and tables a login process
// would otherwise map and relocate at every login (bench/RESULTS.md, "The
// module's load cost"). vigild and vigilctl keep Boost.JSON
// (protocol/message.h); tests/unit check that the two agree.
//
// Contract:
//  * append_json_string() writes a JSON string: `"` and `\` escaped, control
//    characters below 0x20 as \u00XX, every other byte as it is (the module
//    checks its text is UTF-8 before it sends it).
//  * parse_json_object() reads one JSON text that must be an object, at most
//    kMaxDepth levels deep, and strict as RFC 8259 is: no trailing commas,
//    comments or bytes after the value; strings must be UTF-8 with their
//    escapes (\uXXXX surrogate pairs included) well formed. Anything else is
//    nullopt and the message in *error. Never throws for bad input
//    (allocation failure may still throw std::bad_alloc).
//  * It keeps what the module reads: strings, booleans, integers that fit
//    int64, null, and objects (members in order; a key given twice keeps its
//    last value, as Boost.JSON does). An array, a fraction, an exponent or
//    an integer beyond int64 is kept as kOther.
//  * A parsed object's strings are wiped when it is destroyed.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vigil::proto::lite {

inline constexpr int kMaxDepth = 16;  // as vigild's parser (message.cc)

void append_json_string(std::string& out, std::string_view s);

struct JsonObject;

struct JsonValue {
  enum class Kind { kNull, kBool, kInt, kString, kObject, kOther };
  Kind kind = Kind::kNull;
  bool boolean = false;
  std::int64_t integer = 0;
  std::string string;
  std::unique_ptr<JsonObject> object;

  JsonValue() = default;
  JsonValue(JsonValue&&) = default;
  JsonValue& operator=(JsonValue&&) = default;
  ~JsonValue();
};

struct JsonObject {
  std::vector<std::pair<std::string, JsonValue>> members;
  // The first member named `key`, or nullptr.
  const JsonValue* find(std::string_view key) const;
};

std::optional<JsonObject> parse_json_object(std::string_view text, std::string* error);

}  // namespace vigil::proto::lite
