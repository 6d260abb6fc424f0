// Facts about a login that the module and the daemon must agree on.
#pragma once

#include <algorithm>
#include <string_view>

namespace vigil::proto {

// A local console login: no rhost, and a tty of "console" or "ttyN" (with or
// without "/dev/"). Such logins are exempt from locks and from the fail mode
// unless [lockout] console_exempt = false.
inline bool is_console_login(std::string_view rhost, std::string_view tty) {
  if (!rhost.empty()) return false;
  if (tty.starts_with("/dev/")) tty.remove_prefix(5);
  if (tty == "console") return true;
  if (!tty.starts_with("tty") || tty.size() < 4) return false;
  return std::all_of(tty.begin() + 3, tty.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace vigil::proto
