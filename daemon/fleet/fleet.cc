#include "daemon/fleet/fleet.h"

#include <libpq-fe.h>

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>
#include <cstdio>
#include <fstream>

#include "daemon/core/log.h"

namespace vigil::fleet {
namespace {

// Parameters moved in, never copied: call() wipes what it holds, and an
// initializer_list would leave unwiped copies of codes behind.
template <class... A>
std::vector<Value> params_of(A&&... a) {
  std::vector<Value> v;
  v.reserve(sizeof...(A));
  (v.emplace_back(std::forward<A>(a)), ...);
  return v;
}

constexpr char kReport[] = "vigil_report";
constexpr char kBlockOf[] = "vigil_block_of";
constexpr char kBlockAccount[] = "vigil_block_account";
constexpr char kHosts[] = "vigil_hosts";
constexpr char kVerify[] = "vigil_verify";
constexpr char kFactor[] = "vigil_factor";
constexpr char kQuarantine[] = "vigil_quarantine";
constexpr char kTotpEnroll[] = "vigil_totp_enroll";
constexpr char kTotpConfirm[] = "vigil_totp_confirm";
constexpr char kRecoveryCodes[] = "vigil_recovery_codes";
constexpr char kRecover[] = "vigil_recover";
constexpr char kHeartbeat[] = "vigil_heartbeat";
constexpr char kSnapshot[] = "vigil_snapshot";
constexpr char kEvents[] = "vigil_events";
constexpr char kChannel[] = "vigil_events";
constexpr char kIdentity[] = "vigil_identity";
constexpr char kReplay[] = "vigil_replay";
// Events read per call; more are read at once after a full batch.
constexpr int kEventBatch = 500;
constexpr auto kNonceTtl = std::chrono::minutes(2);
// One event's kind, account and commit time, to the microsecond.
constexpr char kFingerprint[] = "e.kind || '/' || coalesce(e.account, '') || '/' || extract(epoch FROM e.at)::text";

std::vector<Prepared> statements() {
  return {
      {kReport,
       "SELECT verdict, reason, known, locked_until_epoch, lock_count, counted, locked_now, blocked_now "
       "FROM vigil.report($1, $2, $3, $4, $5::text[], $6::int[], $7::boolean, $8::boolean, $9::boolean, "
       "$10::boolean, $11)",
       11},
      {kBlockOf, "SELECT reason FROM vigil.block WHERE account = $1", 1},
      {kBlockAccount, "SELECT seq, changed FROM vigil.block_account($1, $2, $3)", 3},
      {kVerify, "SELECT ok, reason FROM vigil.verify($1, $2)", 2},
      {kFactor,
       "SELECT f.active, EXISTS (SELECT 1 FROM vigil.admin a WHERE a.account = $1) AS admin FROM vigil.factor($1) f",
       1},
      {kQuarantine, "SELECT ok, reason, seq FROM vigil.quarantine($1, $2, $3, $4::boolean, $5)", 5},
      {kTotpEnroll, "SELECT vigil.totp_enroll($1, $2, $3) AS secret", 3},
      {kTotpConfirm, "SELECT vigil.totp_confirm($1, $2) AS ok", 2},
      {kRecoveryCodes, "SELECT code FROM vigil.recovery_codes($1, $2, $3) AS code", 3},
      {kRecover, "SELECT ok, reason, seq FROM vigil.recover($1, $2, $3, $4, $5)", 5},
      {kHosts,
       "SELECT name, trust_group, quarantined, applied_seq, coalesce(extract(epoch FROM last_seen)::bigint, 0), "
       "auto_blocks, (SELECT n FROM vigil.seq) FROM vigil.host ORDER BY name",
       0},
      {kHeartbeat, "SELECT max_seq, quarantined, trust_group FROM vigil.heartbeat($1)", 1},
      // One statement, one snapshot: the blocks in force and the seq they
      // are current at.
      {kSnapshot,
       "SELECT s.n, b.account, b.reason, b.by, b.host, (SELECT " + std::string(kFingerprint) +
           " FROM vigil.event e WHERE e.seq = s.n) FROM vigil.seq s LEFT JOIN vigil.block b ON true "
           "ORDER BY b.account",
       0},
      {kEvents,
       "SELECT seq, kind, coalesce(account, ''), coalesce(host, ''), coalesce(actor, ''), details::text, "
       + std::string(kFingerprint) + " FROM vigil.event e WHERE seq > $1 ORDER BY seq LIMIT " +
           std::to_string(kEventBatch),
       1},
      // The server's identity, its newest seq, and the fingerprint of the
      // event at $1 (degraded.cc: a different one is another history).
      {kIdentity,
       "SELECT (SELECT system_identifier FROM pg_control_system())::text AS sysid, "
       "CASE WHEN pg_is_in_recovery() THEN '' ELSE pg_walfile_name(pg_current_wal_lsn()) END AS wal, "
       "(SELECT n FROM vigil.seq) AS max_seq, "
       "(SELECT " + std::string(kFingerprint) + " FROM vigil.event e WHERE e.seq = $1) AS fingerprint",
       1},
      {kReplay, "SELECT local_seq, result FROM vigil.replay($1, $2::jsonb)", 2},
  };
}

bool flag(const Rows& r, const char* col) {
  const int i = r.column(col);
  return i >= 0 && r.rows[0][i] && *r.rows[0][i] == "t";
}

std::string text(const Rows& r, const char* col) {
  const int i = r.column(col);
  return i >= 0 && r.rows[0][i] ? *r.rows[0][i] : std::string();
}

int64_t number(const Rows& r, const char* col) {
  const std::string s = text(r, col);
  int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

const char* boolean(bool b) { return b ? "true" : "false"; }

}  // namespace

std::string describe_target(const FleetConfig& cfg) {
  std::string where = !cfg.hostaddr.empty() ? cfg.hostaddr : cfg.host;
  if (!where.empty()) return where + (cfg.port ? ":" + std::to_string(cfg.port) : std::string());
  std::string u = cfg.url;
  const auto scheme = u.find("://");
  if (scheme == std::string::npos) return "(the connection string's server)";
  std::string rest = u.substr(scheme + 3);
  if (auto at = rest.rfind('@', rest.find('/')); at != std::string::npos) rest = rest.substr(at + 1);
  if (auto q = rest.find('?'); q != std::string::npos) rest.resize(q);
  return rest;
}

std::string text_array(const std::vector<std::string>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

std::vector<std::pair<std::string, std::string>> connection_params(const FleetConfig& cfg,
                                                                   const std::string& host_name) {
  std::vector<std::pair<std::string, std::string>> p;
  if (!cfg.url.empty()) p.emplace_back("dbname", cfg.url);  // expanded: the first dbname only
  auto set = [&](const char* k, const std::string& v) {
    if (!v.empty()) p.emplace_back(k, v);
  };
  set("host", cfg.host);
  set("hostaddr", cfg.hostaddr);
  if (cfg.port) p.emplace_back("port", std::to_string(cfg.port));
  if (!cfg.dbname.empty()) p.emplace_back("dbname", cfg.dbname);
  else if (cfg.url.empty()) p.emplace_back("dbname", "vigil");
  // TLS with the server's name checked, unless the URL or the file says otherwise.
  bool url_sets_sslmode = false;
  if (!cfg.url.empty()) {
    char* err = nullptr;
    if (PQconninfoOption* opts = PQconninfoParse(cfg.url.c_str(), &err)) {
      for (PQconninfoOption* o = opts; o->keyword; ++o)
        if (std::string_view(o->keyword) == "sslmode" && o->val && *o->val) url_sets_sslmode = true;
      PQconninfoFree(opts);
    }
    if (err) PQfreemem(err);
  }
  if (!cfg.sslmode.empty()) p.emplace_back("sslmode", cfg.sslmode);
  else if (!url_sets_sslmode) p.emplace_back("sslmode", "verify-full");
  set("sslcert", cfg.sslcert);
  set("sslkey", cfg.sslkey);
  set("sslrootcert", cfg.sslrootcert);
  p.emplace_back("user", host_name);
  p.emplace_back("application_name", "vigild");
  // No Kerberos exchange on the I/O thread (libpq's GSSAPI would block it).
  p.emplace_back("gssencmode", "disable");
  // The server gives up on a statement or a row lock a little after the
  // host has (the host drops the connection at db_timeout).
  const auto ms = std::to_string(cfg.db_timeout.count() * 2);
  p.emplace_back("options", "-c statement_timeout=" + ms + " -c lock_timeout=" + ms);
  p.emplace_back("keepalives", "1");
  p.emplace_back("keepalives_idle", "5");
  p.emplace_back("keepalives_interval", "2");
  p.emplace_back("keepalives_count", "3");
  p.emplace_back("tcp_user_timeout", std::to_string(std::max<int64_t>(cfg.db_timeout.count() * 10, 2000)));
  return p;
}

Fleet::Fleet(boost::asio::any_io_executor ex, FleetConfig cfg, std::string host_name)
    : cfg_(std::move(cfg)), host_name_(std::move(host_name)), ex_(ex),
      degraded_steady_(std::chrono::steady_clock::now()) {
  PgConnection::Options o;
  o.params = connection_params(cfg_, host_name_);
  o.statements = statements();
  o.timeout = cfg_.db_timeout;
  o.listen = {kChannel};
  o.on_notify = [this](const std::string&, const std::string&) { poke(); };
  o.on_state = [this](bool ready, const std::string& why) {
    if (stopped_) return;
    if (!ready && conn_->refused()) {
      refuse(why);
    } else if (ready) {
      log::event(log::Priority::kNotice, log::kMsgFleetConnected,
                 "fleet database connected as host " + host_name_ + "; catching up", {{"VIGIL_HOST", host_name_}});
      catch_up();
    } else {
      enter_degraded(why);
    }
    if (on_change_) on_change_();
  };
  conn_ = std::make_unique<PgConnection>(ex, std::move(o));
}

Fleet::~Fleet() = default;

void Fleet::start() {
  conn_->start();
  if (apply_) arm_poll();
}

void Fleet::stop() {
  stopped_ = true;
  if (poll_timer_) poll_timer_->cancel();
  conn_->stop();
}

std::optional<std::string> Fleet::account_of(int64_t uid, const std::string& name) const {
  if (uid < cfg_.uid_min && !cfg_.system_accounts_fleet) return std::nullopt;
  if (cfg_.identity == FleetIdentity::kUid) return "uid:" + std::to_string(uid);
  return name;
}

void Fleet::remember_failure(const std::string& key) {
  const auto now = std::chrono::steady_clock::now();
  if (failed_nonces_.size() >= kNonceMax)
    std::erase_if(failed_nonces_, [&](const auto& e) { return e.second + kNonceTtl <= now; });
  if (failed_nonces_.size() < kNonceMax) failed_nonces_[key] = now;
}

void Fleet::report(ReportIn in, std::function<void(Result<ReportOut>)> done) {
  std::string nonce_key;
  if (!in.nonce.empty()) {
    nonce_key = in.account + '\n' + in.nonce;
    auto it = failed_nonces_.find(nonce_key);
    if (it != failed_nonces_.end() && it->second + kNonceTtl > std::chrono::steady_clock::now()) {
      ReportOut out;
      out.verdict = "deny";
      out.reason = "counted";
      out.duplicate = true;
      return done(std::move(out));
    }
  }
  std::vector<std::string> keys, scales;
  for (const auto& k : in.throttle) {
    keys.push_back(k.key);
    scales.push_back(std::to_string(k.scale));
  }
  std::vector<Value> params{in.account.empty() ? Value() : Value(in.account),
                            in.outcome,
                            in.source,
                            in.device,
                            text_array(keys),
                            text_array(scales),
                            boolean(in.exempt),
                            boolean(in.root_caller),
                            boolean(in.console),
                            boolean(in.needs_code),
                            in.service};
  const bool failure = in.outcome == "failure";
  conn_->call(kReport, std::move(params),
              [this, done = std::move(done), nonce_key, failure](Result<Rows> r) {
                if (!r) return done(r.error());
                if (r->rows.size() != 1) return done(Error::Store("vigil.report() gave no decision"));
                ReportOut out;
                out.verdict = text(*r, "verdict");
                out.reason = text(*r, "reason");
                out.known = flag(*r, "known");
                out.locked_until = number(*r, "locked_until_epoch");
                out.lock_count = static_cast<int>(number(*r, "lock_count"));
                out.counted = flag(*r, "counted");
                out.locked_now = flag(*r, "locked_now");
                out.blocked_now = flag(*r, "blocked_now");
                if (out.verdict != "allow" && out.verdict != "verify" && out.verdict != "deny")
                  return done(Error::Store("vigil.report() gave an unknown verdict"));
                if (failure && !nonce_key.empty()) remember_failure(nonce_key);
                done(std::move(out));
              });
}

void Fleet::block_of(const std::string& account, std::function<void(Result<std::optional<std::string>>)> done) {
  conn_->call(kBlockOf, {Value(account)}, [done = std::move(done)](Result<Rows> r) {
    if (!r) return done(r.error());
    if (r->rows.empty()) return done(std::optional<std::string>());
    return done(std::optional<std::string>(r->rows[0][0].value_or("")));
  });
}

void Fleet::block(std::string account, std::string reason, std::string actor,
                  std::function<void(Result<BlockOut>)> done) {
  conn_->call(kBlockAccount, {Value(std::move(account)), Value(std::move(reason)), Value(std::move(actor))},
              [this, done = std::move(done)](Result<Rows> r) {
                if (!r) return done(r.error());
                if (r->rows.size() != 1) return done(Error::Store("vigil.block_account() gave no answer"));
                BlockOut out{number(*r, "seq"), flag(*r, "changed")};
                if (out.changed) poke();
                done(out);
              });
}

void Fleet::totp_enroll(std::string account, std::string actor, std::string actor_code,
                        std::function<void(Result<std::optional<std::string>>)> done) {
  conn_->call(kTotpEnroll, params_of(std::move(account), std::move(actor), std::move(actor_code)),
              [done = std::move(done)](Result<Rows> r) {
                if (!r) return done(r.error());
                if (r->rows.size() != 1) return done(Error::Store("vigil.totp_enroll() gave no answer"));
                done(std::move(r->rows[0][0]));
              });
}

void Fleet::totp_confirm(std::string account, std::string code, std::function<void(Result<bool>)> done) {
  std::string key = account;
  conn_->call(kTotpConfirm, params_of(std::move(account), std::move(code)),
              [this, key, done = std::move(done)](Result<Rows> r) {
                if (!r) return done(r.error());
                const bool ok = !r->rows.empty() && flag(*r, "ok");
                if (ok) known_.erase(key);  // it has one now: asked again before it is trusted
                done(ok);
              });
}

void Fleet::recovery_codes(std::string account, std::string actor, std::string actor_code,
                           std::function<void(Result<std::vector<std::string>>)> done) {
  conn_->call(kRecoveryCodes, params_of(std::move(account), std::move(actor), std::move(actor_code)),
              [done = std::move(done)](Result<Rows> r) {
                if (!r) return done(r.error());
                std::vector<std::string> codes;
                for (auto& row : r->rows)
                  if (!row.empty() && row[0]) codes.push_back(std::move(*row[0]));
                done(std::move(codes));
              });
}

void Fleet::factor(std::string account, std::function<void(Result<bool>)> done) {
  conn_->call(kFactor, {Value(account)}, [this, account, done = std::move(done)](Result<Rows> r) {
    if (!r) return done(r.error());
    const bool active = !r->rows.empty() && flag(*r, "active");
    if (known_.size() >= kChallengeMax && !known_.count(account)) known_.clear();
    known_[account] = Known{active, !r->rows.empty() && flag(*r, "admin"), std::chrono::steady_clock::now()};
    done(active);
  });
}

std::optional<Fleet::Known> Fleet::known(const std::string& account) const {
  auto it = known_.find(account);
  if (it == known_.end() || std::chrono::steady_clock::now() - it->second.at > kKnownFor) return std::nullopt;
  return it->second;
}

bool Fleet::add_challenge(const std::string& key, Challenge c) {
  const auto now = std::chrono::steady_clock::now();
  if (challenges_.size() >= kChallengeMax)
    std::erase_if(challenges_, [&](const auto& e) { return e.second.expires <= now; });
  if (challenges_.size() >= kChallengeMax) return false;
  c.expires = now + std::chrono::minutes(5);
  challenges_[key] = std::move(c);
  return true;
}

std::optional<Challenge> Fleet::take_challenge(const std::string& key) {
  auto it = challenges_.find(key);
  if (it == challenges_.end()) return std::nullopt;
  Challenge c = std::move(it->second);
  challenges_.erase(it);
  if (c.expires <= std::chrono::steady_clock::now()) return std::nullopt;
  return c;
}

void Fleet::verify(std::string account, std::string code, std::function<void(Result<std::string>)> done) {
  conn_->call(kVerify, params_of(std::move(account), std::move(code)), [done = std::move(done)](Result<Rows> r) {
    if (!r) return done(r.error());
    if (r->rows.size() != 1) return done(Error::Store("vigil.verify() gave no answer"));
    done(text(*r, "reason"));
  });
}

void Fleet::recover(std::string account, std::string actor, std::string actor_code, std::optional<std::string> proof,
                    std::string reason, std::function<void(Result<RecoverOut>)> done) {
  conn_->call(kRecover,
              params_of(std::move(account), std::move(actor), std::move(actor_code), std::move(proof),
                        std::move(reason)),
              [this, done = std::move(done)](Result<Rows> r) {
                if (!r) return done(r.error());
                if (r->rows.size() != 1) return done(Error::Store("vigil.recover() gave no answer"));
                RecoverOut out{flag(*r, "ok"), text(*r, "reason"), number(*r, "seq")};
                if (out.seq > 0) poke();
                done(std::move(out));
              });
}

void Fleet::quarantine(std::string host, std::string actor, std::string actor_code, bool on, std::string reason,
                       std::function<void(Result<RecoverOut>)> done) {
  conn_->call(kQuarantine,
              params_of(std::move(host), std::move(actor), std::move(actor_code), std::string(on ? "true" : "false"),
                        std::move(reason)),
              [done = std::move(done)](Result<Rows> r) {
                if (!r) return done(r.error());
                if (r->rows.size() != 1) return done(Error::Store("vigil.quarantine() gave no answer"));
                done(RecoverOut{flag(*r, "ok"), text(*r, "reason"), number(*r, "seq")});
              });
}

void Fleet::hosts(std::function<void(Result<std::vector<HostRow>>)> done) {
  conn_->call(kHosts, {}, [done = std::move(done)](Result<Rows> r) {
    if (!r) return done(r.error());
    std::vector<HostRow> out;
    auto num = [](const Value& v) {
      int64_t n = 0;
      if (v) std::from_chars(v->data(), v->data() + v->size(), n);
      return n;
    };
    for (const auto& row : r->rows) {
      if (row.size() < 7) continue;
      out.push_back(HostRow{row[0].value_or(""), row[1].value_or(""), row[2] && *row[2] == "t", num(row[3]),
                            num(row[4]), num(row[5]), num(row[6])});
    }
    done(std::move(out));
  });
}

// ---- the replica ----

void Fleet::replicate(Applier apply, std::string position_file) {
  apply_ = std::move(apply);
  position_file_ = std::move(position_file);
  poll_timer_ = std::make_unique<boost::asio::steady_timer>(ex_);
  // "APPLIED\nFINGERPRINT\nSYSTEM_IDENTIFIER\nTIMELINE\n" (the lines after
  // the first may be missing or empty).
  std::ifstream in(position_file_);
  int64_t applied = -1;
  if (in >> applied && applied >= 0) {
    position_.applied = applied;
    position_.known = true;
    std::string rest;
    std::getline(in, rest);
    std::getline(in, position_.fingerprint);
    std::getline(in, position_.system_identifier);
    std::getline(in, position_.timeline);
  }
}

void Fleet::poke() {
  if (!apply_ || stopped_) return;
  if (replicating_) {
    again_ = true;
    return;
  }
  boost::asio::post(ex_, [this] { tick(); });
}

void Fleet::arm_poll() {
  if (stopped_ || !poll_timer_) return;
  poll_timer_->expires_after(cfg_.propagation);
  poll_timer_->async_wait([this](boost::system::error_code ec) {
    if (ec || stopped_) return;
    tick();
    arm_poll();
  });
}

void Fleet::tick() {
  if (!apply_ || replicating_ || stopped_ || catching() || !conn_->ready()) return;
  if (state_.degraded) return catch_up();  // an earlier catch-up failed: again
  replicating_ = true;
  again_ = false;
  position_.last_poll = std::chrono::system_clock::now();
  auto events = [this] {
    if (!position_.known) snapshot();
    else heartbeat();
  };
  if (!journal_pending_ || !journal_.read) return events();
  // A decision journaled as the host left degraded mode, or one cut by a
  // deadline that did not drop the connection.
  journal_pending_ = false;
  replay_journal([this, events](bool ok) {
    if (!ok) {
      journal_pending_ = true;  // tried again at the next tick
      return replicated(false);
    }
    events();
  });
}

bool Fleet::replica_fresh() const {
  if (!apply_) return true;
  return caught_up_ != std::chrono::steady_clock::time_point{} &&
         std::chrono::steady_clock::now() - caught_up_ < cfg_.fence;
}

void Fleet::replicated(bool ok) {
  replicating_ = false;
  if (ok && position_.known && position_.applied >= position_.max_seen)
    caught_up_ = std::chrono::steady_clock::now();
  if (state_.phase == "events") {
    if (!ok) return catch_up_failed(Error::Store("the events could not be applied"));
    // The journal once more (decisions made during the catch-up), then out.
    state_.phase = "replay";
    const uint64_t gen = catch_gen_;
    return replay_journal([this, gen](bool done) {
      if (gen != catch_gen_) return;
      if (!done) return catch_up_failed(last_replay_error_);
      leave_degraded();
    });
  }
  if (ok && again_) poke();
}

void Fleet::snapshot() {
  conn_->call(kSnapshot, {}, [this](Result<Rows> r) {
    if (!r || r->rows.empty()) return replicated(false);
    auto events = std::make_shared<std::vector<Event>>();
    int64_t seq = 0;
    for (const auto& row : r->rows) {
      if (row[0]) std::from_chars(row[0]->data(), row[0]->data() + row[0]->size(), seq);
      if (!row[1]) continue;  // no block: the seq alone
      boost::json::object d{{"reason", row[2].value_or("")}, {"by", row[3].value_or("")},
                             {"snapshot", true}};
      events->push_back(Event{0, "block", *row[1], row[4].value_or(""), row[3].value_or(""),
                              boost::json::serialize(d), {}});
    }
    // The event at the snapshot's seq (its fingerprint: the catch-up's check).
    std::string fp = r->rows[0].size() > 5 ? r->rows[0][5].value_or("") : std::string();
    for (auto& e : *events) {
      e.seq = seq;
      e.fingerprint = fp;
    }
    position_.fingerprint = fp;
    if (events->empty()) {
      position_.applied = seq;
      position_.known = true;
      position_.max_seen = std::max(position_.max_seen, seq);
      save_position();
      return replicated(true);
    }
    apply_from(events, 0, false);
  });
}

void Fleet::heartbeat() {
  conn_->call(kHeartbeat, {Value(std::to_string(position_.applied))}, [this](Result<Rows> r) {
    if (!r || r->rows.size() != 1) return replicated(false);
    position_.max_seen = std::max(position_.max_seen, number(*r, "max_seq"));
    // The trust group that counts is the database's record of this host;
    // a different one in vigil.conf is a mistake worth saying, once.
    const std::string group = text(*r, "trust_group");
    if (group != cfg_.trust_group && group != warned_group_) {
      warned_group_ = group;
      log::warning("[fleet] trust_group is \"" + cfg_.trust_group + "\" but the fleet records host " + host_name_ +
                   " in trust group \"" + group + "\": the database's record counts (vigil.add_host sets it)");
    }
    if (position_.max_seen <= position_.applied) return replicated(true);
    fetch_events();
  });
}

void Fleet::fetch_events() {
  conn_->call(kEvents, {Value(std::to_string(position_.applied))}, [this](Result<Rows> r) {
    if (!r) return replicated(false);
    auto events = std::make_shared<std::vector<Event>>();
    for (const auto& row : r->rows) {
      if (row.size() < 6 || !row[0]) continue;
      Event e;
      std::from_chars(row[0]->data(), row[0]->data() + row[0]->size(), e.seq);
      e.kind = row[1].value_or("");
      e.account = row[2].value_or("");
      e.host = row[3].value_or("");
      e.actor = row[4].value_or("");
      e.details = row[5].value_or("{}");
      e.fingerprint = row.size() > 6 ? row[6].value_or("") : std::string();
      events->push_back(std::move(e));
    }
    if (events->empty()) return replicated(true);
    apply_from(events, 0, static_cast<int>(events->size()) == kEventBatch);
  });
}

void Fleet::apply_from(std::shared_ptr<std::vector<Event>> events, std::size_t i, bool full) {
  if (stopped_) return;
  if (i == events->size()) {
    position_.applied = events->back().seq;
    position_.fingerprint = events->back().fingerprint;
    position_.known = true;
    position_.max_seen = std::max(position_.max_seen, position_.applied);
    save_position();
    if (full) return fetch_events();
    return replicated(true);
  }
  const Event& e = (*events)[i];
  apply_(e, [this, events, i, full](bool ok) {
    boost::asio::post(ex_, [this, events, i, full, ok] {
      if (!ok) {
        // Those before it are applied: keep them, and try this one again
        // later. A snapshot (every event at one seq) is all or nothing.
        if (i > 0 && (*events)[i - 1].seq != (*events)[i].seq) {
          position_.applied = (*events)[i - 1].seq;
          position_.fingerprint = (*events)[i - 1].fingerprint;
          save_position();
        }
        return replicated(false);
      }
      apply_from(events, i + 1, full);
    });
  });
}

// Written beside the state, replaced atomically: a crash leaves the old
// position or the new, and re-applying an event is harmless.
void Fleet::save_position() {
  if (position_file_.empty()) return;
  const std::string tmp = position_file_ + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    // -1: no position yet (a snapshot comes first), never 0 (the whole log).
    out << (position_.known ? position_.applied : int64_t(-1)) << "\n"
        << position_.fingerprint << "\n"
        << position_.system_identifier << "\n"
        << position_.timeline << "\n";
    out.flush();
    if (!out) {
      log::error("cannot write " + tmp + ": the fleet position is kept in memory only");
      return;
    }
  }
  if (int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC); fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  if (std::rename(tmp.c_str(), position_file_.c_str()) != 0)
    log::error("cannot replace " + position_file_ + ": the fleet position is kept in memory only");
}

std::string Fleet::status_text() const {
  if (!state_.refused.empty())
    return "fleet REFUSED by the database (" + state_.refused + "); fleet accounts get the module's failmode";
  if (state_.degraded && !conn_->ready())
    return "fleet DEGRADED: database unreachable (" + conn_->why_not() + "); deciding alone, journaling";
  if (state_.degraded) return "fleet DEGRADED: catching up (" + state_.phase + ")";
  char buf[32];
  const double ms = static_cast<double>(conn_->latency().count()) / 1000.0;
  std::snprintf(buf, sizeof buf, "%.1fms", ms);
  std::string out = "fleet database " + std::string(buf);
  if (apply_) {
    const int64_t lag = std::max<int64_t>(0, position_.max_seen - position_.applied);
    out += ", replica at " + std::to_string(position_.applied) + " (lag " + std::to_string(lag) + ")";
  }
  return out;
}

}  // namespace vigil::fleet
