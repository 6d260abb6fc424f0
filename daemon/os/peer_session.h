// The login session of a peer process: its audit session id
// (/proc/PID/sessionid, set by pam_loginuid at login and inherited by every
// process of that login). An administrator's step-up holds for that uid in
// that session only, as sudo's per-tty timestamp does.
//
// Contract:
//  * login_session(pid) reads the id at accept time, between two reads of
//    the process's start time (/proc/PID/stat, field 22): if the pid was
//    reused by another process in between, or anything is unreadable, or the
//    session is unset (4294967295), the answer is 0: no session, and no
//    step-up is ever kept for it.
//  * Blocking but cheap (three small procfs reads); no allocation beyond them.
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace vigil {

uint32_t login_session(pid_t pid);

}  // namespace vigil
