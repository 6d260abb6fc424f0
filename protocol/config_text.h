// The check vigil.conf's text passes before anything parses it, shared by
// pam_vigil.so (pam_module/options.cc) and vigild/vigilctl (daemon/core/config.cc).
//
// Contract:
//  * vigil.conf is plain ASCII: printable characters, tab, newline and
//    carriage return. Anything else is refused with its line and column.
//  * Why: toml++ 3.3 (Debian 12) reaches undefined behaviour on some
//    non-ASCII characters (its Unicode tables, found by tests/fuzz with
//    U+FEFC), and control characters are never meant in this file. Every key
//    and value vigil reads is ASCII: names, paths, durations, commands.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace vigil {

// nullopt when the text may be parsed; otherwise "line L, column C: ...".
inline std::optional<std::string> config_text_problem(std::string_view text) {
  int line = 1, column = 1;
  for (unsigned char c : text) {
    if (c == '\n') {
      ++line;
      column = 1;
      continue;
    }
    if (c >= 0x80 || (c < 0x20 && c != '\t' && c != '\r') || c == 0x7f) {
      static const char hex[] = "0123456789abcdef";
      std::string byte = "0x";
      byte += hex[c >> 4];
      byte += hex[c & 15];
      return "line " + std::to_string(line) + ", column " + std::to_string(column) + ": byte " + byte +
             (c >= 0x80 ? " is not ASCII" : " is a control character") +
             "; vigil.conf must be plain ASCII";
    }
    ++column;
  }
  return std::nullopt;
}

}  // namespace vigil
