// A blocking client for one call on a fresh connection, with one deadline,
// in protocol/message.h's terms (Boost.JSON): vigilctl's and the tests'.
// The transport and its contract are protocol/transport.h's.
// Contract: call() never throws for I/O or protocol faults (they are
// Transport values); the request and reply frames are wiped before it
// returns.
#pragma once

#include "protocol/message.h"
#include "protocol/transport.h"

namespace vigil::proto {

struct CallResult {
  Transport transport = Transport::kIo;
  std::string detail;  // human-readable cause when transport != kOk
  Reply reply;         // valid when transport == kOk
};

CallResult call(const ClientOptions& options, const Call& request);

}  // namespace vigil::proto
