// output.h: how vigilctl reads vigild's answers and shows them.
//
// Contract: the text helpers never let what users wrote (reasons, names, a
// colleague's warning) drive the terminal: str() and text() pass every
// string through terminal_safe(). A handler decodes a reply as its struct
// (decoded(), protocol/api*.h) and fails with the decode error when it does
// not decode; for the answers still read member by member, num(), flag()
// and str() read a missing or mistyped member as 0, false or "".
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vigil::ctl {

namespace json = boost::json;

// Text for the terminal: what users wrote (reasons, names) must not drive
// it. C0 and C1 controls, DEL, the bidirectional overrides and invalid UTF-8
// become '?'; other UTF-8 passes.
std::string terminal_safe(std::string_view in);

// Member `k` of `o`: an integer (else 0), true (else false), a string made
// terminal-safe (else "").
int64_t num(const json::object& o, const char* k);
bool flag(const json::object& o, const char* k);
std::string str(const json::object& o, const char* k);

// A value that should be a string, made terminal-safe (else "").
std::string text(const json::value& v);

// A time for people: "never" for 0, else local time with its zone.
std::string when(int64_t epoch);

// The time left until `until`: "1h 05m", "4m 09s".
std::string left(int64_t until);

// An account's (or a device bucket's) lock state in a few words.
std::string state_text(const json::object& a);

// Structured evidence for people (a block's details): an object as
// "key: value; key: value" (underscores read as spaces), a list as
// "a, b", strings unquoted; "" for an empty object. Terminal-safe.
std::string plain_text(const json::value& v);

// The answer as JSON on one line, for --json.
void print_json(const json::object& o);

// A reply that does not decode as its struct (protocol/api*.h): says
// "vigilctl: WHY" on stderr and returns kExitError.
int unreadable(std::string_view why);

// The reply as its struct; a malformed one is said (unreadable()) and
// answers nullopt.
template <class Reply>
std::optional<Reply> decoded(const json::object& r) {
  auto reply = Reply::from_json(r);
  if (reply) return std::move(*reply);
  unreadable(reply.error().message);
  return std::nullopt;
}

}  // namespace vigil::ctl
