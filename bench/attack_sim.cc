// attack_sim: the shipped lockout defaults against simulated attackers, day
// by day, beside a model of pam_faillock's defaults (bench/attack_sim.h).
//
//   attack_sim                      the table, 7 days, every scenario
//   attack_sim --json               the same figures as JSON
//   attack_sim --verbose            with vigild's log lines (stderr)
//   attack_sim --days N --interval S
//   attack_sim --deny N --fail-interval 12h --unlock-time 1h --max-unlock-time 24h
//                                   other lockout values, to compare
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "bench/attack_sim.h"

using namespace vigil;
using namespace vigil::attack_sim;

namespace {

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: attack_sim [--json] [--verbose] [--days N] [--interval SECONDS] [--sources N] [--per-source N]\n"
               "                  [--deny N] [--fail-interval D] [--unlock-time D] [--max-unlock-time D]\n"
               "                  [--scenario continuous|rotating|paced|lock-aware|owner]\n");
  std::exit(2);
}

Seconds duration(const char* s) {
  auto d = parse_duration(s);
  if (!d) {
    std::fprintf(stderr, "attack_sim: %s\n", d.error().message.c_str());
    std::exit(2);
  }
  return *d;
}

}  // namespace

int main(int argc, char** argv) {
  Settings cfg;  // the shipped defaults
  Options opt;
  bool json = false, verbose = false;
  std::vector<Scenario> scenarios = all_scenarios();
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> const char* {
      if (i + 1 >= argc) usage();
      return argv[++i];
    };
    if (a == "--json") json = true;
    else if (a == "--verbose") verbose = true;
    else if (a == "--days") opt.days = std::atoi(val());
    else if (a == "--interval") opt.interval = std::atoll(val());
    else if (a == "--sources") opt.sources = std::atoi(val());
    else if (a == "--per-source") opt.per_source = std::atoi(val());
    else if (a == "--deny") cfg.lockout.deny = std::atoi(val());
    else if (a == "--fail-interval") cfg.lockout.fail_interval = duration(val());
    else if (a == "--unlock-time") cfg.lockout.unlock_time = duration(val());
    else if (a == "--max-unlock-time") cfg.lockout.max_unlock_time = duration(val());
    else if (a == "--scenario") {
      std::string s = val();
      scenarios.clear();
      for (Scenario sc : all_scenarios())
        if (s == name(sc)) scenarios.push_back(sc);
      if (scenarios.empty()) usage();
    } else usage();
  }
  if (opt.days < 1 || opt.interval < 3 || opt.sources < 1 || opt.per_source < 1) usage();

  std::vector<ScenarioResult> results;
  {
    std::optional<QuietStderr> quiet;
    if (!verbose) quiet.emplace();
    for (Scenario sc : scenarios) results.push_back(run(sc, cfg, opt));
  }

  const auto& l = cfg.lockout;
  if (json) {
    std::printf("{\"lockout\":{\"deny\":%d,\"fail_interval\":%lld,\"unlock_time\":%lld,\"max_unlock_time\":%lld},",
                l.deny, (long long)l.fail_interval.count(), (long long)l.unlock_time.count(),
                (long long)l.max_unlock_time.count());
    std::printf("\"throttle\":{\"deny\":%d,\"window\":%lld,\"ban_time\":%lld,\"max_ban_time\":%lld},",
                cfg.throttle.deny, (long long)cfg.throttle.window.count(),
                (long long)cfg.throttle.ban_time.count(), (long long)cfg.throttle.max_ban_time.count());
    std::printf("\"interval\":%lld,\"sources\":%d,\"per_source\":%d,\"scenarios\":{", opt.interval,
                opt.sources, opt.per_source);
    for (size_t i = 0; i < results.size(); ++i) {
      const auto& r = results[i];
      std::printf("%s\"%s\":{\"max_lock_count\":%d,\"days\":[", i ? "," : "", name(r.scenario),
                  r.max_lock_count);
      for (size_t d = 0; d < r.days.size(); ++d) {
        const Day& x = r.days[d];
        std::printf("%s{\"attempts\":%lld,\"guesses\":%lld,\"refused\":%lld,\"owner_logins\":%lld,"
                    "\"owner_refused\":%lld,\"faillock_guesses\":%lld,\"faillock_owner_refused\":%lld}",
                    d ? "," : "", (long long)x.attempts, (long long)x.guesses, (long long)x.refused,
                    (long long)x.owner_logins, (long long)x.owner_refused,
                    (long long)x.faillock_guesses, (long long)x.faillock_owner_refused);
      }
      std::printf("]}");
    }
    std::printf("}}\n");
    return 0;
  }

  std::printf("vigil lockout: deny %d, fail_interval %s, unlock_time %s, max_unlock_time %s\n", l.deny,
              format_duration(l.fail_interval).c_str(), format_duration(l.unlock_time).c_str(),
              format_duration(l.max_unlock_time).c_str());
  std::printf("vigil throttle: deny %d per %s, ban %s ... %s (all other settings: their defaults)\n",
              cfg.throttle.deny, format_duration(cfg.throttle.window).c_str(),
              format_duration(cfg.throttle.ban_time).c_str(),
              format_duration(cfg.throttle.max_ban_time).c_str());
  std::printf("faillock: a model of its defaults (deny 3, fail_interval 15m, unlock_time 10m, no doubling)\n");
  std::printf("guesses (passwords evaluated) per account per day; attacker: one attempt every %llds\n",
              opt.interval);
  for (const auto& r : results) {
    if (r.scenario == Scenario::kRotating)
      std::printf("  rotating: %d sources, %d attempts each, then the next (cycling)\n", opt.sources,
                  opt.per_source);
    if (r.scenario == Scenario::kPaced)
      std::printf("  paced: one failure every %llds (deny-1 per fail_interval; faillock: 2 per 15m)\n",
                  (long long)r.paced_spacing);
    if (r.scenario == Scenario::kLockAware)
      std::printf("  lock-aware: guesses at once whenever the account is not locked, silent while it is\n");
    if (r.scenario == Scenario::kOwner)
      std::printf("  owner: continuous attack, plus one typo and the right password a day from a known device\n");
  }
  std::printf("\n%-5s", "day");
  for (const auto& r : results) std::printf(" %23s", name(r.scenario));
  std::printf("\n%-5s", "");
  for (size_t i = 0; i < results.size(); ++i) std::printf(" %11s %11s", "vigil", "faillock");
  std::printf("\n");
  std::vector<long long> tv(results.size()), tf(results.size());
  for (int d = 0; d < opt.days; ++d) {
    std::printf("%-5d", d + 1);
    for (size_t i = 0; i < results.size(); ++i) {
      const Day& x = results[i].days[static_cast<size_t>(d)];
      std::printf(" %11lld %11lld", (long long)x.guesses, (long long)x.faillock_guesses);
      tv[i] += x.guesses;
      tf[i] += x.faillock_guesses;
    }
    std::printf("\n");
  }
  std::printf("%-5s", "total");
  for (size_t i = 0; i < results.size(); ++i) std::printf(" %11lld %11lld", tv[i], tf[i]);
  std::printf("\n");
  for (const auto& r : results) {
    if (r.scenario != Scenario::kOwner) continue;
    long long logins = 0, refused = 0, frefused = 0;
    for (const auto& x : r.days) {
      logins += x.owner_logins;
      refused += x.owner_refused;
      frefused += x.faillock_owner_refused;
    }
    std::printf("\nowner: %lld daily logins (typo + right password); refused reports: vigil %lld, faillock %lld\n",
                logins, refused, frefused);
  }
  return 0;
}
