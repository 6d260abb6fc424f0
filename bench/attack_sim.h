// The attack simulation: the shipped lockout defaults against attackers for
// a number of simulated days, on the real engine (vigil::Engine with a SQLite
// store in a temporary directory and a manual clock), beside a model of
// pam_faillock's defaults.
//
// Shared by bench/attack_sim (prints the table) and
// tests/unit/test_attack_sim.cc (asserts the targets on the defaults).
//
// Contract:
//  * The defaults are the default-constructed configuration structs
//    (Settings{}), never copies of their numbers.
//  * Reports are filled in as daemon/rpc/dispatch.cc fills them for sshd (a root
//    caller): key "uid:N", the normalised source, the device id of the
//    service and source, service "sshd", tty "ssh".
//  * A guess is a report whose password was evaluated: a failure the engine
//    counted (Decision.counted). A refusal (locked, throttled, blocked) is
//    not a guess: the attacker learns nothing from it.
//  * The faillock figures come from a model (FaillockModel below), not from
//    pam_faillock itself.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "daemon/core/clock.h"
#include "daemon/core/config.h"
#include "daemon/core/device.h"
#include "daemon/engine/engine.h"
#include "daemon/core/policy.h"
#include "daemon/store/sqlite_store.h"

namespace vigil::attack_sim {

// The parts of the configuration the engine takes; default-constructed: the
// shipped defaults.
using Settings = Engine::Settings;

enum class Scenario {
  kContinuous,  // one source, one attempt every `interval`
  kRotating,    // a pool of sources, `per_source` attempts each, then the next
  kPaced,       // one source, deny-1 failures per fail_interval: never locks
  kLockAware,   // one source that knows the policy: guesses whenever the
                // account is not locked, silent while it is
  kOwner,       // kContinuous, and the owner: one typo then the right
                // password once a day from a known device
};

inline const char* name(Scenario s) {
  switch (s) {
    case Scenario::kContinuous: return "continuous";
    case Scenario::kRotating: return "rotating";
    case Scenario::kPaced: return "paced";
    case Scenario::kLockAware: return "lock-aware";
    case Scenario::kOwner: return "owner";
  }
  return "?";
}

inline const std::vector<Scenario>& all_scenarios() {
  static const std::vector<Scenario> v{Scenario::kContinuous, Scenario::kRotating, Scenario::kPaced,
                                       Scenario::kLockAware, Scenario::kOwner};
  return v;
}

struct Options {
  int days = 7;
  long long interval = 10;  // seconds between an attacker's attempts
  int sources = 1000;       // kRotating: the pool
  int per_source = 3;       // kRotating: attempts from one source before the next
  long long owner_at = 9 * 3600;  // kOwner: the owner's daily login, seconds into the day
};

struct Day {
  int64_t attempts = 0;       // the attacker's reports
  int64_t guesses = 0;        // of them, passwords evaluated (counted failures)
  int64_t refused = 0;        // of them, refused (locked, throttled, blocked)
  int64_t owner_logins = 0;   // the owner's right passwords
  int64_t owner_refused = 0;  // of the owner's reports (typo or right password), refused
  int64_t faillock_guesses = 0;
  int64_t faillock_owner_refused = 0;
};

struct ScenarioResult {
  Scenario scenario;
  std::vector<Day> days;
  int max_lock_count = 0;   // the unknown-device bucket's highest lock count
  int64_t paced_spacing = 0;  // kPaced: seconds between its failures
};

// pam_faillock with its defaults as a model (deny=3, fail_interval=900,
// unlock_time=600; no doubling), per account, from check_tally() and
// write_tally() in pam_faillock: failures count when within fail_interval of
// the latest one; past deny, the account is refused until unlock_time after
// the latest failure; a refused attempt (preauth) records nothing; the first
// failure after an expired lock starts a new tally.
struct FaillockModel {
  int deny = 3;
  long long fail_interval = 900;
  long long unlock_time = 600;
  std::deque<long long> records;

