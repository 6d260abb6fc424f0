#include "protocol/config_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

namespace vigil {

std::string dropin_dir(const std::string& config_path) { return config_path + ".d"; }

Result<std::vector<std::string>> dropin_paths(const std::string& config_path) {
  const std::string dir = dropin_dir(config_path);
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), ::closedir);
  if (!d) {
    if (errno == ENOENT) return std::vector<std::string>{};
    return Error::Config(dir + ": cannot list: " + std::strerror(errno));
  }
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* e = ::readdir(d.get())) {
    const std::string name = e->d_name;
    if (name.empty() || name[0] == '.' || name.size() <= 5 || !name.ends_with(".conf")) continue;
    names.push_back(name);
  }
  if (errno != 0) return Error::Config(dir + ": cannot list: " + std::strerror(errno));
  std::sort(names.begin(), names.end());
  for (auto& n : names) n = dir + "/" + n;
  return names;
}

std::string last_good_path(const std::string& socket) {
  auto slash = socket.rfind('/');
  return (slash == std::string::npos ? std::string(".") : socket.substr(0, slash)) + "/client.conf";
}

namespace {
// A TOML basic string: the paths vigil accepts are ASCII without control
// characters (config_text.h); quotes and backslashes are escaped.
std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}
bool trusted(const struct stat& st) { return st.st_uid == 0 && (st.st_mode & (S_IWGRP | S_IWOTH)) == 0; }
}  // namespace

std::string last_good_text(const std::string& socket, const std::string& admin_socket, bool console_exempt,
                           const std::string& stamp) {
  return "# Written by vigild: the settings of the last configuration it accepted that\n"
         "# pam_vigil and vigilctl read while vigil.conf fails to parse, and pam_vigil\n"
         "# reads instead of it while its files' stamp is the same. Do not edit.\n" +
         (stamp.empty() ? std::string() : "stamp = " + quoted(stamp) + "\n") +
         "[daemon]\nsocket = " + quoted(socket) + "\nadmin_socket = " + quoted(admin_socket) +
         "\n[lockout]\nconsole_exempt = " + (console_exempt ? "true" : "false") + "\n";
}

std::string last_good_stamp(std::string_view text) {
  // vigild writes it in one form, on a line of its own before any table.
  constexpr std::string_view kKey = "stamp = \"";
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    std::string_view line = text.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    if (!line.empty() && line[0] == '[') break;
    if (line.starts_with(kKey) && line.size() > kKey.size() + 1 && line.back() == '"') {
      std::string_view v = line.substr(kKey.size(), line.size() - kKey.size() - 1);
      if (v.find_first_of("\"\\") == std::string_view::npos) return std::string(v);
    }
    if (end == std::string_view::npos) break;
    pos = end + 1;
  }
  return {};
}

namespace {
bool later(const struct timespec& a, const struct timespec& b) {
  return a.tv_sec != b.tv_sec ? a.tv_sec > b.tv_sec : a.tv_nsec > b.tv_nsec;
}
}  // namespace

void ConfigStamp::add(const std::string& path, const struct stat& st) {
  if (later(st.st_mtim, newest_)) newest_ = st.st_mtim;
  if (later(st.st_ctim, newest_)) newest_ = st.st_ctim;
  std::string line = path;
  for (long long v : {static_cast<long long>(st.st_dev), static_cast<long long>(st.st_ino),
                      static_cast<long long>(st.st_mode), static_cast<long long>(st.st_uid),
                      static_cast<long long>(st.st_gid),
                      static_cast<long long>(st.st_size), static_cast<long long>(st.st_mtim.tv_sec),
                      static_cast<long long>(st.st_mtim.tv_nsec), static_cast<long long>(st.st_ctim.tv_sec),
                      static_cast<long long>(st.st_ctim.tv_nsec)}) {
    line.push_back('\0');
    line += std::to_string(v);
  }
  line.push_back('\n');
  for (unsigned char c : line) {
    hash_ ^= c;
    hash_ *= 1099511628211ull;
  }
}

std::string ConfigStamp::digest() const {
  static const char hex[] = "0123456789abcdef";
  std::string out = "v1:";
  for (int shift = 60; shift >= 0; shift -= 4) out += hex[(hash_ >> shift) & 15];
  return out;
}

std::string sources_digest(const std::vector<ConfigSource>& sources) {
  std::uint64_t h = 14695981039346656037ull;
  auto fold = [&h](std::string_view bytes) {
    for (unsigned char c : bytes) {
      h ^= c;
      h *= 1099511628211ull;
    }
    h ^= 0xff;  // a separator no text holds (config_text.h: ASCII only)
    h *= 1099511628211ull;
  };
  for (const auto& src : sources) {
    fold(src.path);
    fold(src.text);
  }
  static const char hex[] = "0123456789abcdef";
  std::string out = "t1:";
  for (int shift = 60; shift >= 0; shift -= 4) out += hex[(h >> shift) & 15];
  return out;
}

std::optional<ConfigStamp> stamp_config_now(const std::string& config_path) {
  ConfigStamp stamp;
  struct stat st {};
  if (::stat(config_path.c_str(), &st) != 0) return std::nullopt;
  stamp.add(config_path, st);
  auto dropins = dropin_paths(config_path);
  if (!dropins) return std::nullopt;
  for (const auto& p : *dropins) {
    if (::stat(p.c_str(), &st) != 0) return std::nullopt;
    stamp.add(p, st);
  }
  return stamp;
}

std::optional<std::string> config_stamp_now(const std::string& config_path) {
  auto stamp = stamp_config_now(config_path);
  if (!stamp) return std::nullopt;
  return stamp->digest();
}

bool published_stands_for(const std::string& config_path, std::string_view client_text,
                          const struct timespec& client_mtime) {
  auto now = stamp_config_now(config_path);
  if (!now || last_good_stamp(client_text) != now->digest()) return false;
  struct timespec settled = now->newest();
  settled.tv_sec += kRacyWindowSeconds;
  return later(client_mtime, settled);
}

std::optional<std::string> read_last_good(const std::string& path, struct timespec* mtime) {
  struct stat dir {};
  const std::string parent = path.substr(0, path.rfind('/') == std::string::npos ? 0 : path.rfind('/'));
  if (::stat(parent.empty() ? "/" : parent.c_str(), &dir) != 0 || !S_ISDIR(dir.st_mode) || !trusted(dir))
    return std::nullopt;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return std::nullopt;
  struct stat st {};
  std::optional<std::string> text;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && trusted(st) && st.st_size <= 65536) {
    std::string buf(static_cast<size_t>(st.st_size), '\0');
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n == st.st_size) {
      text = std::move(buf);
      if (mtime) *mtime = st.st_mtim;
    }
  }
  ::close(fd);
  return text;
}

}  // namespace vigil
