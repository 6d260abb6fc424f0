// libFuzzer target: the wire format (protocol/message.h).
//
// The input is a byte stream as a peer would send it. It goes through
// FrameReader three ways: all at once, in chunks whose sizes are taken from
// the input's tail (FuzzedDataProvider reads integers from the end, so a
// plain frame stays readable at the front), and repeated (a few rounds as
// it is, then without its NULs past the 64 KiB cap). Every frame is decoded as a call and as a reply, and what decodes is
// encoded and decoded again. The raw input is also decoded as one frame.
//
// Checked besides the sanitizers: the chunked reader yields a prefix of the
// frames the one-shot reader yields; no frame reaches kMaxFrame; a decoded
// message survives encode/decode unchanged; pam_vigil.so's own reader
// (protocol/api_lite.h) accepts exactly the replies message.h accepts, and
// reads an Auth.Report reply from them exactly as api_codec.h does.
//
// dispatch.cc's request validators live in an anonymous namespace and are
// not reachable from here.
#include <fuzzer/FuzzedDataProvider.h>

#include <boost/json/serialize.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/api.h"
#include "protocol/api_lite.h"
#include "protocol/message.h"

namespace {

using vigil::proto::FrameReader;
using vigil::proto::kMaxFrame;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_protocol: invariant broken: %s\n", what);
  std::abort();
}

void exercise_params(const boost::json::object& p) {
  for (const char* key : {"user", "token", "scope", "code", "reason", "service", "rhost", "tty"}) {
    (void)vigil::proto::get_string(p, key);
    (void)vigil::proto::get_optional_string(p, key);
  }
}

// The module's reading of a reply against vigilctl's.
void compare_lite(std::string_view frame) {
  auto theirs = vigil::proto::decode_reply(frame);
  auto mine = vigil::proto::api::lite::decode_reply(frame);
  if (bool(theirs) != bool(mine)) fail("api_lite and message.h disagree on a reply");
  if (!theirs) return;
  if (theirs->error != mine->error) fail("api_lite reads another error name");
  auto t = vigil::proto::api::AuthReportReply::from_json(theirs->params);
  auto m = vigil::proto::api::lite::decode_params<vigil::proto::api::AuthReportReply>(mine->params);
  if (bool(t) != bool(m)) fail("api_lite and api_codec disagree on a reply's parameters");
  if (t && (t->verdict != m->verdict || t->prompt != m->prompt || t->warning != m->warning))
    fail("api_lite reads other values");
}

void decode_frame(std::string_view frame) {
  if (frame.size() >= kMaxFrame) fail("a frame reached kMaxFrame");
  compare_lite(frame);
  if (auto call = vigil::proto::decode_call(frame)) {
    exercise_params(call->params);
    auto enc = vigil::proto::encode(*call);
    if (enc) {
      if (enc->empty() || enc->back() != '\0') fail("encoded call lacks its NUL");
      auto again = vigil::proto::decode_call(std::string_view(*enc).substr(0, enc->size() - 1));
      if (!again) fail("an encoded call does not decode");
      if (again->method != call->method || again->params != call->params) fail("call round trip differs");
    }
  }
  if (auto reply = vigil::proto::decode_reply(frame)) {
    (void)reply->message();
    exercise_params(reply->params);
    auto enc = vigil::proto::encode(*reply);
    if (enc) {
      auto again = vigil::proto::decode_reply(std::string_view(*enc).substr(0, enc->size() - 1));
      if (!again) fail("an encoded reply does not decode");
      if (again->error != reply->error || again->params != reply->params) fail("reply round trip differs");
    }
  }
}

// Takes every frame now available; false once the reader is poisoned.
bool drain(FrameReader& r, std::vector<std::string>* frames, bool decode) {
  std::string frame;
  for (;;) {
    switch (r.next(&frame)) {
      case FrameReader::State::kNeedMore: return true;
      case FrameReader::State::kTooLarge: return false;
      case FrameReader::State::kFrame:
        if (frame.size() >= kMaxFrame) fail("a frame reached kMaxFrame");
        if (frame.find('\0') != std::string::npos) fail("a frame holds a NUL");
        if (decode) decode_frame(frame);
        if (frames) frames->push_back(frame);
        break;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view all(reinterpret_cast<const char*>(data), size);

  // The raw input as one frame.
  (void)vigil::proto::decode_call(all);
  if (all.size() < kMaxFrame) compare_lite(all);

  // 1. All at once.
  std::vector<std::string> whole;
  bool whole_ok;
  {
    FrameReader r;
    r.feed(all);
    whole_ok = drain(r, &whole, true);
  }

  // 2. In chunks sized by the input's tail.
  {
    FuzzedDataProvider fdp(data, size);
    FrameReader r;
    std::vector<std::string> chunked;
    bool ok = true;
    while (ok && fdp.remaining_bytes() > 0) {
      const auto n = fdp.ConsumeIntegralInRange<std::size_t>(1, 512);
      std::string chunk = fdp.ConsumeBytesAsString(n);
      r.feed(chunk);
      ok = drain(r, &chunked, false);
    }
    if (chunked.size() > whole.size()) fail("chunked reader yields more frames");
    for (std::size_t i = 0; i < chunked.size(); ++i)
      if (chunked[i] != whole[i]) fail("chunked reader yields another frame");
    if (!ok && whole_ok) fail("chunked reader poisoned, one-shot reader not");
  }

  // 3. The input repeated: growth and compaction (a few rounds), then,
  // with its NULs made spaces, past the cap, which must poison the reader.
  if (size > 0) {
    std::string block;
    while (block.size() < 1024) block.append(all);
    {
      FrameReader r;
      bool ok = true;
      for (int round = 0; ok && round < 3; ++round) {
        r.feed(block);
        ok = drain(r, nullptr, false);
        if (r.pending() >= kMaxFrame) fail("reader holds kMaxFrame bytes pending");
      }
    }
    while (block.size() < 16384) block.append(all);
    for (char& c : block)
      if (c == '\0') c = ' ';
    FrameReader r;
    std::size_t fed = 0;
    bool ok = true;
    while (ok && fed <= kMaxFrame) {
      r.feed(block);
      fed += block.size();
      ok = drain(r, nullptr, false);
    }
    if (ok) fail("a NUL-free stream past the cap is not refused");
    if (r.pending() != 0) fail("a poisoned reader holds bytes");
    r.feed(block);
    if (r.pending() != 0 || drain(r, nullptr, false)) fail("a poisoned reader takes bytes");
  }
  return 0;
}
