#include "protocol/json_lite.h"

#include <string.h>

#include "protocol/utf8.h"

namespace vigil::proto::lite {

void append_json_string(std::string& out, std::string_view s) {
  static const char hex[] = "0123456789abcdef";
  out.push_back('"');
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (c < 0x20) {
      out += "\\u00";
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    } else {
      out.push_back(ch);
    }
  }
  out.push_back('"');
}

JsonValue::~JsonValue() {
  if (!string.empty()) explicit_bzero(string.data(), string.size());
}

const JsonValue* JsonObject::find(std::string_view key) const {
  for (const auto& [k, v] : members)
    if (k == key) return &v;
  return nullptr;
}

namespace {

// Recursive descent over the text; each parse_* leaves pos_ after what it read.
class Parser {
 public:
  explicit Parser(std::string_view text) : s_(text) {}

  std::optional<JsonObject> document(std::string* error) {
    skip_space();
    std::optional<JsonObject> out;
    if (peek() != '{') {
      fail("not a JSON object");
    } else {
      JsonValue v;
      if (value(&v, 1)) {
        skip_space();
        if (pos_ != s_.size()) fail("bytes after the JSON value");
        else out = std::move(*v.object);
      }
    }
    if (!error_.empty()) {
      if (error) *error = error_ + " at byte " + std::to_string(pos_);
      return std::nullopt;
    }
    return out;
  }

 private:
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  bool fail(const char* what) {
    if (error_.empty()) error_ = what;
    return false;
  }
  void skip_space() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
  }
  bool literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return fail("invalid literal");
    pos_ += word.size();
    return true;
  }

  bool value(JsonValue* v, int depth) {
    skip_space();
    switch (peek()) {
      case '{': return object(v, depth);
      case '[': return array(v, depth);
      case '"': v->kind = JsonValue::Kind::kString; return string(&v->string);
      case 't': v->kind = JsonValue::Kind::kBool; v->boolean = true; return literal("true");
      case 'f': v->kind = JsonValue::Kind::kBool; v->boolean = false; return literal("false");
      case 'n': v->kind = JsonValue::Kind::kNull; return literal("null");
      default: return number(v);
    }
  }

  bool object(JsonValue* v, int depth) {
    if (depth > kMaxDepth) return fail("too deeply nested");
    ++pos_;  // '{'
    v->kind = JsonValue::Kind::kObject;
    v->object = std::make_unique<JsonObject>();
    skip_space();
    if (peek() == '}') {
      ++pos_;
      return true;
    }
    for (;;) {
      skip_space();
      if (peek() != '"') return fail("expected a key");
      std::string key;
      if (!string(&key)) return false;
      skip_space();
      if (peek() != ':') return fail("expected ':'");
      ++pos_;
      JsonValue member;
      if (!value(&member, depth + 1)) return false;
      // A key given twice keeps its last value, as Boost.JSON's parser does.
      bool replaced = false;
      for (auto& [k, existing] : v->object->members) {
        if (k == key) {
          explicit_bzero(existing.string.data(), existing.string.size());
          existing = std::move(member);
          replaced = true;
          break;
        }
      }
      if (!replaced) v->object->members.emplace_back(std::move(key), std::move(member));
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == '}') {
        ++pos_;
        return true;
      }
      return fail("expected ',' or '}'");
    }
  }

  bool array(JsonValue* v, int depth) {
    if (depth > kMaxDepth) return fail("too deeply nested");
    ++pos_;  // '['
    v->kind = JsonValue::Kind::kOther;
    skip_space();
    if (peek() == ']') {
      ++pos_;
      return true;
    }
    for (;;) {
      JsonValue element;  // read to check it, then dropped
      if (!value(&element, depth + 1)) return false;
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == ']') {
        ++pos_;
        return true;
      }
      return fail("expected ',' or ']'");
    }
  }

  static bool digit(char c) { return c >= '0' && c <= '9'; }

  bool number(JsonValue* v) {
    const std::size_t start = pos_;
    bool negative = false;
    if (peek() == '-') {
      negative = true;
      ++pos_;
    }
    if (!digit(peek())) return fail("invalid value");
    // Digits as a negative magnitude, so that INT64_MIN fits.
    bool fits = true;
    std::int64_t n = 0;
    if (peek() == '0') {
      ++pos_;
    } else {
      while (digit(peek())) {
        const int d = peek() - '0';
        if (n < (INT64_MIN + d) / 10) fits = false;
        else n = n * 10 - d;
        ++pos_;
      }
    }
    bool integral = true;
    if (peek() == '.') {
      integral = false;
      ++pos_;
      if (!digit(peek())) return fail("invalid number");
      while (digit(peek())) ++pos_;
    }
    if (peek() == 'e' || peek() == 'E') {
      integral = false;
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (!digit(peek())) return fail("invalid number");
      while (digit(peek())) ++pos_;
    }
    if (integral && fits && (negative || n != INT64_MIN)) {
      v->kind = JsonValue::Kind::kInt;
      v->integer = negative ? n : -n;
    } else {
      v->kind = JsonValue::Kind::kOther;
    }
    return pos_ > start;
  }

  static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  bool hex4(std::uint32_t* out) {
    if (pos_ + 4 > s_.size()) return fail("truncated \\u escape");
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const int d = hex_digit(s_[pos_ + i]);
      if (d < 0) return fail("invalid \\u escape");
      v = v * 16 + static_cast<std::uint32_t>(d);
    }
    pos_ += 4;
    *out = v;
    return true;
  }
  static void append_utf8(std::string* out, std::uint32_t cp) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xe0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else {
      out->push_back(static_cast<char>(0xf0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    }
  }

  bool string(std::string* out) {
    ++pos_;  // '"'
    for (;;) {
      if (pos_ >= s_.size()) return fail("unterminated string");
      const auto c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c < 0x20) return fail("control character in a string");
      if (c == '\\') {
        ++pos_;
        const char e = peek();
        ++pos_;
        switch (e) {
          case '"': out->push_back('"'); break;
          case '\\': out->push_back('\\'); break;
          case '/': out->push_back('/'); break;
          case 'b': out->push_back('\b'); break;
          case 'f': out->push_back('\f'); break;
          case 'n': out->push_back('\n'); break;
          case 'r': out->push_back('\r'); break;
          case 't': out->push_back('\t'); break;
          case 'u': {
            std::uint32_t cp = 0;
            if (!hex4(&cp)) return false;
            if (cp >= 0xdc00 && cp <= 0xdfff) return fail("lone low surrogate");
            if (cp >= 0xd800 && cp <= 0xdbff) {
              std::uint32_t low = 0;
              if (s_.substr(pos_, 2) != "\\u") return fail("lone high surrogate");
              pos_ += 2;
              if (!hex4(&low)) return false;
              if (low < 0xdc00 || low > 0xdfff) return fail("lone high surrogate");
              cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
            }
            append_utf8(out, cp);
            break;
          }
          default: return fail("invalid escape");
        }
        continue;
      }
      std::uint32_t cp = 0;
      const std::size_t len = utf8_sequence(s_, pos_, &cp);
      if (len == 0) return fail("invalid UTF-8");
      out->append(s_.data() + pos_, len);
      pos_ += len;
    }
  }

  std::string_view s_;
  std::size_t pos_ = 0;
  std::string error_;
};

}  // namespace

std::optional<JsonObject> parse_json_object(std::string_view text, std::string* error) {
  return Parser(text).document(error);
}

}  // namespace vigil::proto::lite
