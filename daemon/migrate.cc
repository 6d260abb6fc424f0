#include "daemon/migrate.h"

#include <libpq-fe.h>
#include <sodium.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "daemon/core/secrets.h"
#include "daemon/core/totp.h"
#include "daemon/fleet/fleet.h"
#include "daemon/os/nss.h"
#include "daemon/os/state_dir.h"
#include "daemon/store/sqlite_store.h"

namespace vigil {
namespace {

int fail(const std::string& why) {
  std::cerr << "vigild: migrate: " << why << "\n";
  return 1;
}

std::string trimmed(std::string m) {
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m;
}

struct PgCloser {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct ResCloser {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Res = std::unique_ptr<PGresult, ResCloser>;

// "{1700000000,1700000060}": epochs as a float8[] literal.
std::string epochs(const std::vector<TimePoint>& ts) {
  std::string out = "{";
  for (std::size_t i = 0; i < ts.size(); ++i) out += (i ? "," : "") + std::to_string(to_epoch(ts[i]));
  return out + "}";
}

std::string epoch_or_zero(TimePoint t) { return std::to_string(t == TimePoint{} ? 0 : to_epoch(t)); }

class Importer {
 public:
  Importer(PGconn* c, std::string host) : c_(c), host_(std::move(host)) {}

  // One import call: its answer ("inserted", "merged", "already imported",
  // "conflict: ..."), counted; a conflict printed.
  bool run(const char* kind, const std::string& sql, std::vector<std::optional<std::string>> params) {
    params.insert(params.begin(), host_);
    std::vector<const char*> values;
    for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
    Res r(PQexecParams(c_, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr, nullptr, 0));
    for (auto& p : params)
      if (p) sodium_memzero(p->data(), p->size());
    if (!r || PQresultStatus(r.get()) != PGRES_TUPLES_OK || PQntuples(r.get()) != 1) {
      error_ = std::string(kind) + ": " + trimmed(r ? PQresultErrorMessage(r.get()) : PQerrorMessage(c_));
      return false;
    }
    const std::string answer = PQgetisnull(r.get(), 0, 0) ? "" : PQgetvalue(r.get(), 0, 0);
    auto& n = counts_[kind];
    if (answer.starts_with("conflict")) {
      ++n.conflicts;
      std::cout << "vigild: migrate: " << kind << ": " << answer << "\n";
    } else if (answer == "already imported") {
      ++n.skipped;
    } else {
      ++n.imported;
    }
    return true;
  }

  void report(const char* kind) const {
    auto it = counts_.find(kind);
    const Counts n = it == counts_.end() ? Counts{} : it->second;
    std::cout << "vigild: migrate: " << kind << ": " << n.imported << " imported, " << n.skipped
              << " already imported, " << n.conflicts << " conflict(s)\n";
  }

  int conflicts() const {
    int total = 0;
    for (const auto& [k, n] : counts_) total += n.conflicts;
    return total;
  }
  const std::string& error() const { return error_; }

