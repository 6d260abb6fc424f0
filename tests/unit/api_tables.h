// What the typed-API tests share (test_protocol.cc, test_api_self.cc,
// test_api_admin.cc): parsing a literal, decoding and encoding again, and
// the row of a decoding table.
#pragma once

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <functional>
#include <string>
#include <string_view>

namespace vigil::test {

inline boost::json::object object_of(std::string_view text) { return boost::json::parse(text).as_object(); }

// Decodes with T and encodes again: the text of the encoding, or the error.
template <class T>
std::string reencode(std::string_view text) {
  auto t = T::from_json(object_of(text));
  if (!t) return "error: " + t.error().message;
  return boost::json::serialize(t->to_json());
}

// A struct's encoding decodes to the same encoding.
template <class T>
void expect_round_trip(const T& t) {
  const std::string text = boost::json::serialize(t.to_json());
  EXPECT_EQ(reencode<T>(text), text);
}

// One row of a decoding table: a text in, its re-encoding or error out.
struct Decoding {
  const char* name;
  std::function<std::string(std::string_view)> decode;  // reencode<T>
  std::string in;
  std::string out;  // the re-encoding, or "error: " and the message
};

}  // namespace vigil::test
