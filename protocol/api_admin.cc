#include "protocol/api_admin.h"

#include "protocol/api_codec.h"

namespace vigil::proto::api {
namespace json = boost::json;

using codec::decode;
using codec::encode;

// clang-format off
json::object AccountReset::to_json() const { return encode(*this); }
Result<AccountReset> AccountReset::from_json(const json::object& o) { return decode<AccountReset>(o); }
json::object AccountResetReply::to_json() const { return encode(*this); }
Result<AccountResetReply> AccountResetReply::from_json(const json::object& o) { return decode<AccountResetReply>(o); }
json::object AccountBlock::to_json() const { return encode(*this); }
Result<AccountBlock> AccountBlock::from_json(const json::object& o) { return decode<AccountBlock>(o); }
json::object AccountBlockReply::to_json() const { return encode(*this); }
Result<AccountBlockReply> AccountBlockReply::from_json(const json::object& o) { return decode<AccountBlockReply>(o); }
json::object AccountUnblock::to_json() const { return encode(*this); }
Result<AccountUnblock> AccountUnblock::from_json(const json::object& o) { return decode<AccountUnblock>(o); }
json::object UnblockReply::to_json() const { return encode(*this); }
Result<UnblockReply> UnblockReply::from_json(const json::object& o) { return decode<UnblockReply>(o); }
json::object RecoveryApprove::to_json() const { return encode(*this); }
Result<RecoveryApprove> RecoveryApprove::from_json(const json::object& o) { return decode<RecoveryApprove>(o); }
json::object AccountPasswordChanged::to_json() const { return encode(*this); }
Result<AccountPasswordChanged> AccountPasswordChanged::from_json(const json::object& o) { return decode<AccountPasswordChanged>(o); }
json::object RecoveryEntry::to_json() const { return encode(*this); }
json::object RecoveryList::to_json() const { return encode(*this); }
Result<RecoveryList> RecoveryList::from_json(const json::object& o) { return decode<RecoveryList>(o); }
json::object RecoveryListReply::to_json() const { return encode(*this); }
Result<RecoveryListReply> RecoveryListReply::from_json(const json::object& o) { return decode<RecoveryListReply>(o); }
json::object AdminAudit::to_json() const { return encode(*this); }
Result<AdminAudit> AdminAudit::from_json(const json::object& o) { return decode<AdminAudit>(o); }
json::object AdminAuditReply::to_json() const { return encode(*this); }
Result<AdminAuditReply> AdminAuditReply::from_json(const json::object& o) { return decode<AdminAuditReply>(o); }
json::object TokenIssue::to_json() const { return encode(*this); }
Result<TokenIssue> TokenIssue::from_json(const json::object& o) { return decode<TokenIssue>(o); }
json::object TokenIssueReply::to_json() const { return encode(*this); }
Result<TokenIssueReply> TokenIssueReply::from_json(const json::object& o) { return decode<TokenIssueReply>(o); }
json::object TokenList::to_json() const { return encode(*this); }
Result<TokenList> TokenList::from_json(const json::object& o) { return decode<TokenList>(o); }
json::object TokenListReply::to_json() const { return encode(*this); }
Result<TokenListReply> TokenListReply::from_json(const json::object& o) { return decode<TokenListReply>(o); }
json::object TokenShow::to_json() const { return encode(*this); }
Result<TokenShow> TokenShow::from_json(const json::object& o) { return decode<TokenShow>(o); }
json::object TokenShowReply::to_json() const { return encode(*this); }
Result<TokenShowReply> TokenShowReply::from_json(const json::object& o) { return decode<TokenShowReply>(o); }
json::object TokenRevoke::to_json() const { return encode(*this); }
Result<TokenRevoke> TokenRevoke::from_json(const json::object& o) { return decode<TokenRevoke>(o); }
json::object TokenRevokeReply::to_json() const { return encode(*this); }
Result<TokenRevokeReply> TokenRevokeReply::from_json(const json::object& o) { return decode<TokenRevokeReply>(o); }
// clang-format on

}  // namespace vigil::proto::api
