// A blocking client for one call on a fresh connection, with one deadline.
//
// Used by pam_vigil.so (inside sshd, login, sudo...) and by vigilctl.
// Contract:
//  * One call = connect, send one frame, receive one frame, close. The socket
//    is opened with SOCK_CLOEXEC, sent to with MSG_NOSIGNAL, and always closed
//    before call() returns: no descriptor outlives the call.
//  * The whole call obeys one deadline (options.timeout): connect, send and
//    receive together. call() returns within it (plus scheduling noise), even
//    against a server that accepts and never answers.
//  * With require_root_server, the socket file must be owned by uid 0 and the
//    peer's SO_PEERCRED uid must be 0; otherwise the call fails kUntrusted.
//  * Never throws for I/O or protocol faults; they are Transport values.
//  * Thread-safe and fork-safe: no global state.
#pragma once

#include <chrono>
#include <string>

#include "protocol/message.h"

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

struct CallResult {
  Transport transport = Transport::kIo;
  std::string detail;  // human-readable cause when transport != kOk
  Reply reply;         // valid when transport == kOk
};

CallResult call(const ClientOptions& options, const Call& request);

}  // namespace vigil::proto