  bool locked(long long now) const {
    if (records.empty()) return false;
    long long latest = records.back();
    int failures = 0;
    for (long long t : records)
      if (latest - t < fail_interval) ++failures;
    return failures >= deny && latest + unlock_time >= now;
  }
  // A wrong password: true when it was evaluated (a guess), false when refused.
  bool fail(long long now) {
    if (locked(now)) return false;
    if (!records.empty()) {
      long long latest = records.back();
      int failures = 0;
      for (long long t : records)
        if (latest - t < fail_interval) ++failures;
      if (failures >= deny) records.clear();  // the lock expired: a new tally
    }
    while (!records.empty() && records.front() <= now - fail_interval) records.pop_front();
    records.push_back(now);
    return true;
  }
  // The right password: allowed unless locked; a success clears the tally.
  bool succeed(long long now) {
    if (locked(now)) return false;
    records.clear();
    return true;
  }
};

class ManualClock final : public Clock {
 public:
  TimePoint now() const override { return from_epoch(t_); }
  void set(long long t) { t_ = t; }

 private:
  long long t_ = 1'700'000'000;
};

// vigild's log lines (every lock, every ban) go to stderr; a simulated week
// makes hundreds. This sends them to /dev/null while it lives.
class QuietStderr {
 public:
  QuietStderr() {
    std::fflush(stderr);
    saved_ = ::dup(2);
    int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (saved_ >= 0 && null >= 0) ::dup2(null, 2);
    if (null >= 0) ::close(null);
  }
  ~QuietStderr() {
    std::fflush(stderr);
    if (saved_ >= 0) {
      ::dup2(saved_, 2);
      ::close(saved_);
    }
  }
  QuietStderr(const QuietStderr&) = delete;
  QuietStderr& operator=(const QuietStderr&) = delete;

 private:
  int saved_ = -1;
};

namespace detail {

inline std::string make_temp_dir() {
  std::string base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : "/tmp";
  if (const char* t = std::getenv("VIGIL_SIM_TMP")) base = t;
  std::string tmpl = base + "/vigil-attack-sim-XXXXXX";
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed in " + base);
  return tmpl;
}

constexpr int64_t kUid = 1001;
const char* const kUser = "alice";
const char* const kOwnerHost = "198.51.100.1";
const char* const kAttackerHost = "203.0.113.7";

// One source of the rotating pool: 198.18.0.0/15, the benchmarking range.
inline std::string pool_host(int i) {
  return "198.18." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
}

inline ReportRequest ssh_report(const std::string& rhost, Outcome o, const std::string& nonce) {
  ReportRequest r;
  r.key = "uid:" + std::to_string(kUid);
  r.uid = kUid;
  r.name = kUser;
  r.nonce = nonce;
  r.outcome = o;
  r.root_caller = true;  // sshd runs PAM as root
  r.service = "sshd";
  r.rhost = rhost;
  r.tty = "ssh";
  r.source = device::source_key(device::parse_source(rhost));
  r.device = device::device_id(r.service, rhost, r.tty, std::nullopt);
  return r;
}

}  // namespace detail

// Runs one scenario for opt.days simulated days from a fresh state directory.
inline ScenarioResult run(Scenario sc, const Settings& cfg = {}, const Options& opt = {}) {
  using namespace detail;
  ScenarioResult res{sc, std::vector<Day>(static_cast<size_t>(opt.days)), 0, 0};
  const std::string dir = make_temp_dir();
  struct Cleanup {
    std::string d;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(d, ec);
    }
  } cleanup{dir};

