#include "daemon/core/secrets.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace vigil {
namespace {

constexpr size_t kKeyLen = crypto_secretbox_KEYBYTES;
static_assert(kKeyLen == 32);

Error key_error(std::string msg) { return Error::Secrets(std::move(msg)); }

Result<Bytes> read_key_file(const std::string& path, bool check_mode) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return key_error("cannot open " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return key_error(path + " is not a regular file");
  }
  if (check_mode && ((st.st_mode & 077) != 0 || (st.st_uid != 0 && st.st_uid != ::geteuid()))) {
    ::close(fd);
    return key_error(path + " must be owned by root and readable by root only (chmod 0600)");
  }
  Bytes key(kKeyLen + 1);
  ssize_t n = ::read(fd, key.data(), key.size());
  ::close(fd);
  if (n != static_cast<ssize_t>(kKeyLen)) {
    sodium_memzero(key.data(), key.size());
    return key_error(path + " must hold exactly 32 bytes");
  }
  key.resize(kKeyLen);
  return key;
}

Status write_new_key(const std::string& path) {
  Bytes key(kKeyLen);
  randombytes_buf(key.data(), key.size());
  std::string tmp = path + ".new";
  ::unlink(tmp.c_str());  // a leftover of an interrupted creation
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return key_error("cannot create " + tmp + ": " + std::strerror(errno));
  bool ok = ::write(fd, key.data(), key.size()) == static_cast<ssize_t>(key.size()) && ::fsync(fd) == 0;
  ::close(fd);
  sodium_memzero(key.data(), key.size());
  if (!ok || ::link(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return key_error("cannot write " + path + ": " + std::strerror(err));
  }
  ::unlink(tmp.c_str());
  // Make the new name durable before any secret is sealed with the key.
  std::string dir = path.substr(0, path.rfind('/') == std::string::npos ? 0 : path.rfind('/'));
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Ok{};
}

}  // namespace

Result<std::unique_ptr<SecretKey>> SecretKey::load(const std::string& key_path, bool secrets_exist) {
  if (sodium_init() < 0) return key_error("libsodium failed to initialise");
  Result<Bytes> raw = Error{};
  std::string source;
  const char* cred_dir = std::getenv("CREDENTIALS_DIRECTORY");
  std::string cred = cred_dir ? std::string(cred_dir) + "/" + kCredentialName : "";
  if (!cred.empty() && ::access(cred.c_str(), F_OK) == 0) {
    raw = read_key_file(cred, false);  // systemd protects credentials itself
    source = "credential " + std::string(kCredentialName);
  } else {
    if (::access(key_path.c_str(), F_OK) != 0) {
      if (errno != ENOENT) return key_error("cannot reach " + key_path + ": " + std::strerror(errno));
      if (secrets_exist)
        return key_error("TOTP secrets exist in the database but the key " + key_path +
                         " is missing; refusing to start. Restore the key file (or the "
                         "vigil-totp-key credential); without it every enrolled factor is lost.");
      if (auto s = write_new_key(key_path); !s) return s.error();
    }
    raw = read_key_file(key_path, true);
    source = key_path;
  }
  if (!raw) return raw.error();

  std::unique_ptr<SecretKey> k(new SecretKey());
  k->key_ = static_cast<uint8_t*>(sodium_malloc(kKeyLen));
  k->subkey_ = static_cast<uint8_t*>(sodium_malloc(kKeyLen));
  if (!k->key_ || !k->subkey_) return key_error("cannot allocate locked memory for the key");
  std::memcpy(k->key_, raw->data(), kKeyLen);
  sodium_memzero(raw->data(), raw->size());
  crypto_kdf_derive_from_key(k->subkey_, kKeyLen, 1, "vigilrc_", k->key_);
  k->source_ = source;
  return k;
}

SecretKey::~SecretKey() {
  if (key_) sodium_free(key_);
  if (subkey_) sodium_free(subkey_);
}

Bytes SecretKey::seal(const Bytes& plaintext) const {
  Bytes box(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + plaintext.size());
  randombytes_buf(box.data(), crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(box.data() + crypto_secretbox_NONCEBYTES, plaintext.data(), plaintext.size(),
                        box.data(), key_);
  return box;
}

Result<Bytes> SecretKey::open(const Bytes& box) const {
  if (box.size() < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)
    return key_error("sealed secret is too short");
  Bytes out(box.size() - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES);
  if (crypto_secretbox_open_easy(out.data(), box.data() + crypto_secretbox_NONCEBYTES,
                                 box.size() - crypto_secretbox_NONCEBYTES, box.data(), key_) != 0)
    return key_error("sealed secret does not open with this key");
  return out;
}

Bytes SecretKey::code_hash(std::string_view code) const {
  Bytes h(32);
  crypto_generichash(h.data(), h.size(), reinterpret_cast<const unsigned char*>(code.data()),
                     code.size(), subkey_, kKeyLen);
  return h;
}

void wipe(Bytes& b) {
  if (!b.empty()) sodium_memzero(b.data(), b.size());
  b.clear();
}

}  // namespace vigil