 private:
  struct Counts {
    int imported = 0, skipped = 0, conflicts = 0;
  };
  PGconn* c_;
  std::string host_;
  std::map<std::string, Counts> counts_;
  std::string error_;
};

}  // namespace

int migrate_to(const Config& cfg, const std::string& url, bool check) {
  std::string host = cfg.fleet.host_name;
  if (host.empty()) {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return fail("[fleet] host_name is unset and the machine has no host name");
    host = buf;
    host = host.substr(0, host.find('.'));
  }
  auto state = StateDir::open(cfg.daemon.state_dir);
  if (!state) {
    if (state.error().is_locked())
      return fail("the state directory " + cfg.daemon.state_dir +
                  " is locked: vigild is running. Stop it first: systemctl stop vigild.socket "
                  "vigild-admin.socket vigild-token.socket vigild.service");
    return fail(state.error().message);
  }
  auto store = SqliteStore::open(state->database_path());
  if (!store) return fail(store.error().message);
  Store& st = **store;
  auto secrets = st.count_totp_secrets();
  if (!secrets) return fail(secrets.error().message);
  std::unique_ptr<SecretKey> key;
  if (*secrets > 0) {
    auto k = SecretKey::load(cfg.totp_key_path(), true);
    if (!k) return fail("the TOTP key: " + k.error().message);
    key = std::move(*k);
  }

  std::unique_ptr<PGconn, PgCloser> conn(PQconnectdb(url.c_str()));
  if (!conn || PQstatus(conn.get()) != CONNECTION_OK)
    return fail("cannot connect: " + trimmed(conn ? PQerrorMessage(conn.get()) : "out of memory"));
  PGconn* c = conn.get();
  auto exec = [&](const char* sql) -> std::optional<std::string> {
    Res r(PQexec(c, sql));
    const auto s = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) return std::nullopt;
    return trimmed(r ? PQresultErrorMessage(r.get()) : PQerrorMessage(c));
  };
  exec("SET client_min_messages = warning");
  std::string trust_group;
  {
    const char* v[] = {host.c_str()};
    Res r(PQexecParams(c, "SELECT trust_group FROM vigil.host WHERE name = $1", 1, nullptr, v, nullptr, nullptr, 0));
    if (!r || PQresultStatus(r.get()) != PGRES_TUPLES_OK)
      return fail(trimmed(r ? PQresultErrorMessage(r.get()) : PQerrorMessage(c)));
    if (PQntuples(r.get()) != 1)
      return fail("no host " + host + " in the fleet: add it first (SELECT vigil.add_host('" + host + "', ...))");
    trust_group = PQgetvalue(r.get(), 0, 0);
  }
  if (auto e = exec("BEGIN")) return fail(*e);
  std::cout << "vigild: migrate: " << (check ? "checking" : "moving") << " " << state->database_path()
            << " into the fleet as host " << host << " (trust group " << trust_group << ")" << std::endl;

  // The fleet's account of a uid, when it is the fleet's.
  std::map<int64_t, std::optional<std::string>> accounts;
  auto account_of = [&](int64_t uid) -> Result<std::optional<std::string>> {
    if (auto it = accounts.find(uid); it != accounts.end()) return it->second;
    std::optional<std::string> out;
    if (uid >= cfg.fleet.uid_min || cfg.fleet.system_accounts_fleet) {
      Lookup l = lookup_uid_blocking(static_cast<uid_t>(uid));
      if (l.status == Lookup::Status::kError) return Error::Nss("cannot resolve uid " + std::to_string(uid));
      if (l.found())
        out = cfg.fleet.identity == FleetIdentity::kUid ? "uid:" + std::to_string(uid) : l.id.name;
    }
    accounts[uid] = out;
    return out;
  };

