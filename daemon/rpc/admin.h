// The admin socket: authorisation, step-up, the audit trail, and the
// recovery methods. The rules themselves are pure (daemon/core/recovery.h).
//
// Contract:
//  * Every request through the admin socket is authorised from SO_PEERCRED:
//    the uid must resolve (an NSS error refuses), belong to a member of
//    [roles] admin_groups, and not be blocked (a temporary lock does not
//    count). uid 0 only with [recovery] allow_root; root skips step-up.
//  * Changes (reset, block, unblock, approve) need a step-up when
//    [recovery] step_up is on: the caller's own current code in
//    "step_up_code", checked like a login code (replay refused, wrong codes
//    counted). A good one holds for that uid for [recovery] step_up_ttl; a
//    code sent while a step-up holds is not checked (nor consumed).
//  * Every admin request ends in one journald event (MESSAGE_ID
//    kMsgAdminAction) naming the acting admin by uid and name, the method,
//    the target, the outcome and the reason.
//  * Codes are wiped by the server after the request (server.cc); the
//    handlers never log them.
#pragma once

#include <boost/asio/awaitable.hpp>

#include "daemon/rpc/dispatch.h"
#include "protocol/message.h"

namespace vigil {

boost::asio::awaitable<proto::Reply> dispatch_admin(Services& sv, const Peer& peer,
                                                    const proto::Call& call);
// The secret fields of an admin method (dispatch.h: secret_fields).
const SecretFields& admin_secret_fields(std::string_view method);

// Recovery.Request on the public socket: any active user, for a colleague.
boost::asio::awaitable<proto::Reply> file_recovery_request(Services& sv, const Peer& peer,
                                                           const boost::json::object& params,
                                                           const Lookup& target);

// At start: reports break-glass records loudly, once, and logs the
// prevention warnings (recovery::audit_warnings).
boost::asio::awaitable<void> startup_report(Services& sv);

}  // namespace vigil
