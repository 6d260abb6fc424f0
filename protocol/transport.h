// One call's transport: a fresh connection, one frame out, one frame back,
// with one deadline. No JSON: pam_vigil.so encodes its frames with
// protocol/json_lite.h, vigilctl with protocol/message.h (client.h).
//
// Contract:
//  * One call = connect, send one frame, half-close (shutdown SHUT_WR: the
//    server learns there is no second request), receive one frame, close.
//    The socket is opened with SOCK_CLOEXEC, sent to with MSG_NOSIGNAL, and
//    always closed before call_frame() returns: no descriptor outlives the
//    call.
//  * The whole call obeys one deadline (options.timeout): connect, send and
//    receive together. call_frame() returns within it (plus scheduling
//    noise), even against a server that accepts and never answers.
//  * With require_root_server, the socket file must be owned by uid 0 and the
//    peer's SO_PEERCRED uid must be 0; otherwise the call fails kUntrusted.
//  * Never throws for I/O or protocol faults; they are Transport values.
//  * The reply frame may carry secrets: the caller wipes it (FrameCall's
//    destructor does). Its own buffers are wiped before it returns.
//  * Thread-safe and fork-safe: no global state.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace vigil::proto {

enum class Transport {
  kOk,
  kAbsent,     // socket file missing, or connection refused: no daemon
  kUntrusted,  // socket or peer not owned by root
  kTimeout,    // deadline passed
  kGarbage,    // malformed, oversized or truncated reply; early close
  kIo,         // any other system error
};

const char* transport_name(Transport t);

struct ClientOptions {
  std::string socket_path;
  std::chrono::milliseconds timeout{2000};
  bool require_root_server = true;
};

struct FrameCall {
  Transport transport = Transport::kIo;
  std::string detail;  // human-readable cause when transport != kOk
  std::string reply;   // the reply frame without its NUL, when kOk

  FrameCall() = default;
  FrameCall(const FrameCall&) = delete;
  FrameCall& operator=(const FrameCall&) = delete;
  FrameCall(FrameCall&&) = default;
  FrameCall& operator=(FrameCall&&) = default;
  ~FrameCall();
};

// `frame`: one whole request frame, its NUL included.
FrameCall call_frame(const ClientOptions& options, std::string_view frame);

}  // namespace vigil::proto
