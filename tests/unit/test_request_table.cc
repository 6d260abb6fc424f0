// The request table (daemon/rpc/dispatch.cc) without a running daemon: who
// may call what, on which socket; what the validators refuse; and which
// fields are wiped. A real engine on a temporary store, a Resolver fed by a
// fake NSS, and dispatch() run to completion on an io_context.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json/parse.hpp>

#include <filesystem>
#include <future>
#include <map>
#include <set>

#include "daemon/engine/engine.h"
#include "daemon/rpc/dispatch.h"
#include "daemon/rpc/request.h"
#include "daemon/store/sqlite_store.h"
#include "protocol/names.h"

namespace vigil {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr uid_t kAlice = 1000, kBob = 1001, kCarol = 1002, kDave = 1003;

// The fake directory: carol and dave administer (group wheel); the name
// "broken" makes NSS fail.
Lookup fake_user(const std::string& name) {
  static const std::map<std::string, Identity> users = {
      {"root", {0, 0, "root", {"root"}}},
      {"alice", {kAlice, kAlice, "alice", {"alice"}}},
      {"bob", {kBob, kBob, "bob", {"bob"}}},
      {"carol", {kCarol, kCarol, "carol", {"carol", "wheel"}}},
      {"dave", {kDave, kDave, "dave", {"dave", "wheel"}}},
  };
  Lookup l;
  if (name == "broken") return l;  // kError
  auto it = users.find(name);
  l.status = it == users.end() ? Lookup::Status::kNotFound : Lookup::Status::kFound;
  if (it != users.end()) l.id = it->second;
  return l;
}

Lookup fake_uid(uid_t uid) {
  for (const char* n : {"root", "alice", "bob", "carol", "dave"}) {
    Lookup l = fake_user(n);
    if (l.id.uid == uid) return l;
  }
  return Lookup{Lookup::Status::kNotFound, {}};
}

DirectoryLookup fake_directory(const std::vector<std::string>&) {
  DirectoryLookup d;
  d.status = Lookup::Status::kFound;
  d.dir.admins = {fake_user("carol").id, fake_user("dave").id};
  for (const char* n : {"alice", "bob", "carol", "dave"}) d.dir.users.push_back(fake_user(n).id);
  return d;
}

class RequestTable : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vigil-table-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto store = SqliteStore::open(dir_ + "/vigil.db");
    ASSERT_TRUE(store.ok());
    engine_ = std::make_unique<Engine>(std::move(*store), clock_, LockoutConfig{});
    engine_->start();
    cfg_.roles.admin_groups = {"wheel"};
    sv_.config = std::make_shared<const Config>(cfg_);
    sv_.engine = engine_.get();
    sv_.resolver = &resolver_;
    sv_.tools = &tools_;
    sv_.notify = &notify_;
  }
  void TearDown() override {
    engine_->stop();
    fs::remove_all(dir_);
  }
  void set_step_up(bool on) {
    cfg_.recovery.step_up = on;
    sv_.config = std::make_shared<const Config>(cfg_);
  }

  proto::Reply call(bool admin_socket, uid_t uid, std::string method, json::object params = {}) {
    Peer peer;
    peer.uid = uid;
    peer.gid = uid;
    peer.admin_socket = admin_socket;
    proto::Call c{std::move(method), std::move(params)};
    std::promise<proto::Reply> out;
    auto guard = boost::asio::make_work_guard(io_);
    boost::asio::co_spawn(io_, dispatch(sv_, peer, c), [&](std::exception_ptr e, proto::Reply r) {
      if (e) r = proto::Reply::failure("exception", "thrown");
      out.set_value(std::move(r));
      io_.stop();
    });
    io_.restart();
    io_.run();
    return out.get_future().get();
  }

  std::string dir_;
  SystemClock clock_;
  Config cfg_;
  std::unique_ptr<Engine> engine_;
  Resolver resolver_{1, NssSource{fake_user, fake_uid, fake_directory}};
  boost::asio::thread_pool tools_{1}, notify_{1};
  boost::asio::io_context io_;
  Services sv_;
};

// ---- who may call what ----

struct Access {
  const char* what;
  bool admin_socket;
  uid_t caller;
  const char* method;
  const char* params;  // JSON
  const char* error;   // "" for success
};

