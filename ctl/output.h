// output.h: how vigilctl reads vigild's answers and shows them.
//
// Contract: the text helpers never let what users wrote (reasons, names, a
// colleague's warning) drive the terminal: str() and text() pass every
// string through terminal_safe(). Missing or mistyped members read as 0,
// false or "": a handler prints what it has and never throws on an answer.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
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

// The answer as JSON on one line, for --json.
void print_json(const json::object& o);

}  // namespace vigil::ctl
