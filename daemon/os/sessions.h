// Ends a blocked user's sessions through systemd-logind (TerminateUser).
//
// Contract: runs on a detached thread (a D-Bus call may block); never throws;
// logs the outcome. Where logind is absent (no system bus, or no login1),
// it logs that at debug level and does nothing.
#pragma once

#include <cstdint>
#include <string>

namespace vigil {

void end_sessions_async(int64_t uid, std::string name);

}  // namespace vigil
