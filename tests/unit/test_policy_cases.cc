// The shared policy cases (tests/policy/cases.json) against the C++
// decide(): the same file runs against the SQL vigil.decide() in
// tests/fleet/test_sql.py, so the two policies cannot drift apart. The
// file's "about" member describes its format.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "daemon/core/policy.h"

namespace vigil {
namespace {

namespace json = boost::json;
using std::chrono::seconds;

constexpr const char* kCasesPath = VIGIL_SOURCE_ROOT "/tests/policy/cases.json";

json::value load_cases() {
  std::ifstream in(kCasesPath);
  std::stringstream ss;
  ss << in.rdbuf();
  boost::system::error_code ec;
  json::value v = json::parse(ss.str(), ec);
  if (ec) ADD_FAILURE() << kCasesPath << ": " << ec.message();
  return v;
}

// A time of the file (seconds after t0, or null for "not set").
TimePoint at(const json::value& v, TimePoint t0) {
  if (v.is_null()) return TimePoint{};
  return t0 + seconds(v.to_number<int64_t>());
}

std::string text(TimePoint t, TimePoint t0) {
  if (t == TimePoint{}) return "null";
  return std::to_string((t - t0).count());
}

LockoutConfig config_of(const json::object& c) {
  LockoutConfig cfg;
  cfg.deny = static_cast<int>(c.at("deny").to_number<int64_t>());
  cfg.fail_interval = seconds(c.at("fail_interval").to_number<int64_t>());
  cfg.unlock_time = seconds(c.at("unlock_time").to_number<int64_t>());
  cfg.max_unlock_time = seconds(c.at("max_unlock_time").to_number<int64_t>());
  return cfg;
}

LockState state_of(const json::object& o, TimePoint t0) {
  LockState s;
  if (auto* v = o.if_contains("failures_at"))
    for (const auto& f : v->as_array()) s.failures.push_back(at(f, t0));
  if (auto* v = o.if_contains("locked_until")) s.locked_until = at(*v, t0);
  if (auto* v = o.if_contains("lock_count")) s.lock_count = static_cast<int>(v->to_number<int64_t>());
  if (auto* v = o.if_contains("refused")) s.refused = v->to_number<int64_t>();
  if (auto* v = o.if_contains("last_failure")) s.last_failure = at(*v, t0);
  if (auto* v = o.if_contains("last_success")) s.last_success = at(*v, t0);
  if (auto* v = o.if_contains("sources"))
    for (const auto& p : v->as_array())
      s.sources.emplace_back(std::string(p.as_array().at(0).as_string()), at(p.as_array().at(1), t0));
  return s;
}

Outcome outcome_of(const json::value& v) {
  const std::string o(v.as_string());
  if (o == "failure") return Outcome::kFailure;
  if (o == "success") return Outcome::kSuccess;
  if (o == "password_ok") return Outcome::kPasswordOk;
  ADD_FAILURE() << "unknown outcome " << o;
  return Outcome::kFailure;
}

bool flag(const json::object& o, const char* key) {
  auto* v = o.if_contains(key);
  return v && v->as_bool();
}

// Compares every member of `expect` with what the step produced; returns
// the mismatches, one per line ("member: expected X, got Y").
std::string mismatches(const json::object& expect, const Decision& d, const LockState& s,
                       const LockoutConfig& cfg, TimePoint now, TimePoint t0) {
  std::string out;
  auto check = [&](const std::string& member, const std::string& want, const std::string& got) {
    if (want != got) out += "  " + member + ": expected " + want + ", got " + got + "\n";
  };
  auto b = [](bool v) { return std::string(v ? "true" : "false"); };
  for (const auto& [key, want] : expect) {
    const std::string k(key);
    if (k == "allow") check(k, b(want.as_bool()), b(d.allow));
    else if (k == "refused_locked") check(k, b(want.as_bool()), b(d.refused_locked));
    else if (k == "counted") check(k, b(want.as_bool()), b(d.counted));
    else if (k == "locked_now") check(k, b(want.as_bool()), b(d.locked_now));
    else if (k == "unlocked") check(k, b(want.as_bool()), b(d.unlocked));
    else if (k == "reset") check(k, b(want.as_bool()), b(d.reset));
    else if (k == "lock_for") check(k, json::serialize(want), std::to_string(d.lock_for.count()));
    else if (k == "locked_until") check(k, text(at(want, t0), t0), text(s.locked_until, t0));
    else if (k == "last_failure") check(k, text(at(want, t0), t0), text(s.last_failure, t0));
    else if (k == "last_success") check(k, text(at(want, t0), t0), text(s.last_success, t0));
    else if (k == "lock_count") check(k, json::serialize(want), std::to_string(s.lock_count));
    else if (k == "refused") check(k, json::serialize(want), std::to_string(s.refused));
    else if (k == "failures") check(k, json::serialize(want), std::to_string(s.failures.size()));
    else if (k == "failures_at") {
      std::string got = "[";
      for (size_t i = 0; i < s.failures.size(); ++i) got += (i ? "," : "") + text(s.failures[i], t0);
      check(k, json::serialize(want), got + "]");
    } else if (k == "sources") {
      json::array got;
      for (const auto& p : s.sources) got.emplace_back(json::string(p.first));
      check(k, json::serialize(want), json::serialize(got));
    } else if (k == "distinct_sources_except") {
      json::array items = want.is_array() ? want.as_array() : json::array{want};
      for (const auto& item : items) {
        const auto& o = item.as_object();
        const std::string except(o.at("except").as_string());
        check(k + "(\"" + except + "\")", json::serialize(o.at("n")),
              std::to_string(distinct_sources(s, cfg, now, except)));
      }
    } else {
      out += "  unknown expect member " + k + "\n";
    }
  }
  return out;
}

TEST(PolicyCases, AllPass) {
  const json::value doc = load_cases();
  ASSERT_TRUE(doc.is_object());
  const TimePoint t0 = from_epoch(doc.at("t0").to_number<int64_t>());
  const auto& cases = doc.at("cases").as_array();
  EXPECT_GE(cases.size(), 25u);
  int steps_run = 0;
  for (const auto& cv : cases) {
    const auto& c = cv.as_object();
    const std::string name(c.at("name").as_string());
    const LockoutConfig cfg = config_of(c.at("config").as_object());
    LockState s;
    if (auto* st = c.if_contains("state")) s = state_of(st->as_object(), t0);
    int i = 0;
    for (const auto& sv : c.at("steps").as_array()) {
      const auto& step = sv.as_object();
      Attempt a;
      a.outcome = outcome_of(step.at("outcome"));
      a.root_caller = flag(step, "root_caller");
      a.exempt = flag(step, "exempt");
      a.now = at(step.at("at"), t0);
      if (auto* src = step.if_contains("source")) a.source = std::string(src->as_string());
      const Decision d = decide(s, a, cfg);
      const std::string bad = mismatches(step.at("expect").as_object(), d, s, cfg, a.now, t0);
      if (!bad.empty())
        ADD_FAILURE() << "case \"" << name << "\", step " << i << " (at " << text(a.now, t0)
                      << "):\n" << bad;
      ++i;
      ++steps_run;
    }
  }
  EXPECT_GT(steps_run, 0);
}

}  // namespace
}  // namespace vigil
