// The admin socket's gate: authorisation, step-up and the audit trail, in
// front of the admin rows of the request table (dispatch.cc). The recovery
// rules themselves are pure (daemon/core/recovery.h).
//
// Contract:
//  * Every request through the admin socket is authorised from SO_PEERCRED:
//    the uid must resolve (an NSS error refuses), belong to a member of
//    [roles] admin_groups, and not be blocked (a temporary lock does not
//    count). uid 0 only with [recovery] allow_root; root skips step-up.
//  * Changes (reset, block, unblock, approve, token revocation) need a
//    step-up when [recovery] step_up is on: the caller's own current code in
//    "step_up_code", checked like a login code (replay refused, wrong codes
//    counted). A good one holds for that uid, in that login session, for
//    [recovery] step_up_ttl; a code sent while a step-up holds is not checked
//    (nor consumed). Token.Issue always needs a fresh code.
//  * Every admin request ends in one journald event (MESSAGE_ID
//    kMsgAdminAction, or kMsgRecoveryRefused for a refused recovery) naming
//    the acting admin by uid and name, the method, the target, the outcome
//    and the reason.
//  * Codes are wiped by the server after the request (the row's secret
//    fields); the gate never logs them.
#pragma once

#include <boost/asio/awaitable.hpp>

#include "daemon/rpc/dispatch.h"
#include "daemon/rpc/request.h"
#include "protocol/message.h"

namespace vigil {

// One request through the admin socket; m is its row, or null for an
// unknown method (answered MethodNotFound, and audited).
boost::asio::awaitable<proto::Reply> admin_call(Services& sv, const Peer& peer, const proto::Call& call,
                                                const Method* m);

}  // namespace vigil
