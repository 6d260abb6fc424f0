#include "daemon/rpc/rate_limit.h"

#include <algorithm>

namespace vigil {
namespace {

double refilled(double tokens, RequestLimiter::Clock::duration elapsed, int per_second) {
  const double secs = std::chrono::duration<double>(elapsed).count();
  return std::min<double>(per_second, tokens + std::max(0.0, secs) * per_second);
}

}  // namespace

void RequestLimiter::forget_full(int per_second, Clock::time_point now) {
  std::erase_if(buckets_, [&](const auto& entry) {
    const Bucket& b = entry.second;
    return refilled(b.tokens, now - b.at, per_second) >= per_second;
  });
}

RequestLimiter::Verdict RequestLimiter::take(uid_t uid, int per_second, Clock::time_point now) {
  if (per_second <= 0) return {};
  if (buckets_.size() >= kMaxTracked && !buckets_.count(uid)) forget_full(per_second, now);
  auto [it, fresh] = buckets_.try_emplace(uid, Bucket{static_cast<double>(per_second), now});
  Bucket& b = it->second;
  if (!fresh) b.tokens = refilled(b.tokens, now - b.at, per_second);
  b.at = now;
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return {};
  }
  Verdict v{false, !b.ever_warned || now - b.warned >= kWarnEvery};
  if (v.warn) {
    b.warned = now;
    b.ever_warned = true;
  }
  return v;
}

}  // namespace vigil
