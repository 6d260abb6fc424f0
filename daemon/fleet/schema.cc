#include "daemon/fleet/schema.h"

#include <libpq-fe.h>

#include <memory>
#include <optional>

namespace vigil::fleet {
namespace {

struct ConnCloser {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct ResultCloser {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Conn = std::unique_ptr<PGconn, ConnCloser>;
using Res = std::unique_ptr<PGresult, ResultCloser>;

std::string trimmed(std::string m) {
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m;
}

// Runs one or more statements (simple protocol); the error as text.
std::optional<std::string> exec(PGconn* c, const std::string& sql) {
  Res r(PQexec(c, sql.c_str()));
  const auto st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return std::nullopt;
  return trimmed(r ? PQresultErrorMessage(r.get()) : PQerrorMessage(c));
}

// The database's schema version: 0 before the first migration.
Result<int> version_of(PGconn* c) {
  auto one = [&](const char* sql) -> Result<std::string> {
    Res r(PQexec(c, sql));
    if (!r || PQresultStatus(r.get()) != PGRES_TUPLES_OK || PQntuples(r.get()) != 1)
      return Error::Store("reading the schema version: " + trimmed(PQerrorMessage(c)));
    return std::string(PQgetisnull(r.get(), 0, 0) ? "" : PQgetvalue(r.get(), 0, 0));
  };
  auto exists = one("SELECT to_regclass('vigil.schema_version') IS NOT NULL");
  if (!exists) return exists.error();
  if (*exists != "t") return 0;
  auto v = one("SELECT coalesce(max(version), 0) FROM vigil.schema_version");
  if (!v) return v.error();
  return std::atoi(v->c_str());
}

}  // namespace

Result<int> setup(const std::string& conninfo, const std::function<void(const std::string&)>& progress) {
  Conn c(PQconnectdb(conninfo.c_str()));
  if (!c || PQstatus(c.get()) != CONNECTION_OK)
    return Error::Store("cannot connect: " + trimmed(c ? PQerrorMessage(c.get()) : "out of memory"));
  if (auto e = exec(c.get(), "SET client_min_messages = warning")) return Error::Store(*e);
  auto v = version_of(c.get());
  if (!v) return v.error();
  if (*v > latest_version())
    return Error::Store("the database's schema is version " + std::to_string(*v) + ", newer than this vigild's " +
                        std::to_string(latest_version()) + ": upgrade vigild first");
  if (*v == latest_version()) {
    progress("schema version " + std::to_string(*v) + ": up to date, nothing to do");
    return *v;
  }
  for (const auto& m : migrations()) {
    if (m.version <= *v) continue;
    progress("applying " + std::string(m.name) + " (schema version " + std::to_string(m.version) + ")");
    const std::string sql = "BEGIN;\n" + std::string(m.sql) +
                            "\nUPDATE vigil.schema_version SET version = " + std::to_string(m.version) + ";\nCOMMIT;";
    if (auto e = exec(c.get(), sql)) {
      exec(c.get(), "ROLLBACK");
      return Error::Store(std::string(m.name) + ": " + *e);
    }
  }
  auto after = version_of(c.get());
  if (!after) return after.error();
  progress("schema version " + std::to_string(*after));
  return *after;
}

}  // namespace vigil::fleet
