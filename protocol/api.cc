#include "protocol/api.h"

#include "protocol/api_codec.h"

namespace vigil::proto::api {
namespace json = boost::json;

using codec::decode;
using codec::encode;

// clang-format off
json::object AuthReport::to_json() const { return encode(*this); }
Result<AuthReport> AuthReport::from_json(const json::object& o) { return decode<AuthReport>(o); }
json::object AuthReportReply::to_json() const { return encode(*this); }
Result<AuthReportReply> AuthReportReply::from_json(const json::object& o) { return decode<AuthReportReply>(o); }
json::object AccountCheck::to_json() const { return encode(*this); }
Result<AccountCheck> AccountCheck::from_json(const json::object& o) { return decode<AccountCheck>(o); }
json::object AccountCheckReply::to_json() const { return encode(*this); }
Result<AccountCheckReply> AccountCheckReply::from_json(const json::object& o) { return decode<AccountCheckReply>(o); }
json::object AuthVerify::to_json() const { return encode(*this); }
Result<AuthVerify> AuthVerify::from_json(const json::object& o) { return decode<AuthVerify>(o); }
json::object AuthVerifyReply::to_json() const { return encode(*this); }
Result<AuthVerifyReply> AuthVerifyReply::from_json(const json::object& o) { return decode<AuthVerifyReply>(o); }
json::object SessionOpen::to_json() const { return encode(*this); }
Result<SessionOpen> SessionOpen::from_json(const json::object& o) { return decode<SessionOpen>(o); }
json::object SessionOpenReply::to_json() const { return encode(*this); }
Result<SessionOpenReply> SessionOpenReply::from_json(const json::object& o) { return decode<SessionOpenReply>(o); }
json::object PasswordChanged::to_json() const { return encode(*this); }
Result<PasswordChanged> PasswordChanged::from_json(const json::object& o) { return decode<PasswordChanged>(o); }
json::object PasswordChangedReply::to_json() const { return encode(*this); }
Result<PasswordChangedReply> PasswordChangedReply::from_json(const json::object& o) { return decode<PasswordChangedReply>(o); }
json::object Ping::to_json() const { return encode(*this); }
Result<Ping> Ping::from_json(const json::object& o) { return decode<Ping>(o); }
json::object PingReply::to_json() const { return encode(*this); }
Result<PingReply> PingReply::from_json(const json::object& o) { return decode<PingReply>(o); }
json::object TokenCheck::to_json() const { return encode(*this); }
Result<TokenCheck> TokenCheck::from_json(const json::object& o) { return decode<TokenCheck>(o); }
json::object TokenCheckReply::to_json() const { return encode(*this); }
Result<TokenCheckReply> TokenCheckReply::from_json(const json::object& o) { return decode<TokenCheckReply>(o); }
json::object DevicesList::to_json() const { return encode(*this); }
Result<DevicesList> DevicesList::from_json(const json::object& o) { return decode<DevicesList>(o); }
json::object DevicesListReply::to_json() const { return encode(*this); }
Result<DevicesListReply> DevicesListReply::from_json(const json::object& o) { return decode<DevicesListReply>(o); }
json::object DevicesForget::to_json() const { return encode(*this); }
Result<DevicesForget> DevicesForget::from_json(const json::object& o) { return decode<DevicesForget>(o); }
json::object DevicesForgetReply::to_json() const { return encode(*this); }
Result<DevicesForgetReply> DevicesForgetReply::from_json(const json::object& o) { return decode<DevicesForgetReply>(o); }
json::object RecoveryRequest::to_json() const { return encode(*this); }
Result<RecoveryRequest> RecoveryRequest::from_json(const json::object& o) { return decode<RecoveryRequest>(o); }
json::object RecoveryRequestReply::to_json() const { return encode(*this); }
Result<RecoveryRequestReply> RecoveryRequestReply::from_json(const json::object& o) { return decode<RecoveryRequestReply>(o); }
// clang-format on

}  // namespace vigil::proto::api