  auto store = SqliteStore::open(dir + "/vigil.db");
  if (!store) throw std::runtime_error("cannot open the store: " + store.error().message);
  ManualClock clock;
  const long long t0 = 1'700'000'000;
  const long long end = t0 + opt.days * 86400LL;
  // No start(): every report runs at once, as its own batch and commit.
  Engine engine(std::move(*store), clock, cfg.lockout, nullptr, cfg.totp, cfg.devices, cfg.block,
                cfg.throttle);
  uint64_t seq = 0;
  auto send = [&](long long at, const std::string& rhost, Outcome o) {
    clock.set(at);
    ReportResult out;
    engine.report(ssh_report(rhost, o, "n" + std::to_string(++seq)),
                  [&](ReportResult r) { out = std::move(r); });
    if (!out.status) throw std::runtime_error("the engine failed: " + out.status.error().message);
    return out;
  };
  auto day_of = [&](long long at) -> Day& { return res.days[static_cast<size_t>((at - t0) / 86400)]; };
  auto tally = [&](long long at, const ReportResult& r) {
    Day& d = day_of(at);
    ++d.attempts;
    if (r.decision.counted) ++d.guesses;
    else ++d.refused;
    res.max_lock_count = std::max(res.max_lock_count, r.state.lock_count);
  };

  // The owner's device becomes known: a complete login the day before.
  FaillockModel fl;
  if (sc == Scenario::kOwner) {
    auto r = send(t0 - 86400, kOwnerHost, Outcome::kSuccess);
    if (!r.decision.allow) throw std::runtime_error("the owner's first login was refused");
  }

  if (sc == Scenario::kPaced) {
    // deny-1 failures within any fail_interval: one every fail_interval/(deny-1).
    const long long fi = cfg.lockout.fail_interval.count();
    const long long n = std::max(1, cfg.lockout.deny - 1);
    const long long spacing = std::max(opt.interval, (fi + n - 1) / n);
    res.paced_spacing = spacing;
    for (long long at = t0; at < end; at += spacing) tally(at, send(at, kAttackerHost, Outcome::kFailure));
    // faillock's own pace under its window.
    const long long fspacing = std::max<long long>(opt.interval, (fl.fail_interval + fl.deny - 2) / (fl.deny - 1));
    for (long long at = t0; at < end; at += fspacing)
      if (fl.fail(at)) ++day_of(at).faillock_guesses;
    return res;
  }

  if (sc == Scenario::kLockAware) {
    // It predicts the lock from the published policy on a copy of the state
    // and waits it out without a word; its refusals would look like wrong
    // passwords anyway. Against faillock it does the same.
    LockState model;
    long long at = t0;
    while (at < end) {
      Attempt a{Outcome::kFailure, true, false, from_epoch(at), {}};
      Decision pd = decide(model, a, cfg.lockout);
      tally(at, send(at, kAttackerHost, Outcome::kFailure));
      at = pd.locked_now ? std::max(at + opt.interval, to_epoch(model.locked_until)) : at + opt.interval;
    }
    at = t0;
    while (at < end) {
      if (fl.fail(at)) ++day_of(at).faillock_guesses;
      at = fl.locked(at) ? fl.records.back() + fl.unlock_time + 1 : at + opt.interval;
    }
    return res;
  }

  // kContinuous, kRotating, kOwner: one attempt every interval; the owner
  // interleaved once a day.
  long long next_owner = sc == Scenario::kOwner ? t0 + opt.owner_at : end;
  int64_t n = 0;
  for (long long at = t0; at < end; at += opt.interval, ++n) {
    long long attack_at = at;
    if (at >= next_owner) {
      // One typo, then the right password, then the attacker's next attempt.
      Day& d = day_of(at);
      auto typo = send(at, kOwnerHost, Outcome::kFailure);
      if (!typo.decision.counted) ++d.owner_refused;
      auto ok = send(at + 1, kOwnerHost, Outcome::kSuccess);
      ++d.owner_logins;
      if (!ok.decision.allow) ++d.owner_refused;
      if (!fl.fail(at)) ++d.faillock_owner_refused;
      if (!fl.succeed(at + 1)) ++d.faillock_owner_refused;
      next_owner += 86400;
      attack_at = at + 2;
    }
    std::string host = sc == Scenario::kRotating
                           ? pool_host(static_cast<int>((n / opt.per_source) % opt.sources))
                           : std::string(kAttackerHost);
    tally(attack_at, send(attack_at, host, Outcome::kFailure));
    if (fl.fail(attack_at)) ++day_of(attack_at).faillock_guesses;
  }
  return res;
}

}  // namespace vigil::attack_sim
