// A request budget per uid: a token bucket that holds one second's worth of
// requests and refills at `per_second`.
//
// Contract:
//  * take(uid, per_second, now): whether one more request of uid may go now.
//    per_second 0 means no limit. The caller exempts root (uid 0 is never
//    limited by vigild; this class does not know about root).
//  * A refusal says `warn` at most once a minute per uid, so a flood is
//    logged, not echoed line by line.
//  * Time is passed in (tests drive it). Memory is bounded: past kMaxTracked
//    uids, the buckets that are full again are forgotten.
//  * Not thread-safe: vigild uses it on the I/O thread only.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <unordered_map>

namespace vigil {

class RequestLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::size_t kMaxTracked = 4096;
  static constexpr std::chrono::seconds kWarnEvery{60};

  struct Verdict {
    bool allowed = true;
    bool warn = false;  // a refusal worth a log line
  };
  Verdict take(uid_t uid, int per_second, Clock::time_point now);
  std::size_t tracked() const { return buckets_.size(); }

 private:
  struct Bucket {
    double tokens = 0;
    Clock::time_point at{};
    Clock::time_point warned{};
    bool ever_warned = false;
  };
  void forget_full(int per_second, Clock::time_point now);

  std::unordered_map<uid_t, Bucket> buckets_;
};

}  // namespace vigil
