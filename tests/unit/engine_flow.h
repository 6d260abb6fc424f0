// A fixture for engine flows (tests/unit/test_engine_*.cc): an Engine over a
// temporary SQLite store, with a fake clock, a real TOTP key, and helpers for
// the calls a PAM login makes (report, then verify).
//
// The engine is never start()ed: jobs then run inline, each as one batch on
// the calling thread, and every answer (also those that wait for a commit)
// has been given when the call returns.
//
// TOTP codes are computed here with liboath's generator from the secret the
// engine showed at enrolment (decoded by the base32 decoder below), not with
// the engine's own code; the oracle is checked against RFC 6238 in
// test_engine_totp.cc.
#pragma once

#include <gtest/gtest.h>
#include <liboath/oath.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>

#include "daemon/core/device.h"
#include "daemon/core/secrets.h"
#include "daemon/engine/engine.h"
#include "daemon/store/sqlite_store.h"

namespace vigil::flow {

using namespace std::chrono_literals;

class FakeClock final : public Clock {
 public:
  TimePoint now() const override { return from_epoch(t_.load()); }
  void advance(std::chrono::seconds s) { t_ += s.count(); }

 private:
  std::atomic<long long> t_{1'700'000'000};  // 20 s into a 30 s step
};

// RFC 4648 base32, upper case, padding optional.
inline Bytes base32_decode(std::string_view text) {
  Bytes out;
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=') break;
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= '2' && c <= '7') {
      v = c - '2' + 26;
    } else {
      ADD_FAILURE() << "not base32: " << text;
      return {};
    }
    buffer = (buffer << 5) | static_cast<uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>((buffer >> bits) & 0xff));
    }
  }
  return out;
}

// The 6-digit TOTP code (30 s steps, HMAC-SHA1) of `secret` at time `t`.
inline std::string code_at(const Bytes& secret, TimePoint t) {
  static const int init = oath_init();
  (void)init;
  char buf[16] = {};
  int rc = oath_totp_generate(reinterpret_cast<const char*>(secret.data()), secret.size(),
                              static_cast<time_t>(to_epoch(t)), 30, 0, 6, buf);
  EXPECT_EQ(rc, OATH_OK);
  return buf;
}

// A well-formed code that matches no step within 12 steps of `now`.
inline std::string wrong_code(const Bytes& secret, TimePoint now) {
  std::set<std::string> near;
  for (int k = -12; k <= 12; ++k) near.insert(code_at(secret, now + std::chrono::seconds(30 * k)));
  for (int i = 0;; ++i) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%06d", (123457 + i * 7919) % 1000000);
    if (!near.count(buf)) return buf;
  }
}

inline std::string user_name(int64_t uid) { return "user" + std::to_string(uid); }
inline std::string account_key(int64_t uid) { return "uid:" + std::to_string(uid); }
inline std::string known_key(int64_t uid, const std::string& device) {
  return account_key(uid) + ":dev:" + device;
}

