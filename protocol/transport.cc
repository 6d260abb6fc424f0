#include "protocol/transport.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <optional>

#include "protocol/frame.h"

namespace vigil::proto {
namespace {

using Clock = std::chrono::steady_clock;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

FrameCall fail(Transport t, std::string detail) {
  FrameCall r;
  r.transport = t;
  r.detail = std::move(detail);
  return r;
}

std::string errno_text(const char* what, int err) {
  return std::string(what) + ": " + std::strerror(err);
}

// Waits for `events` on fd until the deadline. Returns 1 ready, 0 timeout,
// -1 error (errno set).
int wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return 0;
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, static_cast<int>(left.count()) + 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    if (n == 0) continue;  // re-check the clock
    return 1;
  }
}

// Wipes a buffer when it goes out of scope: request frames carry codes and
// passwords, replies carry new secrets and tokens.
class Wiped {
 public:
  Wiped(void* p, std::size_t n) : p_(p), n_(n) {}
  ~Wiped() {
    if (p_ && n_) explicit_bzero(p_, n_);
  }
  Wiped(const Wiped&) = delete;
  Wiped& operator=(const Wiped&) = delete;

 private:
  void* p_;
  std::size_t n_;
};

// Stages of one call. Each answers nullopt to go on, or the call's failure.
using Stage = std::optional<FrameCall>;

// The socket file: there, a socket, and root's when the caller asks.
Stage check_socket(const ClientOptions& options, sockaddr_un* addr) {
  addr->sun_family = AF_UNIX;
  if (options.socket_path.empty() || options.socket_path.size() >= sizeof(addr->sun_path))
    return fail(Transport::kIo, "socket path is empty or too long");
  std::memcpy(addr->sun_path, options.socket_path.c_str(), options.socket_path.size() + 1);
  struct stat st {};
  if (::stat(options.socket_path.c_str(), &st) != 0) {
    int err = errno;
    if (err == ENOENT) return fail(Transport::kAbsent, "socket " + options.socket_path + " missing");
    return fail(Transport::kIo, errno_text("stat", err));
  }
  if (!S_ISSOCK(st.st_mode)) return fail(Transport::kUntrusted, "not a socket");
  if (options.require_root_server && st.st_uid != 0) return fail(Transport::kUntrusted, "socket not owned by root");
  return std::nullopt;
}

// Connects (retrying while the backlog is full), then checks the server's
// credentials when the caller asks.
Stage connect_to(const ClientOptions& options, const Fd& fd, const sockaddr_un& addr,
                 Clock::time_point deadline) {
  for (;;) {
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0) break;
    int err = errno;
    if (err == EINTR) continue;
    if (err == ECONNREFUSED || err == ENOENT) return fail(Transport::kAbsent, "connection refused");
    if (err == EAGAIN || err == EINPROGRESS) {
      // Backlog full: the daemon exists but is overloaded. Wait and retry.
      if (Clock::now() >= deadline) return fail(Transport::kTimeout, "connect timed out");
      ::usleep(1000);
      continue;
    }
    return fail(Transport::kIo, errno_text("connect", err));
  }
  if (!options.require_root_server) return std::nullopt;
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
    return fail(Transport::kIo, errno_text("SO_PEERCRED", errno));
  if (cred.uid != 0) return fail(Transport::kUntrusted, "server is not running as root");
  return std::nullopt;
}

Stage send_all(const Fd& fd, std::string_view out, Clock::time_point deadline) {
  while (!out.empty()) {
    ssize_t n = ::send(fd.get(), out.data(), out.size(), MSG_NOSIGNAL);
    if (n > 0) {
      out.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    int err = errno;
    if (n < 0 && err == EINTR) continue;
    if (n < 0 && (err == EAGAIN || err == EWOULDBLOCK)) {
      int w = wait_for(fd.get(), POLLOUT, deadline);
      if (w == 0) return fail(Transport::kTimeout, "send timed out");
      if (w < 0) return fail(Transport::kIo, errno_text("poll", errno));
      continue;
    }
    if (err == EPIPE || err == ECONNRESET) return fail(Transport::kGarbage, "daemon closed early");
    return fail(Transport::kIo, errno_text("send", err));
  }
  return std::nullopt;
}

// Reads until one whole reply frame is in *frame.
Stage receive_frame(const Fd& fd, std::string* frame, Clock::time_point deadline) {
  FrameReader reader;
  char buf[4096];
  Wiped wipe_buf(buf, sizeof buf);
  for (;;) {
    auto state = reader.next(frame);
    if (state == FrameReader::State::kFrame) return std::nullopt;
    if (state == FrameReader::State::kTooLarge) return fail(Transport::kGarbage, "reply too large");
    ssize_t n = ::recv(fd.get(), buf, sizeof(buf), 0);
    if (n > 0) {
      reader.feed(std::string_view(buf, static_cast<size_t>(n)));
      continue;
    }
    if (n == 0) return fail(Transport::kGarbage, "daemon closed before a full reply");
    int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      // Sleep in poll() at once: no spin before it. A login process wakes an
      // idle vigild, and spinning while that vCPU wakes cost the caller
      // about 300 us of CPU per login process (bench/RESULTS.md, 2026-12-05).
      int w = wait_for(fd.get(), POLLIN, deadline);
      if (w == 0) return fail(Transport::kTimeout, "no reply before the deadline");
      if (w < 0) return fail(Transport::kIo, errno_text("poll", errno));
      continue;
    }
    if (err == ECONNRESET) return fail(Transport::kGarbage, "daemon reset the connection");
    return fail(Transport::kIo, errno_text("recv", err));
  }
}

}  // namespace

const char* transport_name(Transport t) {
  switch (t) {
    case Transport::kOk: return "ok";
    case Transport::kAbsent: return "daemon absent";
    case Transport::kUntrusted: return "untrusted socket";
    case Transport::kTimeout: return "timeout";
    case Transport::kGarbage: return "garbled reply";
    case Transport::kIo: return "I/O error";
  }
  return "?";
}

FrameCall::~FrameCall() {
  if (!reply.empty()) explicit_bzero(reply.data(), reply.size());
}

FrameCall call_frame(const ClientOptions& options, std::string_view frame) {
  const auto deadline = Clock::now() + options.timeout;
  sockaddr_un addr{};
  if (auto failed = check_socket(options, &addr)) return std::move(*failed);
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) return fail(Transport::kIo, errno_text("socket", errno));
  if (auto failed = connect_to(options, fd, addr, deadline)) return std::move(*failed);
  if (auto failed = send_all(fd, frame, deadline)) return std::move(*failed);
  // No more requests: vigild reads the end with the request, answers and
  // closes without waiting on this connection again (server.h's fast path).
  (void)::shutdown(fd.get(), SHUT_WR);
  FrameCall r;
  if (auto failed = receive_frame(fd, &r.reply, deadline)) return std::move(*failed);
  r.transport = Transport::kOk;
  return r;
}

}  // namespace vigil::proto
