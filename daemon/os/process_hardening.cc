#include "daemon/os/process_hardening.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace vigil {
namespace {

Error os_error(const std::string& what) {
  return Error::Hardening(what + ": " + std::strerror(errno));
}

// Opens /dev/null on each of 0, 1 and 2 that is closed.
Status standard_streams_open() {
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) >= 0 || errno != EBADF) continue;
    int null = ::open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
    if (null < 0) return os_error("cannot open /dev/null for descriptor " + std::to_string(fd));
    if (null != fd) {  // lower ones are open, so open() took fd; anything else is a surprise
      ::close(null);
      return Error::Hardening("cannot reopen descriptor " + std::to_string(fd));
    }
  }
  return Ok{};
}

}  // namespace

Status harden_process() {
  const rlimit none{0, 0};
  if (::setrlimit(RLIMIT_CORE, &none) != 0) return os_error("cannot set RLIMIT_CORE to 0");
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return os_error("cannot clear the dumpable flag");
  return standard_streams_open();
}

}  // namespace vigil
