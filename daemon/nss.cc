#include "daemon/nss.h"

#include <grp.h>
#include <pwd.h>

#include <cerrno>
#include <vector>

#include "daemon/offload.h"

namespace vigil {
namespace {

Lookup from_passwd(int rc, passwd* result) {
  Lookup l;
  if (rc == 0 && result) {
    l.status = Lookup::Status::kFound;
    l.id = Identity{result->pw_uid, result->pw_gid, result->pw_name};
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
  auto work = [name] { return lookup_user_blocking(name); };
  Lookup l = co_await offload(pool_, std::move(work));
  remember(key, l);
  co_return l;
}

boost::asio::awaitable<Lookup> Resolver::by_uid(uid_t uid) {
  std::string key = "u:" + std::to_string(uid);
  if (auto it = cache_.find(key); it != cache_.end()) {
    if (it->second.expires > std::chrono::steady_clock::now()) co_return it->second.value;
    cache_.erase(it);
  }
  auto work = [uid] { return lookup_uid_blocking(uid); };
  Lookup l = co_await offload(pool_, std::move(work));
  remember(key, l);
  co_return l;
}

}  // namespace vigil
