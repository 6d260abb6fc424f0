// vigild --break-glass USER --reason TEXT: the offline, console-only way to
// lift a block when no administrator is left to verify (vigild(8),
// BREAK-GLASS).
//
// Contract:
//  * Runs as root, never from an SSH session, and only while vigild is
//    stopped: it takes the state directory's lock and refuses while a
//    running daemon holds it.
//  * Does what an unblock does (Engine::recover), expires the password per
//    [recovery] expire_password, and writes a history record with a full
//    sync; the daemon reports that record loudly at its next start.
//  * Prints what it did; returns the process exit status (0 done or nothing
//    to do, 1 refused or failed).
#pragma once

#include <string>

#include "daemon/core/config.h"

namespace vigil {

int break_glass(const Config& cfg, const std::string& user, const std::string& reason);

}  // namespace vigil
