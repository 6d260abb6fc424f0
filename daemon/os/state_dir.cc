#include "daemon/os/state_dir.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace vigil {
namespace {
Error fs_error(const std::string& what, int err) {
  return Error::State(what + ": " + std::strerror(err));
}
}  // namespace

Result<StateDir> StateDir::open(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST)
    return fs_error("cannot create state directory " + path, errno);
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return fs_error("cannot stat " + path, errno);
  if (!S_ISDIR(st.st_mode)) return Error::State(path + " is not a directory");
  if (st.st_uid != 0 && st.st_uid != ::geteuid())
    return Error::State(path + " must be owned by root");
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    return Error::State(path + " must not be writable by group or others (chmod 0700)");
  std::string lock_path = path + "/lock";
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return fs_error("cannot open " + lock_path, errno);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK)
      return Error::Locked("state directory " + path + " is in use by another vigild");
    return fs_error("cannot lock " + lock_path, err);
  }
  return StateDir(path, fd);
}

StateDir::~StateDir() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

StateDir::StateDir(StateDir&& other) noexcept
    : path_(std::move(other.path_)), lock_fd_(other.lock_fd_) {
  other.lock_fd_ = -1;
}

Result<std::array<uint8_t, 32>> StateDir::name_key() const {
  std::array<uint8_t, 32> key{};
  std::string p = path_ + "/names.key";
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd >= 0) {
    ssize_t n = ::read(fd, key.data(), key.size());
    ::close(fd);
    if (n != static_cast<ssize_t>(key.size())) return Error::State(p + " is damaged");
    return key;
  }
  if (errno != ENOENT) return fs_error("cannot read " + p, errno);
  randombytes_buf(key.data(), key.size());
  std::string tmp = p + ".tmp";
  fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return fs_error("cannot create " + tmp, errno);
  bool ok = ::write(fd, key.data(), key.size()) == static_cast<ssize_t>(key.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), p.c_str()) != 0) return fs_error("cannot write " + p, errno);
  return key;
}

}  // namespace vigil
