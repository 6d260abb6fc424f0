// Fleet mode's pure parts: the [fleet] keys, the connection parameters
// (no password, the role is the host, TLS checked by default), the text[]
// literal, and what the logs say about the server.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "daemon/core/config.h"
#include "daemon/fleet/fleet.h"
#include "daemon/fleet/schema.h"

namespace vigil {
namespace {

std::string param(const std::vector<std::pair<std::string, std::string>>& p, const std::string& key,
                  int nth = 0) {
  for (const auto& [k, v] : p)
    if (k == key && nth-- == 0) return v;
  return "<unset>";
}

TEST(FleetConfig, OffByDefault) {
  auto c = parse_config("", "vigil.conf");
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->fleet.enabled());
  EXPECT_EQ(c->fleet.db_timeout.count(), 300);
  EXPECT_EQ(c->fleet.identity, FleetIdentity::kName);
  EXPECT_FALSE(c->fleet.system_accounts_fleet);
}

TEST(FleetConfig, Keys) {
  auto c = parse_config(
      "[fleet]\nurl = \"postgresql://db/vigil\"\nhost_name = \"web-1\"\ndb_timeout = \"150ms\"\n"
      "identity = \"uid\"\nsystem_accounts = \"fleet\"\nuid_min = 500\nsslmode = \"verify-ca\"\n",
      "vigil.conf");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_TRUE(c->fleet.enabled());
  EXPECT_EQ(c->fleet.host_name, "web-1");
  EXPECT_EQ(c->fleet.db_timeout.count(), 150);
  EXPECT_EQ(c->fleet.identity, FleetIdentity::kUid);
  EXPECT_TRUE(c->fleet.system_accounts_fleet);
  EXPECT_EQ(c->fleet.uid_min, 500);
}

struct Bad {
  const char* text;
  const char* message;
};

class FleetConfigErrors : public ::testing::TestWithParam<Bad> {};

TEST_P(FleetConfigErrors, ClearMessage) {
  auto c = parse_config(GetParam().text, "vigil.conf");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find(GetParam().message), std::string::npos) << c.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Table, FleetConfigErrors,
    ::testing::Values(
        Bad{"[fleet]\ndb_timeout = \"5ms\"\n", "vigil.conf:2: fleet.db_timeout: must be between 10ms and 10s"},
        Bad{"[fleet]\ndb_timeout = \"fast\"\n", "invalid duration \"fast\""},
        Bad{"[fleet]\nhost_name = \"web 1\"\n", "fleet.host_name: expected a name"},
        Bad{"[fleet]\ntrust_group = \"\"\n", "fleet.trust_group: expected a name"},
        Bad{"[fleet]\nidentity = \"email\"\n", "expected \"name\" or \"uid\""},
        Bad{"[fleet]\nsslcert = \"cert.pem\"\n", "expected an absolute path"},
        Bad{"[fleet]\nurl = \"a\\nb\"\n", "expected one line"},
        Bad{"[fleet]\nhostaddr = \"192.0.2.1\"\nsslcert = \"/c.pem\"\n", "must be set together with"}));

TEST(FleetConnection, RoleIsTheHostAndTlsIsCheckedByDefault) {
  FleetConfig f;
  f.url = "postgresql://someone:secret@db.example.org/vigil";
  auto p = fleet::connection_params(f, "web-1");
  EXPECT_EQ(param(p, "dbname"), f.url);  // first: expanded by libpq
  EXPECT_EQ(p.front().first, "dbname");
  EXPECT_EQ(param(p, "user"), "web-1");  // after the URL: overrides its user
  EXPECT_EQ(param(p, "sslmode"), "verify-full");
  EXPECT_NE(param(p, "options").find("statement_timeout=600"), std::string::npos);
  EXPECT_NE(param(p, "options").find("lock_timeout=600"), std::string::npos);
  EXPECT_EQ(param(p, "password"), "<unset>");
}

TEST(FleetConnection, TheUrlsSslmodeIsKept) {
  FleetConfig f;
  f.url = "postgresql://db.example.org/vigil?sslmode=require";
  EXPECT_EQ(param(fleet::connection_params(f, "h"), "sslmode"), "<unset>");
  f.sslmode = "disable";
  EXPECT_EQ(param(fleet::connection_params(f, "h"), "sslmode"), "disable");
}

TEST(FleetConnection, PartsWithoutUrl) {
  FleetConfig f;
  f.hostaddr = "192.0.2.10";
  f.port = 6432;
  auto p = fleet::connection_params(f, "h1");
  EXPECT_EQ(param(p, "hostaddr"), "192.0.2.10");
  EXPECT_EQ(param(p, "port"), "6432");
  EXPECT_EQ(param(p, "dbname"), "vigil");
}

TEST(FleetConnection, DescribeNeverShowsSecrets) {
  FleetConfig f;
  f.url = "postgresql://someone:secret@db.example.org:5433/vigil?sslpassword=x";
  EXPECT_EQ(fleet::describe_target(f), "db.example.org:5433/vigil");
  f.url = "host=db password=secret";
  EXPECT_EQ(fleet::describe_target(f), "(the connection string's server)");
  f.hostaddr = "192.0.2.1";
  f.port = 5432;
  EXPECT_EQ(fleet::describe_target(f), "192.0.2.1:5432");
}

TEST(FleetConnection, TextArrayQuotes) {
  EXPECT_EQ(fleet::text_array({}), "{}");
  EXPECT_EQ(fleet::text_array({"192.0.2.1", "2001:db8::/48"}), "{\"192.0.2.1\",\"2001:db8::/48\"}");
  EXPECT_EQ(fleet::text_array({"a\"b\\c"}), "{\"a\\\"b\\\\c\"}");
}

TEST(FleetSchema, MigrationsAreNumberedInOrder) {
  const auto& m = fleet::migrations();
  ASSERT_FALSE(m.empty());
  for (std::size_t i = 0; i < m.size(); ++i) EXPECT_EQ(m[i].version, static_cast<int>(i + 1));
  EXPECT_EQ(fleet::latest_version(), static_cast<int>(m.size()));
}

}  // namespace
}  // namespace vigil
