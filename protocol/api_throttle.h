// The typed API of the per-source throttle: io.vigil.Throttle.List (the
// admin socket, and root on the public socket) and io.vigil.Throttle.Lift
// (the admin socket, step-up, audited). The contract is api.h's.
//
// A source is written as vigild keys its throttle buckets (device.h):
// "198.51.100.7", an IPv6 prefix "2001:db8:1:2::/64" (also /56 and /48),
// or "host:*" (every source known only by a DNS name). No secrets.
#pragma once

#include "protocol/api_self.h"  // failures, refused, last_failure; kAlwaysSent

namespace vigil::proto::api {

namespace key {
inline constexpr char kSources[] = "sources";
inline constexpr char kBanned[] = "banned";
inline constexpr char kBannedUntil[] = "banned_until";
inline constexpr char kBans[] = "bans";
inline constexpr char kThreshold[] = "threshold";
inline constexpr char kLifted[] = "lifted";
inline constexpr char kWasBanned[] = "was_banned";
inline constexpr char kTrustedNetworks[] = "trusted_networks";
}  // namespace key

// One source with failures within [throttle] window, or a ban.
struct ThrottleSource {
  static constexpr bool kClosed = false;
  std::string source;
  int64_t failures = 0;      // within [throttle] window, across accounts
  int64_t threshold = 0;     // failures that ban it ([throttle] deny, x4 for a /56, x16 for a /48)
  bool banned = false;
  int64_t banned_until = 0;  // epoch; 0 when not banned
  int64_t bans = 0;          // bans in a row (each doubles the next, up to max_ban_time)
  int64_t refused = 0;       // attempts refused while banned
  int64_t last_failure = 0;  // epoch

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kSource, s.source, kRequired);
    v(key::kFailures, s.failures, kAlwaysSent);
    v(key::kThreshold, s.threshold, kAlwaysSent);
    v(key::kBanned, s.banned, kAlwaysSent);
    v(key::kBannedUntil, s.banned_until, kAlwaysSent);
    v(key::kBans, s.bans, kAlwaysSent);
    v(key::kRefused, s.refused, kAlwaysSent);
    v(key::kLastFailure, s.last_failure, kAlwaysSent);
  }
};

struct ThrottleListReply {
  static constexpr bool kClosed = false;
  std::vector<ThrottleSource> sources;  // by source
  std::vector<std::string> trusted_networks;  // [throttle] trusted_networks, as written

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kSources, s.sources, kAlwaysSent);
    v(key::kTrustedNetworks, s.trusted_networks, kAlwaysSent);
  }
  boost::json::object to_json() const;
  static Result<ThrottleListReply> from_json(const boost::json::object& o);
};

struct ThrottleList {
  static constexpr const char* kMethod = kThrottleList;
  static constexpr bool kClosed = true;
  static constexpr bool kAdmin = true;
  using Reply = ThrottleListReply;

  template <class S, class V>
  static void fields(S&, V&&) {}
  boost::json::object to_json() const;
  static Result<ThrottleList> from_json(const boost::json::object& o);
};

// Lifts a source's ban and forgets its failures and doubling. "source" is a
// source as the list shows it, or an address: then every bucket of that
// address (an IPv6 address's /64, /56 and /48).
struct ThrottleLift {
  static constexpr const char* kMethod = kThrottleLift;
  static constexpr bool kClosed = true;
  static constexpr bool kAdmin = true;
  using Reply = struct ThrottleLiftReply;
  std::string source;

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kSource, s.source, kLoose);  // the validator says what a source is
  }
  boost::json::object to_json() const;
  static Result<ThrottleLift> from_json(const boost::json::object& o);
};

struct ThrottleLiftReply {
  static constexpr bool kClosed = false;
  std::vector<std::string> lifted;  // the buckets cleared
  bool was_banned = false;          // one of them was banned

  template <class S, class V>
  static void fields(S& s, V&& v) {
    v(key::kLifted, s.lifted, kAlwaysSent);
    v(key::kWasBanned, s.was_banned, kAlwaysSent);
  }
  boost::json::object to_json() const;
  static Result<ThrottleLiftReply> from_json(const boost::json::object& o);
};

}  // namespace vigil::proto::api
