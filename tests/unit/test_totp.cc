// TOTP and recovery codes (pure), and sealed secrets.
#include <gtest/gtest.h>
#include <liboath/oath.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <algorithm>
#include <filesystem>
#include <set>

#include "daemon/core/secrets.h"
#include "daemon/core/totp.h"

namespace vigil {
namespace {

// RFC 6238 appendix B: the SHA-1 secret "12345678901234567890".
Bytes rfc_secret() {
  std::string s = "12345678901234567890";
  return Bytes(s.begin(), s.end());
}

struct Vector {
  long long time;
  const char* code;  // the last 6 digits of the RFC's 8-digit values
};

class RfcVectors : public ::testing::TestWithParam<Vector> {};
TEST_P(RfcVectors, MatchTheirStep) {
  auto step = totp::match(rfc_secret(), GetParam().code, from_epoch(GetParam().time), 0);
  ASSERT_TRUE(step.has_value()) << GetParam().time;
  EXPECT_EQ(*step, GetParam().time / 30);
}
INSTANTIATE_TEST_SUITE_P(Rfc6238, RfcVectors,
                         ::testing::Values(Vector{59, "287082"}, Vector{1111111109, "081804"},
                                           Vector{1111111111, "050471"}, Vector{1234567890, "005924"},
                                           Vector{2000000000, "279037"}));

struct WindowCase {
  int offset_steps;
  int window;
  bool accepted;
};
class Window : public ::testing::TestWithParam<WindowCase> {};
TEST_P(Window, AcceptsOnlyInside) {
  const TimePoint now = from_epoch(1'700'000'000);
  // The code of the step `offset_steps` away from now.
  char code[16];
  ASSERT_EQ(oath_totp_generate(reinterpret_cast<const char*>(rfc_secret().data()), 20,
                               to_epoch(now) + GetParam().offset_steps * 30, 30, 0, 6, code),
            OATH_OK);
  auto step = totp::match(rfc_secret(), code, now, GetParam().window);
  EXPECT_EQ(step.has_value(), GetParam().accepted);
  if (step) {
    EXPECT_EQ(*step, totp::step_at(now) + GetParam().offset_steps);
  }
}
INSTANTIATE_TEST_SUITE_P(Table, Window,
                         ::testing::Values(WindowCase{0, 0, true}, WindowCase{1, 0, false},
                                           WindowCase{-1, 1, true}, WindowCase{1, 1, true},
                                           WindowCase{2, 1, false}, WindowCase{-2, 1, false},
                                           WindowCase{2, 2, true}, WindowCase{-3, 2, false}));

TEST(Totp, RejectsMalformedCodes) {
  const TimePoint now = from_epoch(59);
  for (const char* bad : {"", "28708", "2870822", "28708a", "287 82", "abcdef"})
    EXPECT_FALSE(totp::match(rfc_secret(), bad, now, 1).has_value()) << bad;
}

TEST(Totp, Base32AndUri) {
  EXPECT_EQ(totp::base32(rfc_secret()), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
  EXPECT_EQ(totp::otpauth_uri("vigil", "al ice@x", "ABC"),
            "otpauth://totp/vigil:al%20ice%40x?secret=ABC&issuer=vigil&algorithm=SHA1&digits=6&period=30");
  EXPECT_EQ(totp::new_secret().size(), 20u);
}

TEST(RecoveryCodes, FormatAndParse) {
  auto codes = totp::new_recovery_codes(10);
  ASSERT_EQ(codes.size(), 10u);
  std::set<std::string> unique(codes.begin(), codes.end());
  EXPECT_EQ(unique.size(), 10u);
  for (const auto& c : codes) {
    EXPECT_EQ(c.size(), 29u);  // 5 groups of 5, 4 dashes: a clear id and 100 secret bits
    auto p = totp::parse_recovery_code(c);
    ASSERT_TRUE(p.has_value());
    EXPECT_EQ(p->text.size(), 25u);
    EXPECT_EQ(p->id, p->text.substr(0, 5));
  }
  auto p = totp::parse_recovery_code("abcde fghij-KLMNO-pqrst-UVWXY");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->text, "ABCDEFGHIJKLMNOPQRSTUVWXY");
  EXPECT_EQ(p->id, "ABCDE");
  EXPECT_FALSE(totp::parse_recovery_code("ABCDE-FGHIJ-KLMNO-PQRST").has_value());
  EXPECT_FALSE(totp::parse_recovery_code("ABCDE-FGHIJ-KLMNO-PQRST-UVWX1").has_value());
  EXPECT_FALSE(totp::parse_recovery_code("123456").has_value());
}

class Secrets : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vigil-secrets-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    unsetenv("CREDENTIALS_DIRECTORY");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(Secrets, KeyIsCreatedOnlyWhileNoSecretExists) {
  std::string path = dir_ + "/totp.key";
  auto refused = SecretKey::load(path, true);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("TOTP secrets exist"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(path));
  auto created = SecretKey::load(path, false);
  ASSERT_TRUE(created.ok()) << created.error().message;
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 32);
  // Once there, it is used as it is.
  auto again = SecretKey::load(path, true);
  ASSERT_TRUE(again.ok());
  Bytes secret = {1, 2, 3, 4};
  auto opened = (*again)->open((*created)->seal(secret));
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(*opened, secret);
}

TEST_F(Secrets, SealIsRandomizedAndTamperProof) {
  auto k = SecretKey::load(dir_ + "/k", false);
  ASSERT_TRUE(k.ok());
  Bytes secret(20, 7);
  Bytes a = (*k)->seal(secret), b = (*k)->seal(secret);
  EXPECT_NE(a, b);
  EXPECT_EQ(std::search(a.begin(), a.end(), secret.begin(), secret.end()), a.end());
  a[a.size() - 1] ^= 1;
  EXPECT_FALSE((*k)->open(a).ok());
  EXPECT_FALSE((*k)->open(Bytes(5)).ok());
  auto other = SecretKey::load(dir_ + "/k2", false);
  EXPECT_FALSE((*other)->open(b).ok());
}

TEST_F(Secrets, WrongKeyFileIsRefused) {
  std::string path = dir_ + "/bad.key";
  FILE* f = fopen(path.c_str(), "w");
  fputs("short", f);
  fclose(f);
  chmod(path.c_str(), 0600);
  EXPECT_FALSE(SecretKey::load(path, true).ok());
  std::string open = dir_ + "/open.key";
  ASSERT_TRUE(SecretKey::load(open, false).ok());
  chmod(open.c_str(), 0644);
  auto r = SecretKey::load(open, true);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("0600"), std::string::npos);
}

TEST_F(Secrets, SystemdCredentialTakesPrecedence) {
  std::string creds = dir_ + "/creds";
  std::filesystem::create_directory(creds);
  auto file_key = SecretKey::load(dir_ + "/file.key", false);
  std::filesystem::copy_file(dir_ + "/file.key", creds + "/vigil-totp-key");
  setenv("CREDENTIALS_DIRECTORY", creds.c_str(), 1);
  auto cred_key = SecretKey::load(dir_ + "/missing.key", true);
  unsetenv("CREDENTIALS_DIRECTORY");
  ASSERT_TRUE(cred_key.ok()) << cred_key.error().message;
  EXPECT_NE((*cred_key)->source().find("credential"), std::string::npos);
  auto opened = (*cred_key)->open((*file_key)->seal(Bytes{9}));
  ASSERT_TRUE(opened.ok());
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/missing.key"));
}

TEST_F(Secrets, CodeHashIsKeyedAndStable) {
  auto k1 = SecretKey::load(dir_ + "/a", false);
  auto k2 = SecretKey::load(dir_ + "/b", false);
  EXPECT_EQ((*k1)->code_hash("ABC"), (*k1)->code_hash("ABC"));
  EXPECT_NE((*k1)->code_hash("ABC"), (*k1)->code_hash("ABD"));
  EXPECT_NE((*k1)->code_hash("ABC"), (*k2)->code_hash("ABC"));
}

}  // namespace
}  // namespace vigil
