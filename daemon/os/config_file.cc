#include "daemon/os/config_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "daemon/os/unique_fd.h"

namespace vigil {
namespace {

constexpr std::size_t kMaxConfigBytes = 4 << 20;

std::string octal_mode(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  return "not a regular file";
}

Error file_error(std::string message) { return Error::Config(std::move(message)); }

// Everything the descriptor holds, up to kMaxConfigBytes.
Result<std::string> read_all(int fd, const std::string& path) {
  std::string text;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return file_error(path + ": read error: " + std::strerror(errno));
    if (n == 0) return text;
    if (text.size() + static_cast<std::size_t>(n) > kMaxConfigBytes)
      return file_error(path + ": larger than 4 MiB; not a configuration file");
    text.append(buf, static_cast<std::size_t>(n));
  }
}

}  // namespace

std::string config_file_problem(const struct stat& st, const std::string& path, uid_t daemon_uid) {
  if (!S_ISREG(st.st_mode)) return path + " is " + kind_of(st.st_mode) + ", not a configuration file";
  const bool owner_ok = st.st_uid == 0 || st.st_uid == daemon_uid;
  const bool mode_ok = (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
  if (owner_ok && mode_ok) return {};
  return path + " is owned by uid " + std::to_string(st.st_uid) + " with mode " + octal_mode(st.st_mode) +
         ": it names commands vigild runs as root, so it must be owned by root and writable by "
         "nobody else; run: chown root:root " + path + " && chmod go-w " + path;
}

namespace {

// One file: opened, checked on its descriptor, stamped from that check
// (before the read, so that a later edit is never stamped as what was
// read), read from it.
Result<ConfigSource> read_checked(const std::string& path, ConfigStamp& stamp) {
  // O_NONBLOCK: opening a FIFO left at the path must not hang; it is refused below.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!fd.ok()) return file_error(path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return file_error(path + ": cannot stat: " + std::strerror(errno));
  if (auto problem = config_file_problem(st, path, ::geteuid()); !problem.empty())
    return file_error(problem);
  stamp.add(path, st);
  auto text = read_all(fd.get(), path);
  if (!text) return text.error();
  return ConfigSource{path, std::move(*text)};
}

// The drop-in directory: whoever may add a file to it may run anything as
// root, as with the file itself.
Status check_dropin_dir(const std::string& config_path) {
  const std::string dir = dropin_dir(config_path);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) return Ok{};
    return file_error(dir + ": cannot stat: " + std::strerror(errno));
  }
  if (!S_ISDIR(st.st_mode)) return file_error(dir + " is " + kind_of(st.st_mode) + ", not a directory of drop-ins");
  const bool owner_ok = st.st_uid == 0 || st.st_uid == ::geteuid();
  if (owner_ok && (st.st_mode & (S_IWGRP | S_IWOTH)) == 0) return Ok{};
  return file_error(dir + " is owned by uid " + std::to_string(st.st_uid) + " with mode " + octal_mode(st.st_mode) +
                    ": a file added there names commands vigild runs as root, so it must be owned by root "
                    "and writable by nobody else; run: chown root:root " + dir + " && chmod go-w " + dir);
}

}  // namespace

Result<Config> load_daemon_config(const std::string& path) {
  ConfigStamp stamp;
  auto main = read_checked(path, stamp);
  if (!main) return main.error();
  if (auto dir = check_dropin_dir(path); !dir) return dir.error();
  auto dropins = dropin_paths(path);
  if (!dropins) return dropins.error();
  std::vector<ConfigSource> sources{std::move(*main)};
  for (const auto& p : *dropins) {
    auto src = read_checked(p, stamp);
    if (!src) return src.error();
    sources.push_back(std::move(*src));
  }
  auto cfg = parse_config(sources);
  if (cfg) {
    cfg->source_stamp = stamp.digest();
    cfg->source_newest = stamp.newest();
    cfg->source_digest = sources_digest(sources);
  }
  return cfg;
}

Status publish_client_settings(const Config& cfg) {
  const std::string path = last_good_path(cfg.daemon.socket);
  const std::string tmp = path + ".new";
  const std::string text =
      last_good_text(cfg.daemon.socket, cfg.daemon.admin_socket, cfg.lockout.console_exempt, cfg.source_stamp);
  ::unlink(tmp.c_str());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return Error::State(tmp + ": cannot create: " + std::strerror(errno));
  const bool written = ::fchmod(fd, 0644) == 0 &&
                       ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const int saved = errno;
  ::close(fd);
  if (!written || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const int why = written ? errno : saved;
    ::unlink(tmp.c_str());
    return Error::State(path + ": cannot write: " + std::strerror(why));
  }
  return Ok{};
}

}  // namespace vigil
