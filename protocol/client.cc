#include "protocol/client.h"

#include <string.h>

namespace vigil::proto {

CallResult call(const ClientOptions& options, const Call& request) {
  CallResult r;
  auto frame = encode(request);
  if (!frame) {
    r.detail = frame.error().message;
    return r;
  }
  FrameCall sent = call_frame(options, *frame);
  explicit_bzero(frame->data(), frame->size());
  r.transport = sent.transport;
  r.detail = std::move(sent.detail);
  if (sent.transport != Transport::kOk) return r;
  auto reply = decode_reply(sent.reply);
  if (!reply) {
    r.transport = Transport::kGarbage;
    r.detail = reply.error().message;
    return r;
  }
  r.reply = std::move(*reply);
  return r;
}

}  // namespace vigil::proto
