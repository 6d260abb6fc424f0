#include "daemon/nss.h"

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

}  // namespace

Lookup lookup_user_blocking(const std::string& name) {
  return with_buffer([&](passwd* pw, char* b, size_t n, passwd** r) {
    return getpwnam_r(name.c_str(), pw, b, n, r);
  });
}

Lookup lookup_uid_blocking(uid_t uid) {
  return with_buffer([&](passwd* pw, char* b, size_t n, passwd** r) {
    return getpwuid_r(uid, pw, b, n, r);
  });
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
