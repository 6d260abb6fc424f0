#include "protocol/api_fleet.h"

#include "protocol/api_codec.h"

namespace vigil::proto::api {
namespace json = boost::json;

using codec::decode;
using codec::encode;

// clang-format off
json::object FleetStatus::to_json() const { return encode(*this); }
Result<FleetStatus> FleetStatus::from_json(const json::object& o) { return decode<FleetStatus>(o); }
json::object FleetStatusReply::to_json() const { return encode(*this); }
Result<FleetStatusReply> FleetStatusReply::from_json(const json::object& o) { return decode<FleetStatusReply>(o); }
json::object FleetQuarantine::to_json() const { return encode(*this); }
Result<FleetQuarantine> FleetQuarantine::from_json(const json::object& o) { return decode<FleetQuarantine>(o); }
json::object FleetQuarantineReply::to_json() const { return encode(*this); }
Result<FleetQuarantineReply> FleetQuarantineReply::from_json(const json::object& o) { return decode<FleetQuarantineReply>(o); }
// clang-format on

}  // namespace vigil::proto::api
