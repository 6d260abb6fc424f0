#include "protocol/api_self.h"

#include "protocol/api_codec.h"

namespace vigil::proto::api {
namespace json = boost::json;

using codec::decode;
using codec::encode;

// clang-format off
json::object StatusGet::to_json() const { return encode(*this); }
Result<StatusGet> StatusGet::from_json(const json::object& o) { return decode<StatusGet>(o); }
json::object StatusGetReply::to_json() const { return encode(*this); }
Result<StatusGetReply> StatusGetReply::from_json(const json::object& o) { return decode<StatusGetReply>(o); }
json::object StatusList::to_json() const { return encode(*this); }
Result<StatusList> StatusList::from_json(const json::object& o) { return decode<StatusList>(o); }
json::object StatusListReply::to_json() const { return encode(*this); }
Result<StatusListReply> StatusListReply::from_json(const json::object& o) { return decode<StatusListReply>(o); }
json::object AdminStatusGet::to_json() const { return encode(*this); }
Result<AdminStatusGet> AdminStatusGet::from_json(const json::object& o) { return decode<AdminStatusGet>(o); }
json::object AdminStatusList::to_json() const { return encode(*this); }
Result<AdminStatusList> AdminStatusList::from_json(const json::object& o) { return decode<AdminStatusList>(o); }
json::object TotpEnroll::to_json() const { return encode(*this); }
Result<TotpEnroll> TotpEnroll::from_json(const json::object& o) { return decode<TotpEnroll>(o); }
json::object TotpEnrollReply::to_json() const { return encode(*this); }
Result<TotpEnrollReply> TotpEnrollReply::from_json(const json::object& o) { return decode<TotpEnrollReply>(o); }
json::object TotpConfirm::to_json() const { return encode(*this); }
Result<TotpConfirm> TotpConfirm::from_json(const json::object& o) { return decode<TotpConfirm>(o); }
json::object TotpConfirmReply::to_json() const { return encode(*this); }
Result<TotpConfirmReply> TotpConfirmReply::from_json(const json::object& o) { return decode<TotpConfirmReply>(o); }
json::object TotpDisable::to_json() const { return encode(*this); }
Result<TotpDisable> TotpDisable::from_json(const json::object& o) { return decode<TotpDisable>(o); }
json::object TotpDisableReply::to_json() const { return encode(*this); }
Result<TotpDisableReply> TotpDisableReply::from_json(const json::object& o) { return decode<TotpDisableReply>(o); }
json::object TotpRecoveryCodes::to_json() const { return encode(*this); }
Result<TotpRecoveryCodes> TotpRecoveryCodes::from_json(const json::object& o) { return decode<TotpRecoveryCodes>(o); }
json::object TotpRecoveryCodesReply::to_json() const { return encode(*this); }
Result<TotpRecoveryCodesReply> TotpRecoveryCodesReply::from_json(const json::object& o) { return decode<TotpRecoveryCodesReply>(o); }
// clang-format on

}  // namespace vigil::proto::api
