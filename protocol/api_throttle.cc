#include "protocol/api_throttle.h"

#include "protocol/api_codec.h"

namespace vigil::proto::api {
namespace json = boost::json;

using codec::decode;
using codec::encode;

// clang-format off
json::object ThrottleList::to_json() const { return encode(*this); }
Result<ThrottleList> ThrottleList::from_json(const json::object& o) { return decode<ThrottleList>(o); }
json::object ThrottleListReply::to_json() const { return encode(*this); }
Result<ThrottleListReply> ThrottleListReply::from_json(const json::object& o) { return decode<ThrottleListReply>(o); }
json::object ThrottleLift::to_json() const { return encode(*this); }
Result<ThrottleLift> ThrottleLift::from_json(const json::object& o) { return decode<ThrottleLift>(o); }
json::object ThrottleLiftReply::to_json() const { return encode(*this); }
Result<ThrottleLiftReply> ThrottleLiftReply::from_json(const json::object& o) { return decode<ThrottleLiftReply>(o); }
// clang-format on

}  // namespace vigil::proto::api
