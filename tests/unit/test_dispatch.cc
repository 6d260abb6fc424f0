// The request tables' secret fields: declared with each method, and wiped in
// place (dispatch.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "daemon/rpc/dispatch.h"
#include "protocol/names.h"

namespace vigil {
namespace {

bool declared(const std::array<std::string_view, 3>& list, std::string_view name) {
  return std::find(list.begin(), list.end(), name) != list.end();
}

struct Row {
  bool admin;
  const char* method;
  const char* request_secret;  // "" for none to check
  const char* reply_secret;
};

class Secrets : public ::testing::TestWithParam<Row> {};
TEST_P(Secrets, AreDeclaredWithTheMethod) {
  const auto& r = GetParam();
  const auto& s = secret_fields(r.admin, r.method);
  if (*r.request_secret) {
    EXPECT_TRUE(declared(s.request, r.request_secret)) << r.method;
  }
  if (*r.reply_secret) {
    EXPECT_TRUE(declared(s.reply, r.reply_secret)) << r.method;
  }
}
INSTANTIATE_TEST_SUITE_P(
    Table, Secrets,
    ::testing::Values(Row{false, proto::kAuthVerify, "code", ""}, Row{false, proto::kTotpEnroll, "password", "secret"},
                      Row{false, proto::kTotpEnroll, "code", "uri"}, Row{false, proto::kTotpConfirm, "code", ""},
                      Row{false, proto::kTotpDisable, "code", ""}, Row{false, proto::kTotpRecoveryCodes, "code", "codes"},
                      Row{false, proto::kTokenCheck, "token", ""}, Row{true, proto::kAccountUnblock, "verify_code", ""},
                      Row{true, proto::kAccountUnblock, "step_up_code", ""}, Row{true, proto::kTokenIssue, "step_up_code", "token"},
                      Row{true, proto::kAccountBlock, "step_up_code", ""}, Row{false, "io.vigil.No.Such", "code", ""}));

TEST(Secrets, AreWipedInPlaceStringsAndArrays) {
  boost::json::object o;
  o["code"] = "123456";
  o["codes"] = boost::json::array{"AAAA-BBBB", "CCCC-DDDD"};
  o["user"] = "alice";
  auto* code = o["code"].as_string().data();
  wipe_fields(o, {"code", "codes"});
  EXPECT_EQ(std::string(code, 6), std::string(6, '\0'));
  for (const auto& c : o["codes"].as_array())
    EXPECT_TRUE(std::all_of(c.as_string().begin(), c.as_string().end(), [](char ch) { return ch == '\0'; }));
  EXPECT_EQ(o["user"].as_string(), "alice");
}

}  // namespace
}  // namespace vigil
