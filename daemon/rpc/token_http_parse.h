// The pure part of the HTTP token checker (token_http.cc): what a parsed
// request asks for. No I/O; shared by vigild and tests/fuzz/fuzz_http.cc, so
// the fuzzer runs the code the daemon runs.
//
// Contract:
//  * GET or HEAD /auth/SCOPE (SCOPE: tokens::valid_scope) is a token check
//    of SCOPE; the token is the first Authorization header's "Bearer TOKEN"
//    (scheme case-insensitive, spaces around the token dropped; the header
//    at most 512 bytes), else empty, which checks as unknown.
//  * Another method answers 405; any other target 404. Nothing is checked.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/verb.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace vigil::token_http {

// The limits the checker reads requests with (boost::beast request_parser).
inline constexpr std::size_t kHeaderLimit = 8192;
inline constexpr std::uint64_t kBodyLimit = 0;

struct AuthRequest {
  // 0: a token check, answered with tokens::http_status() of its verdict.
  // Otherwise the status to answer at once (404, 405), with no check.
  unsigned status = 0;
  std::string scope;  // a valid scope when status is 0, else empty
  std::string token;  // from "Authorization: Bearer"; empty when none
};

// "Bearer TOKEN" -> TOKEN; empty when the header is anything else.
std::string bearer(std::string_view authorization);

AuthRequest classify(boost::beast::http::verb method, std::string_view target,
                     std::optional<std::string_view> authorization);
AuthRequest classify(const boost::beast::http::request_header<>& req);

// Overwrites the value of every Authorization field with zero bytes in place.
void wipe_authorization(boost::beast::http::request_header<>& req);

}  // namespace vigil::token_http
