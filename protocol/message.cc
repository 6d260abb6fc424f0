#include "protocol/message.h"

#include <string.h>

#include <algorithm>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>

#include "protocol/names.h"

namespace vigil::proto {
namespace json = boost::json;

namespace {

Error bad(std::string msg) { return Error::InvalidRequest(std::move(msg)); }

Result<json::object> parse_object(std::string_view frame) {
  if (frame.size() + 1 > kMaxFrame) return bad("frame exceeds 64 KiB");
  boost::system::error_code ec;
  json::parse_options opt;
  opt.max_depth = 16;
  json::value v = json::parse(frame, ec, {}, opt);
  if (ec) return bad("malformed JSON: " + ec.message());
  if (!v.is_object()) return bad("frame is not a JSON object");
  return std::move(v.as_object());
}

Result<std::string> finish(const json::object& o) {
  std::string s = json::serialize(o);
  if (s.size() + 1 > kMaxFrame) return Error::InvalidRequest("frame exceeds 64 KiB");
  s.push_back('\0');
  return s;
}

}  // namespace

Reply Reply::failure(std::string name, std::string message) {
  Reply r;
  r.error = std::move(name);
  r.params["message"] = message;
  return r;
}

std::string Reply::message() const {
  if (auto it = params.find("message"); it != params.end() && it->value().is_string())
    return std::string(it->value().as_string());
  return {};
}

Result<std::string> encode(const Call& call) {
  json::object o;
  o["method"] = call.method;
  o["parameters"] = call.params;
  return finish(o);
}

Result<std::string> encode(const Reply& reply) {
  json::object o;
  if (!reply.ok()) o["error"] = reply.error;
  o["parameters"] = reply.params;
  return finish(o);
}

Result<Call> decode_call(std::string_view frame) {
  auto o = parse_object(frame);
  if (!o) return o.error();
  Call call;
  auto m = o->find("method");
  if (m == o->end() || !m->value().is_string()) return bad("call has no string \"method\"");
  call.method = std::string(m->value().as_string());
  if (call.method.empty() || call.method.size() > 128) return bad("method name length");
  if (auto p = o->find("parameters"); p != o->end()) {
    if (!p->value().is_object()) return bad("\"parameters\" is not an object");
    call.params = std::move(p->value().as_object());
  }
  for (const auto& kv : *o) {
    if (kv.key() != "method" && kv.key() != "parameters")
      return bad("unexpected member in call");
  }
  return call;
}

Result<Reply> decode_reply(std::string_view frame) {
  auto o = parse_object(frame);
  if (!o) return o.error();
  Reply r;
  if (auto e = o->find("error"); e != o->end()) {
    if (!e->value().is_string() || e->value().as_string().empty())
      return bad("\"error\" is not a non-empty string");
    r.error = std::string(e->value().as_string());
  }
  auto p = o->find("parameters");
  if (p == o->end() || !p->value().is_object()) return bad("reply has no \"parameters\" object");
  r.params = std::move(p->value().as_object());
  return r;
}


Result<std::string> get_string(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end())
    return Error::InvalidParameter("missing parameter \"" + std::string(key) + "\"");
  if (!it->value().is_string())
    return Error::InvalidParameter("parameter \"" + std::string(key) + "\" must be a string");
  return std::string(it->value().as_string());
}

Result<std::optional<std::string>> get_optional_string(const json::object& o,
                                                       std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return std::optional<std::string>{};
  if (!it->value().is_string())
    return Error::InvalidParameter("parameter \"" + std::string(key) + "\" must be a string");
  return std::optional<std::string>(std::string(it->value().as_string()));
}

}  // namespace vigil::proto

namespace vigil {

const char* Error::wire_name() const {
  switch (code) {
    case Code::kInvalidRequest: return proto::kErrInvalidRequest;
    case Code::kInvalidParameter: return proto::kErrInvalidParameter;
    case Code::kMethodNotFound: return proto::kErrMethodNotFound;
    case Code::kPermissionDenied:
    case Code::kRefused: return proto::kErrPermissionDenied;
    case Code::kNotFound: return proto::kErrNotFound;
    case Code::kStepUpRequired: return proto::kErrStepUpRequired;
    case Code::kInternal: return proto::kErrInternal;
    case Code::kUnavailable:
    case Code::kStore:
    case Code::kState:
    case Code::kLocked:
    case Code::kConfig:
    case Code::kSecrets:
    case Code::kNss:
    case Code::kSocket:
    case Code::kSpawn:
    case Code::kHardening: return proto::kErrUnavailable;
  }
  return proto::kErrInternal;
}

}  // namespace vigil
