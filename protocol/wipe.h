// Wiping secrets (codes, passwords, tokens, TOTP secrets) held in strings
// and in JSON messages: one way, for pam_vigil.so, vigilctl and vigild.
//
// Contract:
//  * wipe() zeroes a string's whole capacity, not only its size (a
//    moved-from short string keeps its characters in its inline buffer with
//    size() 0), with a store the compiler may not remove, then empties it.
//  * wipe_fields() zeroes, in place, the named string fields of a JSON object
//    and the strings of the named arrays; other fields are left alone.
#pragma once

#include <string.h>

#include <boost/json/object.hpp>

#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

namespace vigil {

// Inline, so that pam_vigil.so, which has no Boost.JSON, has it without
// wipe.cc.
inline void wipe(std::string& s) {
  explicit_bzero(s.data(), s.capacity());
  s.clear();
}

void wipe_fields(boost::json::object& o, std::span<const std::string_view> names);
inline void wipe_fields(boost::json::object& o, std::initializer_list<std::string_view> names) {
  wipe_fields(o, std::span<const std::string_view>(names.begin(), names.size()));
}

}  // namespace vigil