  Importer im(c, host);
  const std::string bucket_sql =
      "SELECT vigil.import_bucket($1, $2, $3, (SELECT coalesce(array_agg(to_timestamp(x) ORDER BY x), '{}') "
      "FROM unnest($4::float8[]) x), to_timestamp(nullif($5::float8, 0)), $6::int, $7::bigint, "
      "to_timestamp(nullif($8::float8, 0)), $9::text[], (SELECT coalesce(array_agg(to_timestamp(x) ORDER BY n), '{}') "
      "FROM unnest($10::float8[]) WITH ORDINALITY AS t(x, n)))";
  auto import_bucket = [&](const std::string& key, std::optional<std::string> account, const LockState& s) {
    std::vector<std::string> src;
    std::vector<TimePoint> src_at;
    for (const auto& [name, at] : s.sources) {
      src.push_back(name);
      src_at.push_back(at);
    }
    return im.run("buckets", bucket_sql,
                  {key, std::move(account), epochs(s.failures), epoch_or_zero(s.locked_until),
                   std::to_string(s.lock_count), std::to_string(s.refused), epoch_or_zero(s.last_failure),
                   fleet::text_array(src), epochs(src_at)});
  };
  // Buckets: the accounts' ("uid:N" and "uid:N:dev:DEVICE"), then the sources'.
  auto buckets = st.list_accounts();
  if (!buckets) return fail(buckets.error().message);
  for (const auto& b : *buckets) {
    if (!b.uid) continue;
    auto account = account_of(*b.uid);
    if (!account) return fail(account.error().message);
    if (!*account) continue;
    const std::string own = "uid:" + std::to_string(*b.uid);
    std::string key;
    if (b.key == own) key = "acct:" + **account;
    else if (b.key.starts_with(own + ":dev:")) key = "dev:" + **account + "\n" + b.key.substr(own.size() + 5);
    else continue;
    if (!import_bucket(key, *account, b.state)) return fail(im.error());
  }
  auto sources = st.list_sources();
  if (!sources) return fail(sources.error().message);
  for (const auto& b : *sources)
    if (!import_bucket(b.key, std::nullopt, b.state)) return fail(im.error());
  im.report("buckets");

  auto blocks = st.list_blocks();
  if (!blocks) return fail(blocks.error().message);
  for (const auto& [uid, b] : *blocks) {
    auto account = account_of(uid);
    if (!account) return fail(account.error().message);
    if (!*account) continue;
    if (!im.run("blocks",
                "SELECT vigil.import_block($1, $2, $3, to_timestamp($4::float8), $5, coalesce(nullif($6, ''), '{}')::jsonb)",
                {**account, b.reason, epoch_or_zero(b.since), b.by, b.details}))
      return fail(im.error());
  }
  im.report("blocks");

  // Devices outlive the buckets (idle buckets are pruned): listed from their own table.
  auto with_devices = st.device_uids();
  if (!with_devices) return fail(with_devices.error().message);
  for (int64_t uid : *with_devices) {
    auto account = account_of(uid);
    if (!account) return fail(account.error().message);
    if (!*account) continue;
    auto devices = st.load_devices(uid);
    if (!devices) return fail(devices.error().message);
    for (const auto& d : *devices)
      if (!im.run("devices",
                  "SELECT vigil.import_device($1, $2, $3, $4, to_timestamp($5::float8), to_timestamp($6::float8))",
                  {**account, trust_group, d.device, epoch_or_zero(d.first_seen), epoch_or_zero(d.last_seen)}))
        return fail(im.error());
  }
  im.report("devices");

  auto with_factor = st.totp_active_uids();
  if (!with_factor) return fail(with_factor.error().message);
  for (int64_t uid : *with_factor) {
    auto account = account_of(uid);
    if (!account) return fail(account.error().message);
    if (!*account) continue;
    auto rec = st.load_totp(uid);
    if (!rec) return fail(rec.error().message);
    if (!*rec || !(*rec)->active() || !key) continue;
    auto secret = key->open((*rec)->active_box);
    if (!secret) return fail("cannot open the second factor of " + **account + ": " + secret.error().message);
    std::string b32 = totp::base32(*secret);
    wipe(*secret);
    const bool ok = im.run("second factors", "SELECT vigil.import_totp($1, $2, $3, $4::bigint)",
                           {**account, b32, std::to_string((*rec)->last_step)});
    wipe(b32);
    if (!ok) return fail(im.error());
  }
  im.report("second factors");

  if (check) {
    exec("ROLLBACK");
    std::cout << "vigild: migrate: --check: nothing written; " << im.conflicts() << " conflict(s)\n";
    return 0;
  }
  if (auto e = exec("COMMIT")) return fail("commit: " + *e);
  std::cout << "vigild: migrate: done; " << im.conflicts() << " conflict(s). Recovery codes do not move: "
            << "their owners make new ones (vigilctl totp recovery-codes)\n";
  return 0;
}

}  // namespace vigil