class Authorisation : public RequestTable, public ::testing::WithParamInterface<Access> {};

TEST_P(Authorisation, IsDecidedByTheRow) {
  const Access& a = GetParam();
  set_step_up(true);
  auto r = call(a.admin_socket, a.caller, a.method, json::parse(a.params).as_object());
  EXPECT_EQ(r.error, a.error) << a.what << ": " << r.message();
}

const char* kOk = "";
INSTANTIATE_TEST_SUITE_P(
    Rows, Authorisation,
    ::testing::Values(
        Access{"a user reads their own state", false, kAlice, proto::kStatusGet, R"({"user":"alice"})", kOk},
        Access{"a user's own state by default", false, kAlice, proto::kStatusGet, "{}", kOk},
        Access{"not another user's", false, kAlice, proto::kStatusGet, R"({"user":"bob"})",
               proto::kErrPermissionDenied},
        Access{"an unknown name looks like another user's", false, kAlice, proto::kStatusGet,
               R"({"user":"nosuch"})", proto::kErrPermissionDenied},
        Access{"root learns it does not exist", false, 0, proto::kStatusGet, R"({"user":"nosuch"})",
               proto::kErrNotFound},
        Access{"an NSS failure refuses", false, kAlice, proto::kStatusGet, R"({"user":"broken"})",
               proto::kErrUnavailable},
        Access{"the list is root's", false, kAlice, proto::kStatusList, "{}", proto::kErrPermissionDenied},
        Access{"root lists", false, 0, proto::kStatusList, "{}", kOk},
        Access{"sessions are root's", false, kAlice, proto::kSessionOpen,
               R"({"user":"alice","audit_session":7})", proto::kErrPermissionDenied},
        Access{"a user reports only for itself", false, kAlice, proto::kAuthReport,
               R"({"user":"bob","outcome":"failure"})", proto::kErrPermissionDenied},
        Access{"anyone pings", false, kBob, proto::kPing, "{}", kOk},
        Access{"an unknown method", false, kAlice, "io.vigil.No.Such", "{}", proto::kErrMethodNotFound},
        Access{"admin methods are not on the public socket", false, 0, proto::kAccountReset,
               R"({"user":"alice"})", proto::kErrMethodNotFound},
        Access{"module methods are not on the admin socket", true, kCarol, proto::kAuthReport,
               R"({"user":"alice","outcome":"failure"})", proto::kErrMethodNotFound},
        Access{"a non-administrator on the admin socket", true, kAlice, proto::kStatusList, "{}",
               proto::kErrPermissionDenied},
        Access{"root on the admin socket without allow_root", true, 0, proto::kStatusList, "{}",
               proto::kErrPermissionDenied},
        Access{"an administrator reads", true, kCarol, proto::kStatusList, "{}", kOk},
        Access{"an administrator reads one account", true, kCarol, proto::kStatusGet, R"({"user":"bob"})",
               kOk},
        Access{"an unknown account, to an administrator", true, kCarol, proto::kStatusGet,
               R"({"user":"nosuch"})", proto::kErrNotFound},
        Access{"a change needs a step-up", true, kCarol, proto::kAccountBlock,
               R"({"user":"bob","reason":"phished"})", proto::kErrStepUpRequired},
        Access{"a token always needs a fresh code", true, kCarol, proto::kTokenIssue,
               R"({"owner":"bob","name":"ci","scopes":["deploy"]})", proto::kErrStepUpRequired}));

TEST_F(RequestTable, ABlockedAdministratorIsRefusedAtTheGate) {
  set_step_up(false);
  EXPECT_TRUE(call(true, kDave, proto::kAccountBlock, {{"user", "carol"}, {"reason", "phished"}}).ok());
  auto r = call(true, kCarol, proto::kStatusList);
  EXPECT_EQ(r.error, proto::kErrPermissionDenied) << r.message();
  EXPECT_TRUE(call(true, kDave, proto::kStatusList).ok());
}

// ---- what the validators refuse ----

struct Bad {
  const char* what;
  bool admin_socket;
  uid_t caller;
  const char* method;
  const char* params;
  const char* message;  // a part of the refusal's message
};

class Validation : public RequestTable, public ::testing::WithParamInterface<Bad> {};

