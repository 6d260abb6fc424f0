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

// The same text with every line that is only a comment (optional blanks,
// then '#') made empty, its newline kept: what pam_vigil.so hands to toml++.
// The shipped vigil.conf is mostly comments (about 18 KB, 76 lines of
// settings), and toml++ reads comments byte by byte: about 300 µs per parse,
// which every sshd, sudo or cron process pays once, more than all of
// pam_faillock's cost per login. Blanking them cannot change what the file
// means or whether it parses, provided config_text_problem() has passed
// (a comment then holds only printable ASCII and tabs, all allowed in a
// TOML comment):
//  * outside a multi-line string, a line whose first non-blank byte is '#'
//    is a comment (single-line strings and inline tables cannot span lines;
//    comments are allowed between the lines of an array);
//  * so a text with a multi-line string delimiter (""" or ''') is returned
//    unchanged, and so is one with a carriage return (a lone CR is an error
//    in a comment, which blanking would hide);
//  * line numbers stay the same, so parse errors still name the right line.
inline std::string without_comment_lines(std::string_view text) {
  if (text.find("\"\"\"") != std::string_view::npos || text.find("'''") != std::string_view::npos ||
      text.find('\r') != std::string_view::npos)
    return std::string(text);
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    size_t stop = end == std::string_view::npos ? text.size() : end;
    size_t first = text.find_first_not_of(" \t", pos);
    bool comment = first != std::string_view::npos && first < stop && text[first] == '#';
    if (!comment) out.append(text, pos, stop - pos);
    if (end == std::string_view::npos) break;
    out.push_back('\n');
    pos = end + 1;
  }
  return out;
}

}  // namespace vigil
