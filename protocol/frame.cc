#include "protocol/frame.h"

#include <string.h>

#include <algorithm>

namespace vigil::proto {

FrameReader::~FrameReader() { explicit_bzero(buf_.data(), buf_.capacity()); }

void FrameReader::feed(std::string_view bytes) {
  if (poisoned_) return;
  // Compact once the consumed prefix dominates, so memory stays bounded.
  if (pos_ > 0 && pos_ >= buf_.size() / 2) {
    const std::size_t old = buf_.size();
    buf_.erase(0, pos_);
    explicit_bzero(buf_.data() + buf_.size(), old - buf_.size());
    pos_ = 0;
  }
  if (buf_.size() + bytes.size() > buf_.capacity()) {
    std::string bigger;
    bigger.reserve(std::max(buf_.capacity() * 2, buf_.size() + bytes.size()));
    bigger.append(buf_);
    explicit_bzero(buf_.data(), buf_.capacity());
    buf_.swap(bigger);
  }
  buf_.append(bytes);
}

FrameReader::State FrameReader::next(std::string* frame) {
  if (poisoned_) return State::kTooLarge;
  auto nul = buf_.find('\0', pos_);
  if (nul == std::string::npos) {
    if (pending() >= kMaxFrame) {
      poisoned_ = true;
      explicit_bzero(buf_.data(), buf_.capacity());
      buf_.clear();
      pos_ = 0;
      return State::kTooLarge;
    }
    return State::kNeedMore;
  }
  if (nul - pos_ + 1 > kMaxFrame) {
    poisoned_ = true;
    explicit_bzero(buf_.data(), buf_.capacity());
    buf_.clear();
    pos_ = 0;
    return State::kTooLarge;
  }
  frame->assign(buf_, pos_, nul - pos_);
  // The consumed bytes may hold a code: do not leave them in the buffer.
  std::fill(buf_.begin() + static_cast<std::ptrdiff_t>(pos_),
            buf_.begin() + static_cast<std::ptrdiff_t>(nul + 1), '\0');
  pos_ = nul + 1;
  return State::kFrame;
}

}  // namespace vigil::proto
