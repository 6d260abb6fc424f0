#include "daemon/rpc/request.h"

#include <sodium.h>

#include <algorithm>

#include "daemon/os/offload.h"
#include "protocol/names.h"

namespace vigil {
namespace json = boost::json;
using proto::Reply;

Reply invalid(std::string msg) { return Reply::failure(proto::kErrInvalidParameter, std::move(msg)); }
Reply unavailable(std::string msg) { return Reply::failure(proto::kErrUnavailable, std::move(msg)); }
Reply refused(std::string msg) { return Reply::failure(proto::kErrPermissionDenied, std::move(msg)); }
Reply not_found(std::string msg) { return Reply::failure(proto::kErrNotFound, std::move(msg)); }

std::optional<Reply> only_keys(const json::object& p, std::initializer_list<std::string_view> keys,
                               std::string_view also) {
  for (const auto& kv : p) {
    const std::string_view key = kv.key();
    if (!also.empty() && key == also) continue;
    if (std::find(keys.begin(), keys.end(), key) == keys.end())
      return invalid("unknown parameter \"" + std::string(key) + "\"");
  }
  return std::nullopt;
}

std::optional<Reply> admin_params(const json::object& p, std::initializer_list<std::string_view> keys) {
  if (auto r = only_keys(p, keys, "step_up_code")) return r;
  for (const auto& kv : p) {
    if (!kv.value().is_string() && !kv.value().is_bool() && !(kv.key() == "scopes" && kv.value().is_array()))
      return invalid("parameter \"" + std::string(kv.key()) + "\" has the wrong type");
    if (kv.value().is_string() && kv.value().as_string().size() > 512)
      return invalid("parameter \"" + std::string(kv.key()) + "\" is too long (512 bytes at most)");
  }
  return std::nullopt;
}

std::optional<Reply> check_strings(const json::object& p, std::initializer_list<std::string_view> keys,
                                   std::size_t max_len) {
  for (auto k : keys) {
    auto v = proto::get_optional_string(p, k);
    if (!v) return invalid(v.error().message);
    if (*v && (*v)->size() > max_len) return invalid("parameter \"" + std::string(k) + "\" is too long");
  }
  return std::nullopt;
}

std::optional<Reply> need_reason(const json::object& p) {
  auto reason = proto::get_string(p, "reason");
  if (!reason || reason->empty()) return invalid("a \"reason\" is required");
  if (!printable(*reason)) return invalid("the reason must not contain control characters");
  return std::nullopt;
}

std::optional<Reply> need_user(const json::object& p) {
  auto user = proto::get_string(p, "user");
  if (!user || !valid_user_name(*user)) return invalid("a valid \"user\" is required");
  return std::nullopt;
}

std::string param(const json::object& p, std::string_view k, std::size_t max) {
  auto v = proto::get_optional_string(p, k);
  std::string s = v && *v ? **v : std::string();
  if (s.size() > max) s.resize(max);
  return s;
}

bool flag(const json::object& p, std::string_view k) {
  auto it = p.find(k);
  return it != p.end() && it->value().is_bool() && it->value().as_bool();
}

std::string take(const json::object& p, std::string_view k) {
  auto v = proto::get_optional_string(p, k);
  if (!v || !*v || (*v)->size() > 64) return {};
  return std::move(**v);
}

Reply error_reply(const Error& e, std::string when_unavailable) {
  if (e.is_refused()) return refused(e.message);
  if (e.is_not_found()) return not_found(e.message);
  return unavailable(std::move(when_unavailable));
}

bool printable(std::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    const auto u = static_cast<unsigned char>(text[i]);
    if (u < 0x20 || u == 0x7f) return false;
    const auto next = [&](size_t k) { return i + k < text.size() ? static_cast<unsigned char>(text[i + k]) : 0; };
    // C1 controls (U+0080-U+009F: a CSI can drive a terminal) and the
    // bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069).
    if (u == 0xc2 && next(1) >= 0x80 && next(1) <= 0x9f) return false;
    if (u == 0xe2 && next(1) == 0x80 && next(2) >= 0xaa && next(2) <= 0xae) return false;
    if (u == 0xe2 && next(1) == 0x81 && next(2) >= 0xa6 && next(2) <= 0xa9) return false;
  }
  return true;
}

bool valid_user_name(std::string_view name) {
  if (name.empty() || name.size() > 256) return false;
  return std::none_of(name.begin(), name.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

std::string account_key(uid_t uid) { return "uid:" + std::to_string(uid); }

std::string unknown_name_key(const std::array<uint8_t, 32>& key, std::string_view name) {
  unsigned char h[16];
  crypto_generichash(h, sizeof(h), reinterpret_cast<const unsigned char*>(name.data()), name.size(),
                     key.data(), key.size());
  char hex[sizeof(h) * 2 + 1];
  sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
  return std::string("name:") + hex;
}

bool is_admin(const Config& cfg, const Identity& id) {
  for (const auto& g : id.groups)
    for (const auto& a : cfg.roles.admin_groups)
      if (g == a) return true;
  return false;
}

TimePoint wall_now() { return SystemClock().now(); }

bool totp_required(const Config& cfg, const Identity& id) {
  switch (cfg.totp.require) {
    case TotpRequire::kNone: return false;
    case TotpRequire::kAll: return true;
    case TotpRequire::kAdmins: return is_admin(cfg, id);
  }
  return true;
}

boost::asio::awaitable<Result<Identity>> named_account(Services& sv, const json::object& p) {
  auto l = co_await sv.resolver->by_name(param(p, "user"));
  if (l.status == Lookup::Status::kError) co_return Error::Nss("user lookup failed (NSS error)");
  if (!l.found()) co_return Error::NotFound("no such user: " + param(p, "user"));
  co_return l.id;
}

Reply lookup_error_reply(const Error& e) {
  return e.is_not_found() ? not_found(e.message) : unavailable(e.message);
}

boost::asio::awaitable<Result<AccountView>> account_view(Services& sv, const Identity& id) {
  std::optional<int64_t> uid = id.uid;
  auto start = [&](auto deliver) { sv.engine->get(account_key(id.uid), uid, std::move(deliver)); };
  co_return co_await await_callback<Result<AccountView>>(start);
}

}  // namespace vigil