class EngineFlow : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vigil-flow-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    unsetenv("CREDENTIALS_DIRECTORY");
    auto k = SecretKey::load(dir_ + "/totp.key", false);
    ASSERT_TRUE(k.ok()) << k.error().message;
    key_ = std::move(*k);
    // Short, distinct lengths so that each rule's effect can be told apart.
    lockout_.deny = 3;
    lockout_.fail_interval = 12h;
    lockout_.unlock_time = 600s;
    lockout_.max_unlock_time = 24h;
    throttle_.deny = 0;  // off unless a test turns it on
  }
  void TearDown() override {
    engine_.reset();
    key_.reset();
    std::filesystem::remove_all(dir_);
  }

  // The engine, made on first use with the settings the test chose.
  Engine& engine() {
    if (!engine_) {
      auto s = SqliteStore::open(dir_ + "/vigil.db");
      EXPECT_TRUE(s.ok());
      engine_ = std::make_unique<Engine>(std::move(*s), clock_, lockout_, key_.get(), totp_, devices_,
                                         block_, throttle_, tokens_, mode_);
    }
    return *engine_;
  }

  // Calls an engine method and returns its answer (given inline).
  template <class R, class F>
  R call(F&& start) {
    std::optional<R> out;
    start([&out](R r) { out.emplace(std::move(r)); });
    if (!out) throw std::runtime_error("the engine did not answer inline");
    return std::move(*out);
  }

  // A password report from a root caller (sshd) about uid, with a fresh nonce.
  // `rhost` also sets the source the way the dispatcher does.
  ReportRequest login(int64_t uid, Outcome o, std::string device = {}, std::string rhost = {}) {
    ReportRequest r;
    r.key = account_key(uid);
    r.uid = uid;
    r.name = user_name(uid);
    r.nonce = "call-" + std::to_string(++nonce_);
    r.outcome = o;
    r.root_caller = true;
    r.device = std::move(device);
    r.rhost = std::move(rhost);
    r.source = device::source_key(device::parse_source(r.rhost));
    r.service = "sshd";
    return r;
  }
  // A report about a user name NSS does not know.
  ReportRequest unknown_name(const std::string& name, std::string rhost) {
    ReportRequest r;
    r.key = "name:" + name;
    r.nonce = "call-" + std::to_string(++nonce_);
    r.outcome = Outcome::kFailure;
    r.root_caller = true;
    r.rhost = std::move(rhost);
    r.source = device::source_key(device::parse_source(r.rhost));
    r.service = "sshd";
    return r;
  }

  ReportResult report(ReportRequest r) {
    return call<ReportResult>([&](auto done) { engine().report(std::move(r), done); });
  }
  // The code step of the same call as `r` (same key, nonce and caller).
  VerifyResult verify(const ReportRequest& r, std::string code) {
    VerifyRequest v{r.key, r.uid.value_or(0), r.name, r.nonce, std::move(code), r.root_caller, false};
    return call<VerifyResult>([&](auto done) { engine().verify(std::move(v), done); });
  }
  TotpResult totp(TotpOp op, int64_t uid, bool root_caller, std::string code = {},
                  bool password_proven = false) {
    TotpRequest q;
    q.op = op;
    q.uid = uid;
    q.name = user_name(uid);
    q.root_caller = root_caller;
    q.code = std::move(code);
    q.password_proven = password_proven;
    return call<TotpResult>([&](auto done) { engine().totp(std::move(q), done); });
  }
  AccountView view(int64_t uid) {
    auto v = call<Result<AccountView>>([&](auto done) { engine().get(account_key(uid), uid, done); });
    if (!v.ok()) {
      ADD_FAILURE() << v.error().message;
      return {};
    }
    return std::move(*v);
  }
  // One bucket by key (a source's "src:...", an account's), as stored or cached.
  std::optional<BucketRecord> bucket(const std::string& key) {
    auto v = call<Result<AccountView>>([&](auto done) { engine().get(key, std::nullopt, done); });
    if (!v.ok()) {
      ADD_FAILURE() << v.error().message;
      return std::nullopt;
    }
    return v->bucket;
  }
  // Failures on record in a bucket (0 when there is none).
  size_t failures(const std::string& key) {
    auto b = bucket(key);
    return b ? b->state.failures.size() : 0;
  }
  bool locked(const std::string& key) {
    auto b = bucket(key);
    return b && b->state.locked_at(clock_.now());
  }
  // The throttle's sources with state (Engine::sources), and a lift.
  std::vector<BucketRecord> sources() {
    auto v = call<Result<std::vector<BucketRecord>>>([&](auto done) { engine().sources(done); });
    if (!v.ok()) ADD_FAILURE() << v.error().message;
    return v.ok() ? *v : std::vector<BucketRecord>{};
  }
  int64_t lift(std::vector<std::string> keys) {
    auto v = call<Result<int64_t>>([&](auto done) { engine().lift(keys, done); });
    if (!v.ok()) ADD_FAILURE() << v.error().message;
    return v.ok() ? *v : -1;
  }

  // Enrols and confirms a factor for uid (by root) and returns its secret.
  // The clock then moves on one step, so that the next code is a fresh one
  // (the confirming step is never accepted again).
  Bytes enrol(int64_t uid) {
    auto e = totp(TotpOp::kEnroll, uid, true);
    EXPECT_TRUE(e.status.ok());
    Bytes secret = base32_decode(e.secret_b32);
    EXPECT_EQ(secret.size(), 20u);
    auto c = totp(TotpOp::kConfirm, uid, true, code_at(secret, clock_.now()));
    EXPECT_TRUE(c.status.ok()) << (c.status.ok() ? "" : c.status.error().message);
    clock_.advance(30s);
    return secret;
  }

  // A complete login: the report and, when one is asked for, the right code.
  // Returns whether it was allowed. A code used moves the clock on one step.
  bool complete_login(ReportRequest r, const Bytes* secret = nullptr) {
    ReportRequest copy = r;
    auto res = report(std::move(r));
    if (!res.verify) return res.decision.allow;
    auto v = verify(copy, secret ? code_at(*secret, clock_.now()) : std::string("000000"));
    if (secret) clock_.advance(30s);
    return v.allow;
  }

  std::string dir_;
  FakeClock clock_;
  std::unique_ptr<SecretKey> key_;
  LockoutConfig lockout_;
  TotpConfig totp_;
  DevicesConfig devices_;
  BlockConfig block_;
  ThrottleConfig throttle_;
  TokensConfig tokens_;
  DaemonMode mode_ = DaemonMode::kEnforce;
  std::unique_ptr<Engine> engine_;
  int nonce_ = 0;
};

// For parameterised fixtures.
template <class P>
class EngineFlowP : public EngineFlow, public ::testing::WithParamInterface<P> {};

}  // namespace vigil::flow
