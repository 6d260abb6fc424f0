#include "daemon/fleet/fleet.h"

#include <libpq-fe.h>

#include <charconv>

#include "daemon/core/log.h"

namespace vigil::fleet {
namespace {

constexpr char kReport[] = "vigil_report";
constexpr char kBlockOf[] = "vigil_block_of";
constexpr auto kNonceTtl = std::chrono::minutes(2);

std::vector<Prepared> statements() {
  return {
      {kReport,
       "SELECT verdict, reason, known, locked_until_epoch, lock_count, counted, locked_now, blocked_now "
       "FROM vigil.report($1, $2, $3, $4, $5::text[], $6::int[], $7::boolean, $8::boolean, $9::boolean, "
       "$10::boolean, $11)",
       11},
      {kBlockOf, "SELECT reason FROM vigil.block WHERE account = $1", 1},
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
    : cfg_(std::move(cfg)), host_name_(std::move(host_name)) {
  PgConnection::Options o;
  o.params = connection_params(cfg_, host_name_);
  o.statements = statements();
  o.timeout = cfg_.db_timeout;
  o.on_state = [this](bool ready, const std::string& why) {
    if (ready)
      log::event(log::Priority::kNotice, log::kMsgFleetConnected,
                 "fleet database connected as host " + host_name_, {{"VIGIL_HOST", host_name_}});
    else
      log::event(log::Priority::kErr, log::kMsgFleetUnreachable,
                 "fleet database unreachable: " + why +
                     "; fleet accounts' logins are answered as by an absent daemon (the module's failmode) "
                     "until it answers again",
                 {{"VIGIL_HOST", host_name_}, {"VIGIL_REASON", why}});
    if (on_change_) on_change_();
  };
  conn_ = std::make_unique<PgConnection>(ex, std::move(o));
}

Fleet::~Fleet() = default;

void Fleet::start() { conn_->start(); }
void Fleet::stop() { conn_->stop(); }

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

std::string Fleet::status_text() const {
  if (!conn_->ready()) return "fleet database UNREACHABLE (" + conn_->why_not() + ")";
  char buf[32];
  const double ms = static_cast<double>(conn_->latency().count()) / 1000.0;
  std::snprintf(buf, sizeof buf, "%.1fms", ms);
  return "fleet database " + std::string(buf);
}

}  // namespace vigil::fleet
