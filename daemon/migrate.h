// vigild --migrate-to URL [--check]: moves this host's SQLite state into the
// fleet's database (vigild(8), FLEET, "Migration").
//
// Contract:
//  * Runs with vigild stopped: it holds the state directory's lock, and
//    refuses (naming the units to stop) while vigild runs.
//  * Connects to URL with the owner's credentials (the import functions are
//    not a host's), and imports as host `[fleet] host_name` (or the
//    machine's short host name), which must exist (vigil.add_host).
//  * What moves: the fleet accounts' (from [fleet] uid_min up, by the
//    fleet's identity) buckets, known-device buckets, blocks, known devices
//    and active second factors (opened with this host's TOTP key and sealed
//    again under the fleet's), and the sources' throttle buckets. Recovery
//    codes do not move (their hashes are keyed with this host's key): their
//    owners make new ones. Root and system accounts stay this host's.
//  * Conservative and idempotent (the SQL's import functions): failures
//    unioned within the window; the latest lock, the most locks; the
//    earliest block; devices unioned; a factor the fleet already has is
//    kept. Each item is imported once per host: a second run changes
//    nothing. Each conflict is printed.
//  * --check: everything in one transaction, rolled back: prints what would
//    be imported and the conflicts, writes nothing.
//  * One line of progress per kind; exit 0, or 1 with the error.
#pragma once

#include <string>

#include "daemon/core/config.h"

namespace vigil {

int migrate_to(const Config& cfg, const std::string& url, bool check);

}  // namespace vigil
