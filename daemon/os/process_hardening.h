// Process-wide hardening that vigild applies first thing, before it reads a
// configuration, a key or a secret.
//
// Contract:
//  * harden_process():
//      - no core dump: RLIMIT_CORE 0 (soft and hard, so it cannot be raised
//        again without privilege);
//      - not dumpable (PR_SET_DUMPABLE 0): no core even if the limit were
//        raised, and /proc/PID/mem, environ and the like, and ptrace, are
//        closed to processes without CAP_SYS_PTRACE, root's included;
//      - descriptors 0, 1 and 2 open (/dev/null for any that is closed), so
//        that no socket or file vigild opens later becomes a child's standard
//        stream.
//    The first failure is returned; vigild refuses to start on it.
#pragma once

#include "protocol/result.h"

namespace vigil {

Status harden_process();

}  // namespace vigil
