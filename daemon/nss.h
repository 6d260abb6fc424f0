// User and group resolution through NSS, off the I/O thread, with a short cache.
//
// Contract:
//  * Lookups may block for seconds (LDAP, SSSD): they run on a small thread
//    pool, and the awaiting coroutine resumes on its own executor. With one
//    thread no two NSS calls run at once, for NSS modules that are not
//    thread-safe ([daemon] nss_threads = 1).
//  * Results are cached for a few seconds (positive 30 s, negative 5 s, at
//    most kMaxCache entries). The cache is touched only on the I/O thread.
//  * kError means NSS failed (not "no such user"); callers apply the
//    strictest reading.
//  * State is keyed by uid: "Alice" and "alice@DOM" resolve to one account
//    when NSS maps both to one uid.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <sys/types.h>

#include <chrono>
#include <string>
#include <unordered_map>
#include <vector>

namespace vigil {

struct Identity {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name;  // the canonical name NSS returned
  std::vector<std::string> groups;  // every group (getgrouplist: the primary one too)
};

struct Lookup {
  enum class Status { kFound, kNotFound, kError } status = Status::kError;
  Identity id;
  bool found() const { return status == Status::kFound; }
};

// Who the administrators are, and the ordinary accounts (for the audit).
struct Directory {
  std::vector<Identity> admins;  // members of the admin groups (primary group included)
  std::vector<Identity> users;   // accounts with uid kFirstUser..kLastUser, admins too
};
inline constexpr uid_t kFirstUser = 1000, kLastUser = 59999;

// Blocking lookups (used by the pool, and by tests).
Lookup lookup_user_blocking(const std::string& name);
Lookup lookup_uid_blocking(uid_t uid);
// Enumerates the passwd database and the admin groups. NSS sources that do
// not enumerate (LDAP/SSSD with enumeration off) list only the groups'
// explicit members. An error is kError in `status`.
struct DirectoryLookup {
  Lookup::Status status = Lookup::Status::kError;
  Directory dir;
};
DirectoryLookup directory_blocking(const std::vector<std::string>& admin_groups);

class Resolver {
 public:
  static constexpr std::size_t kMaxCache = 65536;
  explicit Resolver(std::size_t threads = 2) : pool_(threads) {}
  ~Resolver() { pool_.join(); }
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  boost::asio::awaitable<Lookup> by_name(std::string name);
  boost::asio::awaitable<Lookup> by_uid(uid_t uid);
  // Cached for kDirectoryTtl: any local user can make the daemon ask
  // (Recovery.Request), and an enumeration may be expensive.
  static constexpr std::chrono::seconds kDirectoryTtl{10};
  boost::asio::awaitable<DirectoryLookup> directory(std::vector<std::string> admin_groups);
  void stop() { pool_.stop(); }

 private:
  struct Cached {
    Lookup value;
    std::chrono::steady_clock::time_point expires;
  };
  void remember(const std::string& key, const Lookup& l);

  boost::asio::thread_pool pool_;
  std::unordered_map<std::string, Cached> cache_;
  std::vector<std::string> dir_groups_;
  DirectoryLookup dir_;
  std::chrono::steady_clock::time_point dir_expires_{};
};

}  // namespace vigil
