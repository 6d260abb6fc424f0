// The fleet database's schema: versioned migrations, like the SQLite
// store's, kept as SQL files (daemon/fleet/sql/NNN_name.sql) and compiled
// into vigild.
//
// Contract:
//  * Migration N takes the schema from version N-1 to N in one transaction
//    and sets vigil.schema_version to N. Files are never edited once
//    released; a change is a new file.
//  * setup() is run by an administrator (vigild --fleet-setup URL) as a role
//    that may create roles and schemas (a superuser, or the database owner
//    with CREATEROLE); hosts never run it and their roles cannot. It applies
//    the migrations newer than the database's, one transaction each,
//    printing each to `progress`, and is idempotent: a database already at
//    the latest version is left alone.
//  * A database newer than this vigild is an error: an older binary must
//    not write into a schema it does not know.
//  * Blocking (libpq's synchronous API): for the command line only, never on
//    the I/O thread.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "protocol/result.h"

namespace vigil::fleet {

struct Migration {
  int version;
  const char* name;
  const char* sql;
};

// Every migration, in order (version 1, 2, ...).
const std::vector<Migration>& migrations();
inline int latest_version() { return static_cast<int>(migrations().size()); }

// Applies the migrations the database at `conninfo` (a libpq URL or
// key/value string) lacks. Answers the version it is at afterwards.
Result<int> setup(const std::string& conninfo, const std::function<void(const std::string&)>& progress);

}  // namespace vigil::fleet
