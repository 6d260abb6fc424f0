// How vigilctl reads vigild's answers and shows them. See output.h.
#include "ctl/output.h"

#include <boost/json/serialize.hpp>

#include <cstdio>
#include <ctime>
#include <iostream>

#include "ctl/client.h"
#include "protocol/utf8.h"

namespace vigil::ctl {

std::string terminal_safe(std::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size();) {
    uint32_t cp = 0;
    const size_t len = proto::utf8_sequence(in, i, &cp);
    const bool bidi = (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
    if (len > 0 && !proto::is_control(cp) && !bidi) out.append(in.substr(i, len));
    else out.push_back('?');
    i += len > 0 ? len : 1;
  }
  return out;
}

int64_t num(const json::object& o, const char* k) {
  auto it = o.find(k);
  if (it == o.end()) return 0;
  if (it->value().is_int64()) return it->value().as_int64();
  if (it->value().is_uint64()) return static_cast<int64_t>(it->value().as_uint64());
  return 0;
}

bool flag(const json::object& o, const char* k) {
  auto it = o.find(k);
  return it != o.end() && it->value().is_bool() && it->value().as_bool();
}

std::string str(const json::object& o, const char* k) {
  auto it = o.find(k);
  return it != o.end() ? text(it->value()) : std::string();
}

std::string text(const json::value& v) {
  return v.is_string() ? terminal_safe(v.as_string()) : std::string();
}

std::string when(int64_t epoch) {
  if (epoch <= 0) return "never";
  std::time_t t = static_cast<std::time_t>(epoch);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %Z", &tm);
  return buf;
}

std::string left(int64_t until) {
  int64_t s = until - static_cast<int64_t>(std::time(nullptr));
  if (s < 0) s = 0;
  char buf[64];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%lldh %02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
  else std::snprintf(buf, sizeof buf, "%lldm %02llds", (long long)(s / 60), (long long)(s % 60));
  return buf;
}

std::string state_text(const json::object& a) {
  if (flag(a, "blocked")) return "BLOCKED";
  if (flag(a, "locked")) return "locked until " + when(num(a, "locked_until")) + " (" + left(num(a, "locked_until")) + " left)";
  return "not locked";
}

void print_json(const json::object& o) { std::cout << json::serialize(o) << "\n"; }

std::string plain_text(const json::value& v) {
  switch (v.kind()) {
    case json::kind::string: return terminal_safe(v.get_string());
    case json::kind::bool_: return v.get_bool() ? "yes" : "no";
    case json::kind::null: return "";
    case json::kind::array: {
      std::string out;
      for (const auto& e : v.get_array()) out += (out.empty() ? "" : ", ") + plain_text(e);
      return out;
    }
    case json::kind::object: {
      std::string out;
      for (const auto& kv : v.get_object()) {
        std::string key = terminal_safe(kv.key());
        for (char& c : key)
          if (c == '_') c = ' ';
        out += (out.empty() ? "" : "; ") + key + ": " + plain_text(kv.value());
      }
      return out;
    }
    default: return json::serialize(v);  // a number
  }
}

int unreadable(std::string_view why) {
  record_failure({kExitError, "vigilctl.MalformedReply", terminal_safe(why)});
  std::cerr << "vigilctl: " << terminal_safe(why) << "\n";
  return kExitError;
}

}  // namespace vigil::ctl
