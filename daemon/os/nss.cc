#include "daemon/os/nss.h"

#include <grp.h>
#include <pwd.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <set>
#include <vector>

#include "daemon/core/log.h"
#include "daemon/os/offload.h"

namespace vigil {
namespace {

Lookup from_passwd(int rc, passwd* result) {
  Lookup l;
  if (rc == 0 && result) {
    l.status = Lookup::Status::kFound;
    l.id = Identity{result->pw_uid, result->pw_gid, result->pw_name, {}};
  } else if (rc == 0 || rc == ENOENT || rc == ESRCH || rc == EBADF || rc == EPERM) {
    l.status = Lookup::Status::kNotFound;
  } else {
    l.status = Lookup::Status::kError;
  }
  return l;
}

template <class Call>
Lookup with_buffer(Call call) {
  std::vector<char> buf(1024);
  for (;;) {
    passwd pw{};
    passwd* result = nullptr;
    int rc = call(&pw, buf.data(), buf.size(), &result);
    if (rc == ERANGE && buf.size() < (1u << 20)) {
      buf.resize(buf.size() * 4);
      continue;
    }
    return from_passwd(rc, result);
  }
}

// Fills id.groups; false on an NSS error (the caller then reports kError:
// group membership decides policy, so a partial answer must not be used).
bool add_groups(Identity& id) {
  std::vector<gid_t> gids(64);
  for (int tries = 0; tries < 8; ++tries) {
    int n = static_cast<int>(gids.size());
    if (getgrouplist(id.name.c_str(), id.gid, gids.data(), &n) >= 0) {
      gids.resize(static_cast<size_t>(n));
      break;
    }
    if (n <= static_cast<int>(gids.size())) return false;
    gids.resize(static_cast<size_t>(n));
  }
  std::vector<char> buf(1024);
  for (gid_t g : gids) {
    for (;;) {
      group gr{};
      group* res = nullptr;
      int rc = getgrgid_r(g, &gr, buf.data(), buf.size(), &res);
      if (rc == ERANGE && buf.size() < (1u << 20)) {
        buf.resize(buf.size() * 4);
        continue;
      }
      if (rc != 0 && rc != ENOENT && rc != ESRCH) return false;
      if (res) id.groups.emplace_back(res->gr_name);
      break;
    }
  }
  return true;
}

Lookup with_groups(Lookup l) {
  if (l.found() && !add_groups(l.id)) l.status = Lookup::Status::kError;
  return l;
}

}  // namespace

Lookup lookup_user_blocking(const std::string& name) {
  return with_groups(with_buffer([&](passwd* pw, char* b, size_t n, passwd** r) {
    return getpwnam_r(name.c_str(), pw, b, n, r);
  }));
}

Lookup lookup_uid_blocking(uid_t uid) {
  return with_groups(with_buffer([&](passwd* pw, char* b, size_t n, passwd** r) {
    return getpwuid_r(uid, pw, b, n, r);
  }));
}

DirectoryLookup directory_blocking(const std::vector<std::string>& admin_groups) {
  DirectoryLookup out;
  std::set<gid_t> admin_gids;
  std::set<std::string> candidates;  // names to resolve with their groups
  std::vector<char> buf(4096);
  for (const auto& name : admin_groups) {
    for (;;) {
      group gr{};
      group* res = nullptr;
      int rc = getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &res);
      if (rc == ERANGE && buf.size() < (1u << 22)) {
        buf.resize(buf.size() * 4);
        continue;
      }
      if (rc != 0 && rc != ENOENT && rc != ESRCH) return out;  // kError
      if (res) {
        admin_gids.insert(res->gr_gid);
        for (char** m = res->gr_mem; m && *m; ++m) candidates.insert(*m);
      }
      break;
    }
  }
  // getpwent is not reentrant: one enumeration at a time.
  static std::mutex mu;
  {
    std::lock_guard<std::mutex> lock(mu);
    setpwent();
    errno = 0;
    while (passwd* pw = getpwent()) {
      if (admin_gids.count(pw->pw_gid) || (pw->pw_uid >= kFirstUser && pw->pw_uid <= kLastUser))
        candidates.insert(pw->pw_name);
      errno = 0;
    }
    // The end of the list leaves errno 0 or ENOENT; anything else is a
    // failed listing, never to be taken for a short one.
    const int err = errno;
    endpwent();
    if (err != 0 && err != ENOENT) return out;  // kError
  }
  // One account per uid, under the name getpwuid gives it (the name the
  // daemon resolves a caller to), whichever alias led here.
  std::set<uid_t> uids;
  for (const auto& name : candidates) {
    Lookup l = with_buffer([&](passwd* pw, char* b, size_t n, passwd** r) {
      return getpwnam_r(name.c_str(), pw, b, n, r);
    });
    if (l.status == Lookup::Status::kError) return out;
    if (l.found()) uids.insert(l.id.uid);
  }
  for (uid_t uid : uids) {
    Lookup l = lookup_uid_blocking(uid);
    if (l.status == Lookup::Status::kError) return out;
    if (!l.found()) continue;
    bool admin = std::any_of(l.id.groups.begin(), l.id.groups.end(), [&](const std::string& g) {
      return std::find(admin_groups.begin(), admin_groups.end(), g) != admin_groups.end();
    });
    if (admin) out.dir.admins.push_back(l.id);
    if (admin || (l.id.uid >= kFirstUser && l.id.uid <= kLastUser)) out.dir.users.push_back(l.id);
  }
  auto by_uid = [](const Identity& a, const Identity& b) { return a.uid < b.uid; };
  std::sort(out.dir.admins.begin(), out.dir.admins.end(), by_uid);
  std::sort(out.dir.users.begin(), out.dir.users.end(), by_uid);
  out.status = Lookup::Status::kFound;
  return out;
}

