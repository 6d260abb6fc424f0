// totp_cost: the cost of one TOTP verification as the engine does it
// (totp::match, liboath, constant-time compare), with the default window of
// one step either side. Prints JSON: min, median, p99, max in microseconds,
// for a right code (found at the current step) and a wrong one (every step
// of the window tried).
//
//   totp_cost COUNT
#include <sodium.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "daemon/core/clock.h"
#include "daemon/core/totp.h"

namespace {

using Clock = std::chrono::steady_clock;

void report(const char* name, std::vector<double>& us, bool last) {
  std::sort(us.begin(), us.end());
  auto at = [&](double q) { return us[std::min(us.size() - 1, static_cast<size_t>(q * us.size()))]; };
  std::printf("\"%s\":{\"count\":%zu,\"min_us\":%.2f,\"median_us\":%.2f,\"p99_us\":%.2f,\"max_us\":%.2f}%s",
              name, us.size(), us.front(), at(0.5), at(0.99), us.back(), last ? "" : ",");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 || sodium_init() < 0) {
    std::fprintf(stderr, "usage: totp_cost COUNT\n");
    return 2;
  }
  const int count = std::atoi(argv[1]);
  vigil::Bytes secret = vigil::totp::new_secret();
  const auto now = vigil::SystemClock().now();
  // The right code for now, found by trying codes until one matches (once).
  std::string right;
  for (int c = 0; c < 1000000 && right.empty(); ++c) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%06d", c);
    if (vigil::totp::match(secret, buf, now, 0)) right = buf;
  }
  if (right.empty()) return 1;
  std::string wrong = right == "000000" ? "000001" : "000000";
  if (vigil::totp::match(secret, wrong, now, 1)) wrong = right == "111111" ? "222222" : "111111";
  std::vector<double> ok, bad;
  for (int i = 0; i < count; ++i) {
    auto t0 = Clock::now();
    bool a = vigil::totp::match(secret, right, now, 1).has_value();
    auto t1 = Clock::now();
    bool b = vigil::totp::match(secret, wrong, now, 1).has_value();
    auto t2 = Clock::now();
    if (!a || b) return 1;
    ok.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    bad.push_back(std::chrono::duration<double, std::micro>(t2 - t1).count());
  }
  std::printf("{");
  report("right_code", ok, false);
  report("wrong_code", bad, true);
  std::printf("}\n");
  return 0;
}
