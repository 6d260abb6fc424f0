// Secrets at rest: the key that seals TOTP secrets, and the keyed hash of
// recovery codes.
//
// Contract:
//  * SecretKey::load() takes the key from $CREDENTIALS_DIRECTORY/vigil-totp-key
//    when systemd provides one, else from key_path (32 raw bytes, a regular
//    root-owned file not readable by group or others).
//  * A missing key file is created (0600) only when no secret exists
//    (secrets_exist == false). If secrets exist and the key is missing, load()
//    fails with a message saying so: the daemon must not start.
//  * seal()/open() use libsodium secretbox (XSalsa20-Poly1305) with a random
//    nonce per seal; a tampered box fails to open.
//  * code_hash() is keyed BLAKE2b under a subkey derived from the key, so the
//    database alone reveals neither secrets nor codes.
//  * The key lives in locked memory and is wiped on destruction.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/result.h"
#include "protocol/wipe.h"  // wipe(std::string&)

namespace vigil {

using Bytes = std::vector<uint8_t>;

class SecretKey {
 public:
  static constexpr char kCredentialName[] = "vigil-totp-key";

  static Result<std::unique_ptr<SecretKey>> load(const std::string& key_path, bool secrets_exist);
  ~SecretKey();
  SecretKey(const SecretKey&) = delete;
  SecretKey& operator=(const SecretKey&) = delete;

  Bytes seal(const Bytes& plaintext) const;
  Result<Bytes> open(const Bytes& box) const;
  Bytes code_hash(std::string_view code) const;
  // Where the key came from, for the start-up log ("credential" or a path).
  const std::string& source() const { return source_; }

 private:
  SecretKey() = default;
  uint8_t* key_ = nullptr;     // 32 bytes, sodium_malloc'd
  uint8_t* subkey_ = nullptr;  // 32 bytes, for code hashes
  std::string source_;
};

// Wipes a buffer that held a secret.
void wipe(Bytes& b);

}  // namespace vigil
