// Service API tokens: the check services make (public socket and the HTTP
// checker), and issuing, listing and revoking them (admin socket).
#include "daemon/core/secrets.h"
#include "daemon/core/tokens.h"
#include "daemon/os/offload.h"
#include "daemon/rpc/handlers.h"
#include "protocol/api.h"

namespace vigil {
namespace json = boost::json;

boost::asio::awaitable<TokenCheckResult> check_token(Services& sv, std::string token, std::string scope) {
  // Hashed here, on the I/O thread; the token itself goes no further.
  Bytes hash = tokens::hash_token(token);
  wipe(token);
  auto start = [&](auto deliver) { sv.engine->token_check(std::move(hash), std::move(scope), std::move(deliver)); };
  co_return co_await await_callback<TokenCheckResult>(start);
}

namespace methods {
namespace api = proto::api;
namespace {

json::object token_json(const tokens::Token& t) {
  json::object o = tokens::describe(t);
  o["created"] = to_epoch(t.created);
  o["expires"] = to_epoch(t.expires);
  o["state"] = tokens::state_name(t.state);
  o["expired"] = t.expires <= wall_now();
  if (!t.state_reason.empty()) o["state_reason"] = t.state_reason;
  if (t.state != tokens::State::kActive) o["state_changed"] = to_epoch(t.state_changed);
  return o;
}

json::array freezes_json(const std::vector<FreezeRecord>& fs) {
  json::array out;
  for (const auto& f : fs) {
    json::object o;
    o["user"] = f.name;
    o["uid"] = f.uid;
    o["since"] = to_epoch(f.since);
    o["reason"] = f.reason;
    out.push_back(std::move(o));
  }
  return out;
}

boost::asio::awaitable<Result<TokenListing>> token_listing(Services& sv) {
  auto start = [&](auto deliver) { sv.engine->token_list(std::move(deliver)); };
  co_return co_await await_callback<Result<TokenListing>>(start);
}

std::optional<Reply> need_accessor(const Params& p) {
  auto a = proto::get_string(p, "accessor");
  if (!a || a->empty() || a->size() > 64) return invalid("an \"accessor\" is required");
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

std::optional<Reply> validate_token_issue(const Params& p) {
  if (auto r = admin_params(p, {"owner", "name", "scopes", "ttl"})) return r;
  auto owner = proto::get_string(p, "owner");
  if (!owner || !valid_user_name(*owner)) return invalid("a valid \"owner\" is required");
  auto name = proto::get_string(p, "name");
  if (!name || name->empty() || name->size() > 64 || !printable(*name))
    return invalid("a \"name\" of 1 to 64 printable characters is required");
  auto it = p.find("scopes");
  if (it == p.end() || !it->value().is_array() || it->value().as_array().empty() ||
      it->value().as_array().size() > 32)
    return invalid("\"scopes\" must list 1 to 32 scopes");
  for (const auto& v : it->value().as_array())
    if (!v.is_string() || !tokens::valid_scope(v.as_string()))
      return invalid("a scope is 1 to 64 of a-z 0-9 . _ - (starting with a letter or digit)");
  return std::nullopt;
}

std::optional<Reply> validate_token_list(const Params& p) { return admin_params(p, {"owner"}); }

std::optional<Reply> validate_accessor(const Params& p) {
  if (auto r = admin_params(p, {"accessor"})) return r;
  return need_accessor(p);
}

std::optional<Reply> validate_token_revoke(const Params& p) {
  if (auto r = admin_params(p, {"accessor", "reason"})) return r;
  if (auto r = need_accessor(p)) return r;
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
  const auto& p = r.params;
  auto owner = co_await r.sv.resolver->by_name(param(p, "owner"));
  if (owner.status == Lookup::Status::kError) co_return unavailable("user lookup failed (NSS error)");
  if (!owner.found()) co_return not_found("no such user: " + param(p, "owner"));
  TokenIssueRequest req;
  req.owner_uid = owner.id.uid;
  req.owner = owner.id.name;
  req.name = param(p, "name", 64);
  for (const auto& v : p.at("scopes").as_array()) req.scopes.push_back(std::string(v.as_string()));
  req.by_uid = r.actor.uid;
  req.by = r.actor.name;
  req.ttl = r.sv.config->tokens.default_ttl;
  if (p.contains("ttl")) {
    auto d = parse_duration(param(p, "ttl", 32));
    if (!d || d->count() < 1 || *d > std::chrono::hours(24 * 3660))
      co_return invalid("\"ttl\" must be a duration between 1s and 3660d, such as \"30d\"");
    req.ttl = *d;
  }
  auto start = [&](auto deliver) { r.sv.engine->token_issue(std::move(req), std::move(deliver)); };
  auto res = co_await await_callback<TokenIssueResult>(start);
  if (!res.status) co_return error_reply(res.status.error(), "the token could not be recorded; none was issued");
  json::object out = token_json(res.token);
  out["user"] = res.token.owner;
  out["token"] = res.secret;  // shown once, here
  wipe(res.secret);
  co_return Reply::success(std::move(out));
}

Answer token_list(Request& r) {
  auto l = co_await token_listing(r.sv);
  if (!l) co_return unavailable("token state unavailable");
  const std::string owner = param(r.params, "owner", 512);
  json::array list;
  for (const auto& t : l->tokens)
    if (owner.empty() || t.owner == owner) list.push_back(token_json(t));
  json::object out;
  out["tokens"] = std::move(list);
  out["frozen"] = !l->freezes.empty();
  out["freezes"] = freezes_json(l->freezes);
  co_return Reply::success(std::move(out));
}

Answer token_show(Request& r) {
  auto l = co_await token_listing(r.sv);
  if (!l) co_return unavailable("token state unavailable");
  const std::string acc = param(r.params, "accessor", 64);
  for (const auto& t : l->tokens)
    if (t.accessor == acc) {
      json::object out = token_json(t);
      out["frozen"] = !l->freezes.empty();
      co_return Reply::success(std::move(out));
    }
  co_return not_found("no token " + acc);
}

Answer token_revoke(Request& r) {
  std::string acc = param(r.params, "accessor", 64), reason = param(r.params, "reason", 512);
  auto start = [&](auto deliver) {
    r.sv.engine->token_revoke(std::move(acc), std::move(reason), r.actor.name, std::move(deliver));
  };
  auto res = co_await await_callback<TokenRevokeResult>(start);
  if (!res.status) co_return error_reply(res.status.error(), "the revocation could not be recorded");
  json::object out = token_json(res.token);
  out["changed"] = res.changed;
  co_return Reply::success(std::move(out));
}

}  // namespace methods
}  // namespace vigil
