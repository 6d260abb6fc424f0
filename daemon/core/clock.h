// Time for the daemon. Policy code never reads a clock: callers pass `now`.
// The engine takes a Clock so tests can drive time.
#pragma once

#include <chrono>

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
inline TimePoint from_epoch(long long s) { return TimePoint(std::chrono::seconds(s)); }

}  // namespace vigil
