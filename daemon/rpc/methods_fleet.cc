// Fleet mode, as administrators see it: this host's connection and replica,
// and every host's row (admin socket; root on the public socket too).
#include "daemon/os/offload.h"
#include "daemon/rpc/handlers.h"
#include "protocol/api_fleet.h"

namespace vigil::methods {
namespace api = proto::api;

Answer fleet_status(Request& r) {
  if (!r.sv.fleet) co_return not_found("fleet mode is off: vigil.conf sets no [fleet] server");
  fleet::Fleet& f = *r.sv.fleet;
  api::FleetStatusReply out;
  out.host = f.host_name();
  out.connected = f.ready();
  out.why = f.ready() ? std::string() : f.status_text();
  const fleet::Position& pos = f.position();
  out.applied = pos.applied;
  out.max_seq = pos.max_seen;
  out.lag = std::max<int64_t>(0, pos.max_seen - pos.applied);
  if (f.ready()) {
    auto start = [&](auto deliver) { f.hosts(std::move(deliver)); };
    auto rows = co_await await_callback<Result<std::vector<fleet::HostRow>>>(start);
    if (rows) {
      const int64_t now = to_epoch(wall_now());
      const int64_t stale_after = 3 * r.sv.config->fleet.propagation.count();
      for (const auto& h : *rows) {
        out.max_seq = std::max(out.max_seq, h.max_seq);
        out.hosts.push_back(api::FleetHost{h.name, h.trust_group, h.quarantined, h.applied,
                                           std::max<int64_t>(0, h.max_seq - h.applied), h.last_seen,
                                           h.last_seen == 0 || now - h.last_seen > stale_after, h.auto_blocks});
      }
      out.lag = std::max<int64_t>(0, out.max_seq - out.applied);
    } else {
      out.connected = false;
      out.why = rows.error().message;
    }
  }
  out.latency_us = f.latency_us();
  co_return Reply::success(out.to_json());
}

}  // namespace vigil::methods
