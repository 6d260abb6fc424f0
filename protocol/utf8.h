// Strict UTF-8 (RFC 3629), shared by the module (text it puts on the wire)
// and vigilctl (text it puts on a terminal).
//
// utf8_sequence(s, i, &cp): the length (1 to 4) of the well-formed sequence
// that starts at s[i], with its code point in cp; 0 when the bytes there are
// not one: a stray continuation byte, a truncated sequence, an overlong
// encoding, a surrogate (U+D800-U+DFFF) or a code point above U+10FFFF.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace vigil::proto {

inline std::size_t utf8_sequence(std::string_view s, std::size_t i, uint32_t* cp) {
  const auto c = static_cast<unsigned char>(s[i]);
  const std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
  if (len == 0 || i + len > s.size()) return 0;
  uint32_t v = len == 1 ? c : len == 2 ? (c & 0x1fu) : len == 3 ? (c & 0x0fu) : (c & 0x07u);
  for (std::size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xc0) != 0x80) return 0;
    v = (v << 6) | (b & 0x3fu);
  }
  static constexpr uint32_t kLeast[] = {0, 0, 0x80, 0x800, 0x10000};
  if (v < kLeast[len] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
  *cp = v;
  return len;
}

// C0 and C1 controls and DEL.
inline bool is_control(uint32_t cp) { return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f); }

}  // namespace vigil::proto
