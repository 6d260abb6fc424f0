#include "daemon/os/peer_session.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace vigil {
namespace {

// Up to 511 bytes of a procfs file; "" when unreadable.
std::string read_small(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  char buf[512];
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

// Field 22 of /proc/PID/stat (starttime), counted after the command name,
// which is in parentheses and may hold spaces. 0 when unreadable.
unsigned long long start_time(pid_t pid) {
  const std::string stat = read_small("/proc/" + std::to_string(pid) + "/stat");
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  const char* p = stat.c_str() + close + 1;
  for (int field = 3; field < 22 && *p; ++field) {  // skip state .. field 21
    while (*p == ' ') ++p;
    while (*p && *p != ' ') ++p;
  }
  return std::strtoull(p, nullptr, 10);
}

}  // namespace

uint32_t login_session(pid_t pid) {
  if (pid <= 0) return 0;
  const unsigned long long before = start_time(pid);
  if (before == 0) return 0;
  const std::string text = read_small("/proc/" + std::to_string(pid) + "/sessionid");
  if (text.empty() || start_time(pid) != before) return 0;
  const unsigned long v = std::strtoul(text.c_str(), nullptr, 10);
  return v > 0 && v < 4294967295UL ? static_cast<uint32_t>(v) : 0;
}

}  // namespace vigil
