#include "daemon/rpc/token_http_parse.h"

#include <boost/beast/http/field.hpp>
#include <string.h>

#include <cctype>

#include "daemon/core/tokens.h"

namespace vigil::token_http {
namespace http = boost::beast::http;

std::string bearer(std::string_view h) {
  constexpr std::string_view kScheme = "Bearer ";
  if (h.size() <= kScheme.size() || h.size() > 512) return {};
  for (std::size_t i = 0; i < kScheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(h[i])) != std::tolower(static_cast<unsigned char>(kScheme[i])))
      return {};
  h.remove_prefix(kScheme.size());
  while (!h.empty() && h.front() == ' ') h.remove_prefix(1);
  while (!h.empty() && h.back() == ' ') h.remove_suffix(1);
  return std::string(h);
}

AuthRequest classify(http::verb method, std::string_view target,
                     std::optional<std::string_view> authorization) {
  constexpr std::string_view kAuth = "/auth/";
  AuthRequest r;
  if (method != http::verb::get && method != http::verb::head) {
    r.status = static_cast<unsigned>(http::status::method_not_allowed);
  } else if (target.substr(0, kAuth.size()) == kAuth && tokens::valid_scope(target.substr(kAuth.size()))) {
    r.scope = std::string(target.substr(kAuth.size()));
    if (authorization) r.token = bearer(*authorization);
  } else {
    r.status = static_cast<unsigned>(http::status::not_found);
  }
  return r;
}

AuthRequest classify(const http::request_header<>& req) {
  std::optional<std::string_view> auth;
  if (auto a = req.find(http::field::authorization); a != req.end())
    auth = std::string_view(a->value().data(), a->value().size());
  return classify(req.method(), std::string_view(req.target().data(), req.target().size()), auth);
}

void wipe_authorization(http::request_header<>& req) {
  auto [first, last] = req.equal_range(http::field::authorization);
  for (auto a = first; a != last; ++a)
    explicit_bzero(const_cast<char*>(a->value().data()), a->value().size());
}

}  // namespace vigil::token_http
