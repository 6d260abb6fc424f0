// Service API tokens: the check services make (public socket and the HTTP
// checker), and issuing, listing and revoking them (admin socket).
#include <algorithm>

#include "daemon/core/secrets.h"
#include "daemon/core/tokens.h"
#include "daemon/os/offload.h"
#include "daemon/rpc/handlers.h"
#include "protocol/api_admin.h"

namespace vigil {
namespace json = boost::json;

boost::asio::awaitable<TokenCheckResult> check_token(Services& sv, std::string token, std::string scope) {
  // Hashed here, on the I/O thread; the token itself goes no further.
  Bytes hash = tokens::hash_token(token);
  wipe(token);
  // Fleet mode: a revocation made anywhere reaches this host through its
  // replica; while the replica is older than [fleet] fence, nothing is
  // vouched for (503), since a token may have been revoked meanwhile.
  if (sv.fleet && !sv.fleet->replica_fresh()) co_return TokenCheckResult{tokens::Verdict::kStale, {}, {}, {}, {}};
  auto start = [&](auto deliver) { sv.engine->token_check(std::move(hash), std::move(scope), std::move(deliver)); };
  co_return co_await await_callback<TokenCheckResult>(start);
}

namespace methods {
namespace api = proto::api;
namespace {

api::TokenInfo token_info(const tokens::Token& t) {
  api::TokenInfo o;
  o.accessor = t.accessor;
  o.owner = t.owner;
  o.owner_uid = t.owner_uid;
  o.name = t.name;
  o.scopes = t.scopes;
  o.created_by = t.created_by;
  o.created = to_epoch(t.created);
  o.expires = to_epoch(t.expires);
  o.state = tokens::state_name(t.state);
  o.expired = t.expires <= wall_now();
  o.state_reason = t.state_reason;
  if (t.state != tokens::State::kActive) o.state_changed = to_epoch(t.state_changed);
  return o;
}

std::vector<api::TokenFreeze> freeze_list(const std::vector<FreezeRecord>& fs) {
  std::vector<api::TokenFreeze> out;
  for (const auto& f : fs) out.push_back({f.name, f.uid, to_epoch(f.since), f.reason});
  return out;
}

boost::asio::awaitable<Result<TokenListing>> token_listing(Services& sv) {
  auto start = [&](auto deliver) { sv.engine->token_list(std::move(deliver)); };
  co_return co_await await_callback<Result<TokenListing>>(start);
}

std::optional<Reply> need_accessor(const std::string& accessor) {
  if (accessor.empty() || accessor.size() > 64) return invalid("an \"accessor\" is required");
  return std::nullopt;
}

// Token.Issue's scopes. The raw array is counted, so that a list with a
// non-string in it (which decodes as no scopes at all: kLoose) is refused
// with the words vigild always used for it.
std::optional<Reply> need_scopes(const Params& p, const std::vector<std::string>& scopes) {
  const json::value* raw = p.if_contains(api::key::kScopes);
  const std::size_t n = raw && raw->is_array() ? raw->get_array().size() : 0;
  if (n == 0 || n > 32) return invalid("\"scopes\" must list 1 to 32 scopes");
  if (scopes.size() != n || !std::all_of(scopes.begin(), scopes.end(), tokens::valid_scope))
    return invalid("a scope is 1 to 64 of a-z 0-9 . _ - (starting with a letter or digit)");
  return std::nullopt;
}

}  // namespace

std::optional<Reply> validate_token_check(const Params& p) {
  auto req = api::TokenCheck::from_json(p);
  if (!req) return invalid(req.error().message);
  wipe(req->token);
  // A "scope" given as a string is checked, "" too; null or absent is none.
  const json::value* scope = p.if_contains(api::key::kScope);
  if (scope && scope->is_string() && !tokens::valid_scope(req->scope)) return invalid("invalid scope");
  return std::nullopt;
}

// A "ttl" given is parsed (its first 32 bytes), even "" or not a string:
// the struct reads both as unset, so its presence is asked of the JSON.
namespace {
constexpr char kBadTtl[] = "\"ttl\" must be a duration between 1s and 3660d, such as \"30d\"";
std::optional<Seconds> token_ttl(const std::string& ttl) {
  auto d = parse_duration(std::string_view(ttl).substr(0, 32));
  if (!d || d->count() < 1 || *d > std::chrono::hours(24 * 3660)) return std::nullopt;
  return *d;
}
}  // namespace

std::optional<Reply> validate_token_issue(const Params& p) {
  namespace key = api::key;
  if (auto r = admin_params(p, {key::kOwner, key::kName, key::kScopes, key::kTtl})) return r;
  auto req = api::TokenIssue::from_json(p);
  if (!req) return invalid(req.error().message);
  if (!valid_user_name(req->owner)) return invalid("a valid \"owner\" is required");
  const std::string& name = req->name;
  if (name.empty() || name.size() > 64 || !printable(name))
    return invalid("a \"name\" of 1 to 64 printable characters is required");
  if (p.contains(key::kTtl) && !token_ttl(req->ttl)) return invalid(kBadTtl);
  return need_scopes(p, req->scopes);
}

std::optional<Reply> validate_token_list(const Params& p) {
  if (auto r = admin_params(p, {api::key::kOwner})) return r;
  auto req = api::TokenList::from_json(p);
  if (!req) return invalid(req.error().message);
  return std::nullopt;
}

std::optional<Reply> validate_accessor(const Params& p) {
  if (auto r = admin_params(p, {api::key::kAccessor})) return r;
  auto req = api::TokenShow::from_json(p);
  if (!req) return invalid(req.error().message);
  return need_accessor(req->accessor);
}

std::optional<Reply> validate_token_revoke(const Params& p) {
  if (auto r = admin_params(p, {api::key::kAccessor, api::key::kReason})) return r;
  auto req = api::TokenRevoke::from_json(p);
  if (!req) return invalid(req.error().message);
  if (auto r = need_accessor(req->accessor)) return r;
  return need_reason(p);
}

Answer token_check(Request& r) {
  auto in = api::TokenCheck::from_json(r.params);
  if (!in) co_return invalid(in.error().message);
  std::string token = in->token;
  wipe(in->token);
  // Named: GCC 12 mishandles temporaries in co_await operands.
  auto check = check_token(r.sv, std::move(token), std::move(in->scope));
  TokenCheckResult res = co_await std::move(check);
  api::TokenCheckReply out;
  out.verdict = tokens::verdict_name(res.verdict);
  if (res.verdict == tokens::Verdict::kValid) {
    out.owner = res.owner;
    out.scopes = res.scopes;
  }
  co_return Reply::success(out.to_json());
}

Answer token_issue(Request& r) {
  auto in = api::TokenIssue::from_json(r.params);
  if (!in) co_return invalid(in.error().message);
  auto owner = co_await r.sv.resolver->by_name(in->owner);
  if (owner.status == Lookup::Status::kError) co_return unavailable("user lookup failed (NSS error)");
  if (!owner.found()) co_return not_found("no such user: " + in->owner);
  TokenIssueRequest req;
  req.owner_uid = owner.id.uid;
  req.owner = owner.id.name;
  req.name = std::move(in->name);      // 1 to 64 bytes (validate_token_issue)
  req.scopes = std::move(in->scopes);  // 1 to 32 valid ones
  req.by_uid = r.actor.uid;
  req.by = r.actor.name;
  req.ttl = r.sv.config->tokens.default_ttl;
  if (r.params.contains(api::key::kTtl)) {
    auto d = token_ttl(in->ttl);
    if (!d) co_return invalid(kBadTtl);  // validate_token_issue said so before the step-up
    req.ttl = *d;
  }
  auto start = [&](auto deliver) { r.sv.engine->token_issue(std::move(req), std::move(deliver)); };
  auto res = co_await await_callback<TokenIssueResult>(start);
  if (!res.status) co_return error_reply(res.status.error(), "the token could not be recorded; none was issued");
  api::TokenIssueReply out{token_info(res.token), res.token.owner, res.secret};  // shown once, here
  wipe(res.secret);
  json::object reply = out.to_json();  // the server wipes its "token" once sent (dispatch.cc)
  wipe(out.token);
  co_return Reply::success(std::move(reply));
}

Answer token_list(Request& r) {
  auto in = api::TokenList::from_json(r.params);
  if (!in) co_return invalid(in.error().message);
  auto l = co_await token_listing(r.sv);
  if (!l) co_return unavailable("token state unavailable");
  api::TokenListReply out;
  for (const auto& t : l->tokens)
    if (in->owner.empty() || t.owner == in->owner) out.tokens.push_back(token_info(t));
  out.frozen = !l->freezes.empty();
  out.freezes = freeze_list(l->freezes);
  co_return Reply::success(out.to_json());
}

Answer token_show(Request& r) {
  auto in = api::TokenShow::from_json(r.params);
  if (!in) co_return invalid(in.error().message);
  auto l = co_await token_listing(r.sv);
  if (!l) co_return unavailable("token state unavailable");
  for (const auto& t : l->tokens)
    if (t.accessor == in->accessor)
      co_return Reply::success(api::TokenShowReply{token_info(t), !l->freezes.empty()}.to_json());
  co_return not_found("no token " + in->accessor);
}

Answer token_revoke(Request& r) {
  auto in = api::TokenRevoke::from_json(r.params);
  if (!in) co_return invalid(in.error().message);
  auto start = [&](auto deliver) {
    r.sv.engine->token_revoke(std::move(in->accessor), std::move(in->reason), r.actor.name, std::move(deliver));
  };
  auto res = co_await await_callback<TokenRevokeResult>(start);
  if (!res.status) co_return error_reply(res.status.error(), "the revocation could not be recorded");
  co_return Reply::success(api::TokenRevokeReply{token_info(res.token), res.changed}.to_json());
}

}  // namespace methods
}  // namespace vigil
