// User and group resolution through NSS, off the I/O thread, with a short cache.
//
// Contract:
//  * Lookups may block for seconds (LDAP, SSSD): they run on a small thread
//    pool, and the awaiting coroutine resumes on its own executor. With one
//    thread no two NSS calls run at once, for NSS modules that are not
//    thread-safe ([daemon] nss_threads = 1).
//  * Root first. A lookup made from a coroutine that runs on a
//    PriorityExecutor (Server runs root's connections on one, main the
//    start-up report) is queued ahead of every other, is never refused, and
//    may use every thread. Other lookups use at most threads - 1 of them (1
//    with a single thread), so a slow non-root flood never holds the last
//    one; and when kMaxQueued of them already wait, a new one is refused at
//    once: kError, which callers answer with io.vigil.Error.Unavailable.
//  * Results are cached for a few seconds (positive 30 s, negative 5 s, at
//    most kMaxCache entries). The cache is touched only on the I/O thread.
//  * kError means NSS failed (not "no such user"); callers apply the
//    strictest reading.
//  * State is keyed by uid: "Alice" and "alice@DOM" resolve to one account
//    when NSS maps both to one uid.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
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

// The executor that marks a coroutine's lookups as root's: a strand on the
// I/O context (one thread: the strand orders nothing more than the context
// does; it is here for its type).
using PriorityExecutor = boost::asio::strand<boost::asio::io_context::executor_type>;
inline PriorityExecutor make_priority_executor(boost::asio::io_context& io) {
  return boost::asio::make_strand(io);
}

// The threads that run NSS calls, with two queues (see the contract above).
// submit() may be called from any thread; jobs run on the pool's threads.
class LookupPool {
 public:
  LookupPool(std::size_t threads, std::size_t max_queued);
  ~LookupPool();  // stops, joins; queued jobs are dropped unrun
  LookupPool(const LookupPool&) = delete;
  LookupPool& operator=(const LookupPool&) = delete;

  // false, and job dropped unrun: a non-priority job found max_queued
  // others waiting, or the pool is stopping.
  bool submit(bool priority, std::function<void()> job);
  void stop();  // jobs not started never run
  std::size_t waiting() const;

 private:
  void work();
  bool runnable() const;  // under mu_

  const std::size_t max_queued_, low_threads_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> high_, low_;
  std::size_t low_running_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

// Where a Resolver's answers come from: the system's NSS (the blocking
// lookups above), or a test's own directory. Each is called on the pool.
struct NssSource {
  std::function<Lookup(const std::string&)> by_name = lookup_user_blocking;
  std::function<Lookup(uid_t)> by_uid = lookup_uid_blocking;
  std::function<DirectoryLookup(const std::vector<std::string>&)> directory = directory_blocking;
};

class Resolver {
 public:
  static constexpr std::size_t kMaxCache = 65536;
  static constexpr std::size_t kMaxQueued = 32;  // non-root lookups waiting
  explicit Resolver(std::size_t threads = 2, NssSource source = {})
      : source_(std::move(source)), pool_(threads, kMaxQueued) {}
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
  // Runs fn on the pool, root's first; R{} (status kError) when refused.
  template <class R, class F>
  boost::asio::awaitable<R> run(F fn);
  void warn_refused();

  const NssSource source_;
  LookupPool pool_;
  std::chrono::steady_clock::time_point warned_{};
  std::unordered_map<std::string, Cached> cache_;
  std::vector<std::string> dir_groups_;
  DirectoryLookup dir_;
  std::chrono::steady_clock::time_point dir_expires_{};
};

}  // namespace vigil