LookupPool::LookupPool(std::size_t threads, std::size_t max_queued)
    : max_queued_(max_queued), low_threads_(threads > 1 ? threads - 1 : 1) {
  for (std::size_t i = 0; i < std::max<std::size_t>(threads, 1); ++i) threads_.emplace_back([this] { work(); });
}

LookupPool::~LookupPool() {
  stop();
  for (auto& t : threads_) t.join();
}

void LookupPool::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
}

std::size_t LookupPool::waiting() const {
  std::lock_guard lock(mu_);
  return high_.size() + low_.size();
}

bool LookupPool::runnable() const {
  return !high_.empty() || (!low_.empty() && low_running_ < low_threads_);
}

bool LookupPool::submit(bool priority, std::function<void()> job) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return false;
    if (!priority && low_.size() >= max_queued_) return false;
    (priority ? high_ : low_).push_back(std::move(job));
  }
  cv_.notify_all();
  return true;
}

void LookupPool::work() {
  for (;;) {
    std::function<void()> job;
    bool low = false;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || runnable(); });
      if (stopping_) return;
      auto& queue = high_.empty() ? low_ : high_;
      low = high_.empty();
      job = std::move(queue.front());
      queue.pop_front();
      if (low) ++low_running_;
    }
    job();  // Resolver's jobs catch everything
    if (!low) continue;
    {
      std::lock_guard lock(mu_);
      --low_running_;
    }
    cv_.notify_all();  // a waiting non-root job may go now
  }
}

template <class R, class F>
boost::asio::awaitable<R> Resolver::run(F fn) {
  auto ex = co_await boost::asio::this_coro::executor;
  const bool priority = ex.template target<PriorityExecutor>() != nullptr;
  bool refused = false;
  auto start = [&](auto deliver) {
    auto job = [&fn, deliver]() mutable {
      try {
        deliver(fn());
      } catch (...) {
        deliver(R{});  // kError: the strictest reading
      }
    };
    if (!pool_.submit(priority, std::move(job))) {
      refused = true;
      deliver(R{});
    }
  };
  R result = co_await await_callback<R>(start);
  if (refused) warn_refused();
  co_return result;
}

void Resolver::warn_refused() {
  const auto now = std::chrono::steady_clock::now();
  if (now - warned_ < std::chrono::seconds(10) && warned_.time_since_epoch().count() != 0) return;
  warned_ = now;
  log::warning("NSS lookups are backed up (" + std::to_string(kMaxQueued) +
               " waiting for non-root callers): further lookups for non-root callers are refused "
               "(Unavailable) until they drain; root's go first");
}

void Resolver::remember(const std::string& key, const Lookup& l) {
  if (l.status == Lookup::Status::kError) return;  // never cache a failure
  if (cache_.size() >= kMaxCache) cache_.clear();
  auto ttl = l.found() ? std::chrono::seconds(30) : std::chrono::seconds(5);
  cache_[key] = Cached{l, std::chrono::steady_clock::now() + ttl};
}

boost::asio::awaitable<Lookup> Resolver::by_name(std::string name) {
  std::string key = "n:" + name;
  if (auto it = cache_.find(key); it != cache_.end()) {
    if (it->second.expires > std::chrono::steady_clock::now()) co_return it->second.value;
    cache_.erase(it);
  }
  auto work = [this, name] { return source_.by_name(name); };
  Lookup l = co_await run<Lookup>(std::move(work));
  remember(key, l);
  co_return l;
}

boost::asio::awaitable<Lookup> Resolver::by_uid(uid_t uid) {
  std::string key = "u:" + std::to_string(uid);
  if (auto it = cache_.find(key); it != cache_.end()) {
    if (it->second.expires > std::chrono::steady_clock::now()) co_return it->second.value;
    cache_.erase(it);
  }
  auto work = [this, uid] { return source_.by_uid(uid); };
  Lookup l = co_await run<Lookup>(std::move(work));
  remember(key, l);
  co_return l;
}

boost::asio::awaitable<DirectoryLookup> Resolver::directory(std::vector<std::string> admin_groups) {
  const auto now = std::chrono::steady_clock::now();
  if (admin_groups == dir_groups_ && now < dir_expires_) co_return dir_;
  auto work = [this, groups = admin_groups] { return source_.directory(groups); };
  DirectoryLookup d = co_await run<DirectoryLookup>(std::move(work));
  if (d.status == Lookup::Status::kFound) {  // never cache a failure
    dir_groups_ = std::move(admin_groups);
    dir_ = d;
    dir_expires_ = std::chrono::steady_clock::now() + kDirectoryTtl;
  }
  co_return d;
}

}  // namespace vigil
