// The wire format shared by pam_vigil.so, vigild and vigilctl.
//
// A frame is one JSON object followed by a NUL byte, over a UNIX stream
// socket:
//   call:   {"method":"io.vigil.Auth.Report","parameters":{...}}\0
//   reply:  {"parameters":{...}}\0
//   error:  {"error":"io.vigil.Error.Name","parameters":{...}}\0
// A frame, NUL included, is at most kMaxFrame bytes on both sides. Decoding
// never throws for bad input: malformed, oversized or truncated input is an
// Error value. (Allocation failure may still throw std::bad_alloc.)
#pragma once

#include <boost/json/object.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "protocol/frame.h"
#include "protocol/result.h"

namespace vigil::proto {

struct Call {
  std::string method;
  boost::json::object params;
};

struct Reply {
  std::string error;  // empty: success
  boost::json::object params;

  bool ok() const { return error.empty(); }
  static Reply success(boost::json::object p = {}) { return Reply{"", std::move(p)}; }
  static Reply failure(std::string name, std::string message);
  // The human-readable "message" parameter of an error reply, or "".
  std::string message() const;
};

// Encoders append the terminating NUL. They return an Error when the encoded
// frame would exceed kMaxFrame.
Result<std::string> encode(const Call& call);
Result<std::string> encode(const Reply& reply);

// Decoders take one frame without its NUL.
Result<Call> decode_call(std::string_view frame);
Result<Reply> decode_reply(std::string_view frame);


// Helpers for handlers and clients: typed parameter access, with errors that
// name the parameter. An absent optional field yields std::nullopt; a field of
// the wrong type is an error.
Result<std::string> get_string(const boost::json::object& o, std::string_view key);
Result<std::optional<std::string>> get_optional_string(const boost::json::object& o,
                                                       std::string_view key);

}  // namespace vigil::proto
