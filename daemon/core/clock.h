// Time for the daemon. Policy code never reads a clock: callers pass `now`.
// The engine takes a Clock so tests can drive time.
#pragma once

#include <chrono>
#include <ctime>
#include <string>

namespace vigil {

using TimePoint = std::chrono::sys_seconds;  // wall time, whole seconds (stored as epoch seconds)

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint now() const override {
    return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  }
};

inline long long to_epoch(TimePoint t) { return t.time_since_epoch().count(); }

// A time for logs and messages: "2026-12-03 21:20:48 UTC".
inline std::string utc_text(TimePoint t) {
  const std::time_t s = static_cast<std::time_t>(to_epoch(t));
  std::tm tm{};
  char buf[32];
  if (!::gmtime_r(&s, &tm) || std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
    return std::to_string(to_epoch(t)) + " (epoch)";
  return buf;
}
inline TimePoint from_epoch(long long s) { return TimePoint(std::chrono::seconds(s)); }

}  // namespace vigil
