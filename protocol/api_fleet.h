// The typed API of fleet mode's status: io.vigil.Fleet.Status (the admin
// socket, and root on the public socket). The contract is api.h's. No
// secrets: host names, positions in the event log and times.
#pragma once

#include "protocol/api_admin.h"  // key::kName
#include "protocol/api_self.h"   // kAlwaysSent

namespace vigil::proto::api {

namespace key {
inline constexpr char kHost[] = "host";
inline constexpr char kHosts[] = "hosts";
inline constexpr char kConnected[] = "connected";
inline constexpr char kLatencyUs[] = "latency_us";
inline constexpr char kApplied[] = "applied";
inline constexpr char kMaxSeq[] = "max_seq";
inline constexpr char kLag[] = "lag";
inline constexpr char kTrustGroup[] = "trust_group";
inline constexpr char kQuarantined[] = "quarantined";
inline constexpr char kAutoBlocks[] = "auto_blocks";
inline constexpr char kStale[] = "stale";
inline constexpr char kLift[] = "lift";
inline constexpr char kDegraded[] = "degraded";
inline constexpr char kDegradedSince[] = "degraded_since";
inline constexpr char kDegradedWhy[] = "degraded_why";
inline constexpr char kCatchUp[] = "catch_up";
inline constexpr char kJournal[] = "journal";
inline constexpr char kReplayed[] = "replayed";
inline constexpr char kReasserted[] = "reasserted";
inline constexpr char kHealedAt[] = "healed_at";
}  // namespace key

// One host of the fleet, as the database records it.
struct FleetHost {
  static constexpr bool kClosed = false;
  std::string name;
  std::string trust_group;
  bool quarantined = false;
  int64_t applied = 0;      // the event log position it last reported
  int64_t lag = 0;          // events it has not applied
  int64_t last_seen = 0;    // epoch of its last heartbeat; 0: never
  bool stale = false;       // no heartbeat within 3 x [fleet] propagation
  int64_t auto_blocks = 0;  // blocks attributed to it (capped per host)

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kName, s.name, kRequired);
    v(key::kTrustGroup, s.trust_group, kAlwaysSent);
    v(key::kQuarantined, s.quarantined, kAlwaysSent);
    v(key::kApplied, s.applied, kAlwaysSent);
    v(key::kLag, s.lag, kAlwaysSent);
    v(key::kLastSeen, s.last_seen, kAlwaysSent);
    v(key::kStale, s.stale, kAlwaysSent);
    v(key::kAutoBlocks, s.auto_blocks, kAlwaysSent);
  }
};

struct FleetStatusReply {
  static constexpr bool kClosed = false;
  std::string host;         // this host's name (its role)
  bool connected = false;   // the database answers this host
  std::string why;          // when not connected: why
  int64_t latency_us = 0;   // smoothed round trip of this host's calls
  int64_t applied = 0;      // this host's replica position
  int64_t max_seq = 0;      // the newest event this host has seen
  int64_t lag = 0;
  // Degraded mode (vigild(8), FLEET): deciding alone and journaling.
  bool degraded = false;
  int64_t degraded_since = 0;  // epoch; 0: since vigild started
  std::string degraded_why;
  std::string catch_up;        // the catch-up's step ("" when none runs)
  int64_t journal = 0;         // decisions journaled here, not yet replayed
  int64_t replayed = 0;        // journal entries replayed since vigild started
  int64_t reasserted = 0;      // blocks re-asserted since vigild started
  int64_t healed_at = 0;       // epoch of the last time degraded mode was left; 0: never
  std::string refused;         // the database answers but refuses this host (why): the module's failmode
  std::vector<FleetHost> hosts;  // every host (empty while not connected)

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kHost, s.host, kRequired);
    v(key::kConnected, s.connected, kAlwaysSent);
    v(key::kWhy, s.why, kAlwaysSent);
    v(key::kLatencyUs, s.latency_us, kAlwaysSent);
    v(key::kApplied, s.applied, kAlwaysSent);
    v(key::kMaxSeq, s.max_seq, kAlwaysSent);
    v(key::kLag, s.lag, kAlwaysSent);
    v(key::kDegraded, s.degraded, kAlwaysSent);
    v(key::kDegradedSince, s.degraded_since, kAlwaysSent);
    v(key::kDegradedWhy, s.degraded_why, kAlwaysSent);
    v(key::kCatchUp, s.catch_up, kAlwaysSent);
    v(key::kJournal, s.journal, kAlwaysSent);
    v(key::kReplayed, s.replayed, kAlwaysSent);
    v(key::kReasserted, s.reasserted, kAlwaysSent);
    v(key::kHealedAt, s.healed_at, kAlwaysSent);
    v(key::kRefused, s.refused, kAlwaysSent);
    v(key::kHosts, s.hosts, kAlwaysSent);
  }
  boost::json::object to_json() const;
  static Result<FleetStatusReply> from_json(const boost::json::object& o);
};

struct FleetStatus {
  static constexpr const char* kMethod = kFleetStatus;
  static constexpr bool kClosed = true;
  static constexpr bool kAdmin = true;
  using Reply = FleetStatusReply;

  template <class S, class V>
  static void fields(S&, V&&) {}
  boost::json::object to_json() const;
  static Result<FleetStatus> from_json(const boost::json::object& o);
};

// Quarantines a host (or lifts its quarantine): every call of a quarantined
// host is refused by the database, so its fleet accounts' logins get the
// module's failmode there. The admin socket; the actor's fresh code is
// checked by the database (vigil.quarantine), in the transaction that acts.
struct FleetQuarantineReply {
  static constexpr bool kClosed = false;
  std::string host;
  bool quarantined = false;
  bool changed = false;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kHost, s.host, kRequired);
    v(key::kQuarantined, s.quarantined, kAlwaysSent);
    v(key::kChanged, s.changed, kAlwaysSent);
  }
  boost::json::object to_json() const;
  static Result<FleetQuarantineReply> from_json(const boost::json::object& o);
};

struct FleetQuarantine {
  static constexpr const char* kMethod = kFleetQuarantine;
  static constexpr bool kClosed = true;
  static constexpr bool kAdmin = true;
  using Reply = FleetQuarantineReply;
  std::string host;
  bool lift = false;
  std::string reason;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kHost, s.host, kChecked);
    v(key::kLift, s.lift, kOptional);
    v(key::kReason, s.reason, kChecked);
  }
  boost::json::object to_json() const;
  static Result<FleetQuarantine> from_json(const boost::json::object& o);
};

}  // namespace vigil::proto::api