TEST_P(Validation, RefusesBeforeAnythingHappens) {
  const Bad& b = GetParam();
  set_step_up(false);
  auto r = call(b.admin_socket, b.caller, b.method, json::parse(b.params).as_object());
  EXPECT_EQ(r.error, proto::kErrInvalidParameter) << b.what;
  EXPECT_NE(r.message().find(b.message), std::string::npos) << b.what << ": " << r.message();
}

INSTANTIATE_TEST_SUITE_P(
    Rows, Validation,
    ::testing::Values(
        Bad{"an unknown parameter", false, 0, proto::kAuthReport,
            R"({"user":"alice","outcome":"failure","extra":1})", "unknown parameter \"extra\""},
        Bad{"an outcome that is neither", false, 0, proto::kAuthReport, R"({"user":"alice","outcome":"maybe"})",
            "\"outcome\" must be"},
        Bad{"an audit session that is not a number", false, 0, proto::kAuthReport,
            R"({"user":"alice","outcome":"failure","audit_session":"7"})", "must be an integer"},
        Bad{"an over-long code", false, 0, proto::kAuthVerify, R"({"user":"alice","code":"1234567890123456789012345678901234567890123456789012345678901234567"})",
            "too long"},
        Bad{"a session without its id", false, 0, proto::kSessionOpen, R"({"user":"alice"})", "audit_session"},
        Bad{"a device and all at once", false, kAlice, proto::kDevicesForget,
            R"({"user":"alice","device":"ssh:x","all":true})", "either a device"},
        Bad{"a request without a reason", false, kAlice, proto::kRecoveryRequest, R"({"user":"bob"})",
            "a \"reason\" is required"},
        Bad{"a reason with a terminal escape", false, kAlice, proto::kRecoveryRequest,
            "{\"user\":\"bob\",\"reason\":\"hi\\u001b[2J\"}", "control characters"},
        Bad{"a block without a reason", true, kCarol, proto::kAccountBlock, R"({"user":"bob"})",
            "a \"reason\" is required"},
        Bad{"a user that is not a string", true, kCarol, proto::kAccountBlock, R"({"user":5,"reason":"x"})",
            "wrong type"},
        Bad{"an unknown admin parameter", true, kCarol, proto::kAccountReset, R"({"user":"bob","force":true})",
            "unknown parameter \"force\""},
        Bad{"a token without scopes", true, kCarol, proto::kTokenIssue, R"({"owner":"bob","name":"ci","scopes":[]})",
            "scopes"},
        Bad{"an approval without its id", true, kCarol, proto::kRecoveryApprove, "{}", "request \"id\""}));

// ---- which fields are wiped ----

// Every field a row accepts that can carry a secret is declared with the row,
// so that the server wipes it. Validators check the names first: a name
// refused as unknown is one the row does not take.
TEST(RequestTableRows, DeclareEverySecretTheyAccept) {
  const std::string_view secret_names[] = {"code", "password", "token", "step_up_code", "verify_code"};
  int checked = 0;
  for (const Method& m : request_table()) {
    for (auto name : secret_names) {
      json::object p;
      p[name] = "x";
      auto refusal = m.validate(p);
      const bool accepted =
          !refusal || refusal->message().find("unknown parameter \"" + std::string(name)) == std::string::npos;
      if (!accepted) continue;
      ++checked;
      const auto& declared = m.secrets.request;
      EXPECT_NE(std::find(declared.begin(), declared.end(), name), declared.end())
          << m.name << " takes \"" << name << "\" without declaring it secret";
    }
  }
  EXPECT_GE(checked, 20);  // every admin row takes a step_up_code
}

TEST(RequestTableRows, AreConsistent) {
  std::set<std::pair<Socket, std::string_view>> seen;
  for (const Method& m : request_table()) {
    EXPECT_TRUE(seen.insert({m.socket, m.name}).second) << m.name << " appears twice on one socket";
    if (m.socket == Socket::kAdmin) {
      EXPECT_EQ(m.who, Who::kAdmin) << m.name;
      EXPECT_EQ(m.subject, Subject::kNone) << m.name;
    } else {
      EXPECT_NE(m.who, Who::kAdmin) << m.name;
      EXPECT_EQ(m.step_up, StepUp::kNone) << m.name;
    }
  }
}

}  // namespace
}  // namespace vigil
