#include "protocol/wipe.h"

#include <string.h>

namespace vigil {

void wipe_fields(boost::json::object& o, std::span<const std::string_view> names) {
  auto wipe_string = [](boost::json::value& v) {
    if (!v.is_string()) return;
    auto& s = v.as_string();
    explicit_bzero(s.data(), s.size());
  };
  for (auto name : names) {
    if (name.empty()) continue;
    auto it = o.find(name);
    if (it == o.end()) continue;
    wipe_string(it->value());
    if (it->value().is_array())
      for (auto& el : it->value().as_array()) wipe_string(el);
  }
}

}  // namespace vigil
