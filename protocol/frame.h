// Framing of the wire (protocol/message.h): a frame is one JSON object
// followed by a NUL byte, at most kMaxFrame bytes, NUL included, on both
// sides. No JSON here: pam_vigil.so frames its calls with this and its own
// small codec (protocol/json_lite.h), without Boost.JSON.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace vigil::proto {

inline constexpr std::size_t kMaxFrame = 64 * 1024;

// Splits a byte stream into frames. Feed it what arrives; take frames out.
// After an oversized frame or a NUL-free overflow the reader is poisoned:
// every later next() reports the error, so the caller closes the connection.
class FrameReader {
 public:
  enum class State { kNeedMore, kFrame, kTooLarge };

  FrameReader() = default;
  FrameReader(const FrameReader&) = delete;
  FrameReader& operator=(const FrameReader&) = delete;
  // Frames carry codes: no copy of their bytes outlives the reader.
  ~FrameReader();

  // Appends bytes; cheap, never fails. A growing buffer is moved by hand so
  // that the old one is wiped, never left to the allocator as it was.
  void feed(std::string_view bytes);
  // Extracts the next complete frame into *frame (without its NUL).
  State next(std::string* frame);
  // Bytes held that are not yet a complete frame.
  std::size_t pending() const { return buf_.size() - pos_; }

 private:
  std::string buf_;
  std::size_t pos_ = 0;
  bool poisoned_ = false;
};

}  // namespace vigil::proto
