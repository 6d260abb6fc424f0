// What the fleet's events mean on this host (fleet.h: Fleet::replicate).
//
// Contract:
//  * A "block" of an account that exists here (resolved by the fleet's
//    identity: its name, or "uid:N") blocks it in this host's engine as any
//    block does: committed with a full sync, the account's tokens revoked
//    or suspended and the token API frozen by the rules of [tokens]
//    freeze_on, its sessions ended. This host's store is the replica, so a
//    host whose database goes away keeps enforcing what it has applied.
//  * An "unblock" (a recovery made in the database, vigil.recover) lifts
//    that block here the way break-glass does (no code: the database
//    checked them); revoked tokens stay revoked.
//  * An account this host does not know, or one this host decides alone
//    (below [fleet] uid_min), is skipped; other kinds of event are skipped.
//  * An event is reported applied only once durable here; an NSS error or a
//    failing store reports it not applied, and the replica tries again.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "daemon/fleet/fleet.h"
#include "daemon/rpc/dispatch.h"

namespace vigil {

// Degraded mode's access to this host's store (fleet.h: JournalAccess),
// through the engine.
fleet::JournalAccess fleet_journal(Services& sv, boost::asio::io_context& io);

fleet::Applier fleet_applier(Services& sv, boost::asio::io_context& io);

// Waits until this host's replica has applied `seq` (a change this host
// just made), at most two [fleet] propagation periods; true when it has.
boost::asio::awaitable<bool> fleet_applied(Services& sv, int64_t seq);

}  // namespace vigil
