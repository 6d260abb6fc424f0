// Private to the engine: one batch's context (the engine's .cc files).
#pragma once

#include "daemon/engine/engine.h"

namespace vigil {

struct Engine::Txn {
  TimePoint now;
  const LockoutConfig& cfg;
  const TotpConfig& totp;
  const DevicesConfig& devices;
  const BlockConfig& block;
  const ThrottleConfig& throttle;
  bool full_sync = false;  // commit this batch with a full sync
  std::vector<std::function<void(const Status&)>> after_commit;  // answers that wait for the commit
  std::vector<std::pair<int64_t, std::string>> blocked;          // newly blocked accounts
};

}  // namespace vigil
