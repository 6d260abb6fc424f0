// The state directory (/var/lib/vigil): ownership, locking and small keys.
//
// Contract:
//  * open() creates the directory 0700 if missing, refuses one that is not a
//    directory owned by root (or by the running uid), or that is writable by
//    group or others, and takes an exclusive flock on "<dir>/lock". A second
//    vigild (or break-glass) on the same directory fails with a clear error.
//    The lock lives as long as the StateDir object.
//  * name_key() returns the 32-byte key that hashes unresolved user names, so
//    they are never stored in clear; it is created (0600) on first use.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "protocol/result.h"

namespace vigil {

class StateDir {
 public:
  static Result<StateDir> open(const std::string& path);
  ~StateDir();
  StateDir(StateDir&& other) noexcept;
  StateDir& operator=(StateDir&&) = delete;
  StateDir(const StateDir&) = delete;

  const std::string& path() const { return path_; }
  std::string database_path() const { return path_ + "/vigil.db"; }
  Result<std::array<uint8_t, 32>> name_key() const;

 private:
  StateDir(std::string path, int lock_fd) : path_(std::move(path)), lock_fd_(lock_fd) {}
  std::string path_;
  int lock_fd_ = -1;
};

}  // namespace vigil
