// pamloop: times whole PAM transactions in one process, for bench/run.py.
//
//   pamloop pam SERVICE USER PASSWORD COUNT [RHOST]
//       pam_start, pam_authenticate, pam_acct_mgmt, pam_end, COUNT times;
//       USER may contain %d, replaced by i % 50 (spreads failures over users).
//       Also prints cpu_us: this process's CPU (user + system) per
//       transaction, over the whole run (10 ms ticks: use a large COUNT).
//   pamloop rtt SOCKET COUNT     one vigil round trip (connect, Ping, close)
//   pamloop commit DIR COUNT     one SQLite WAL commit (synchronous=NORMAL)
//   pamloop storm SOCKET CLIENTS TOTAL [distinct]
//       CLIENTS threads, each on its own connection, send failure reports
//       (Auth.Report) for random users u0..u49 from random sources, TOTAL in
//       all; prints decisions per second and the latency of each decision.
//       With "distinct", report i comes from source 10.x.y.z numbered i, so
//       TOTAL reports make TOTAL distinct (user, source) pairs; progress is
//       printed on stderr every 100000 reports.
//   pamloop echo SOCKET
//       The storm's floor: a server on SOCKET that answers every frame at
//       once with a fixed reply ({"verdict":"allow"}), on one thread with
//       epoll, as vigild's I/O thread does, but with no decision and no
//       commit; pam_vigil pointed at it makes the PAM floor. Runs until
//       killed.
//
// Prints one JSON object: the count, the per-operation min, median, p99 and
// max in microseconds, and the return codes seen.
#include <security/pam_appl.h>
#include <sqlite3.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <random>
#include <thread>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "protocol/client.h"
#include "protocol/message.h"
#include "protocol/names.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Answer {
  const char* password;
};

int conv(int n, const struct pam_message** msg, struct pam_response** resp, void* data) {
  auto* a = static_cast<Answer*>(data);
  auto* out = static_cast<pam_response*>(calloc(static_cast<size_t>(n), sizeof(pam_response)));
  if (!out) return PAM_BUF_ERR;
  for (int i = 0; i < n; ++i)
    if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF || msg[i]->msg_style == PAM_PROMPT_ECHO_ON)
      out[i].resp = strdup(a->password);
  *resp = out;
  return PAM_SUCCESS;
}

// cpu_us: this process's CPU time (user + system) per operation, or < 0.
double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void report(std::vector<double>& us, const std::map<int, int>& rcs, double cpu_us = -1) {
  std::sort(us.begin(), us.end());
  auto at = [&](double q) { return us[std::min(us.size() - 1, static_cast<size_t>(q * us.size()))]; };
  std::printf("{\"count\":%zu,\"min_us\":%.1f,\"median_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,",
              us.size(), us.front(), at(0.5), at(0.99), us.back());
  if (cpu_us >= 0) std::printf("\"cpu_us\":%.1f,", cpu_us);
  std::printf("\"rc\":{");
  bool first = true;
  for (auto [rc, n] : rcs) {
    std::printf("%s\"%d\":%d", first ? "" : ",", rc, n);
    first = false;
  }
  std::printf("}}\n");
}

int run_pam(const char* service, const char* user_pattern, const char* password, int count, const char* rhost) {
  Answer a{password};
  pam_conv c{conv, &a};
  std::vector<double> us;
  std::map<int, int> rcs;
  us.reserve(static_cast<size_t>(count));
  const double cpu0 = cpu_seconds();
  for (int i = 0; i < count; ++i) {
    char user[64];
    std::snprintf(user, sizeof user, user_pattern, i % 50);
    auto t0 = Clock::now();
    pam_handle_t* h = nullptr;
    int rc = pam_start(service, user, &c, &h);
    if (rc == PAM_SUCCESS) {
      if (rhost) pam_set_item(h, PAM_RHOST, rhost);
      pam_set_item(h, PAM_TTY, "ssh");
      rc = pam_authenticate(h, 0);
      if (rc == PAM_SUCCESS) rc = pam_acct_mgmt(h, 0);
      pam_end(h, rc);
    }
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    ++rcs[rc];
  }
  report(us, rcs, (cpu_seconds() - cpu0) * 1e6 / count);
  return 0;
}

int run_rtt(const char* socket, int count) {
  std::vector<double> us;
  std::map<int, int> rcs;
  vigil::proto::ClientOptions o{socket, std::chrono::milliseconds(2000), true};
  for (int i = 0; i < count; ++i) {
    auto t0 = Clock::now();
    auto r = vigil::proto::call(o, vigil::proto::Call{vigil::proto::kPing, {}});
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    ++rcs[r.transport == vigil::proto::Transport::kOk ? 0 : 1];
  }
  report(us, rcs);
  return 0;
}

int run_commit(const char* dir, int count) {
  std::string path = std::string(dir) + "/commit-floor.db";
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) return 1;
  sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                   "CREATE TABLE IF NOT EXISTS t(k INTEGER PRIMARY KEY, v TEXT);", nullptr, nullptr, nullptr);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO t(k, v) VALUES(?1, '1700000000 1700000001')", -1, &st, nullptr);
  std::vector<double> us;
  std::map<int, int> rcs;
  for (int i = 0; i < count; ++i) {
    auto t0 = Clock::now();
    sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
    sqlite3_bind_int(st, 1, i % 1000);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    rc = sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK && rc == SQLITE_DONE ? 0 : 1;
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    ++rcs[rc];
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  report(us, rcs);
  return 0;
}

int run_storm(const char* path, int clients, int total, bool distinct) {
  std::atomic<int> next{0};
  std::atomic<int> errors{0};
  std::mutex mu;
  std::vector<double> all;
  auto worker = [&](int id) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path, sizeof(addr.sun_path) - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      ++errors;
      ::close(fd);
      return;
    }
    std::mt19937 rng(static_cast<unsigned>(id * 7919 + 1));
    std::vector<double> mine;
    vigil::proto::FrameReader reader;
    std::string frame;
    char buf[8192];
    for (int i; (i = next++) < total;) {
      vigil::proto::Call call;
      call.method = vigil::proto::kAuthReport;
      call.params["user"] = "u" + std::to_string(rng() % 50);
      call.params["outcome"] = vigil::proto::kOutcomeFailure;
      // Unique across runs and processes: a daemon remembers nonces for
      // two minutes, and a repeated one is not counted again.
      call.params["nonce"] = "storm-" + std::to_string(::getpid()) + "-" + std::to_string(i);
      call.params["service"] = "bench";
      if (distinct) {
        call.params["rhost"] = "10." + std::to_string((i >> 16) & 255) + "." + std::to_string((i >> 8) & 255) +
                               "." + std::to_string(i & 255);
        if (i > 0 && i % 100000 == 0) std::fprintf(stderr, "fed %d of %d\n", i, total);
      } else {
        call.params["rhost"] = "10." + std::to_string(rng() % 256) + "." + std::to_string(rng() % 256) + "." +
                               std::to_string(1 + rng() % 254);
      }
      call.params["tty"] = "ssh";
      auto out = vigil::proto::encode(call);
      auto t0 = Clock::now();
      if (!out || ::send(fd, out->data(), out->size(), MSG_NOSIGNAL) != static_cast<ssize_t>(out->size())) {
        ++errors;
        break;
      }
      bool got = false;
      while (!got) {
        auto st = reader.next(&frame);
        if (st == vigil::proto::FrameReader::State::kFrame) {
          got = true;
          break;
        }
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        reader.feed(std::string_view(buf, static_cast<size_t>(n)));
      }
      if (!got) {
        ++errors;
        break;
      }
      mine.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
      auto reply = vigil::proto::decode_reply(frame);
      if (!reply || !reply->ok()) ++errors;
    }
    ::close(fd);
    std::lock_guard lock(mu);
    all.insert(all.end(), mine.begin(), mine.end());
  };
  auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) threads.emplace_back(worker, c);
  for (auto& t : threads) t.join();
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::sort(all.begin(), all.end());
  if (all.empty()) return 1;
  auto at = [&](double q) { return all[std::min(all.size() - 1, static_cast<size_t>(q * all.size()))]; };
  std::printf("{\"decisions\":%zu,\"clients\":%d,\"seconds\":%.3f,\"per_second\":%.0f,\"p50_us\":%.1f,"
              "\"p99_us\":%.1f,\"max_us\":%.1f,\"errors\":%d}\n",
              all.size(), clients, secs, all.size() / secs, at(0.5), at(0.99), all.back(), errors.load());
  return 0;
}

int run_echo(const char* path) {
  int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path, sizeof(addr.sun_path) - 1);
  ::unlink(path);
  if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listener, 128) != 0) {
    std::perror("pamloop echo: listen");
    return 1;
  }
  auto reply = vigil::proto::encode(vigil::proto::Reply::success({{"verdict", "allow"}}));
  if (!reply) return 1;
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listener;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
  std::map<int, std::unique_ptr<vigil::proto::FrameReader>> readers;
  epoll_event events[128];
  char buf[8192];
  std::string frame;
  for (;;) {
    int n = ::epoll_wait(ep, events, 128, -1);
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == listener) {
        for (int c; (c = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0;) {
          ev.data.fd = c;
          ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
          readers[c] = std::make_unique<vigil::proto::FrameReader>();
        }
        continue;
      }
      ssize_t got = ::recv(fd, buf, sizeof buf, 0);
      if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      bool drop = got <= 0;
      if (!drop) {
        auto& reader = *readers[fd];
        reader.feed(std::string_view(buf, static_cast<size_t>(got)));
        vigil::proto::FrameReader::State st;
        while ((st = reader.next(&frame)) == vigil::proto::FrameReader::State::kFrame)
          (void)!::send(fd, reply->data(), reply->size(), MSG_NOSIGNAL);
        drop = st == vigil::proto::FrameReader::State::kTooLarge;
      }
      if (drop) {
        ::close(fd);
        readers.erase(fd);
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 6 && std::strcmp(argv[1], "pam") == 0)
    return run_pam(argv[2], argv[3], argv[4], std::atoi(argv[5]), argc > 6 ? argv[6] : nullptr);
  if (argc == 3 && std::strcmp(argv[1], "echo") == 0) return run_echo(argv[2]);
  if (argc == 4 && std::strcmp(argv[1], "rtt") == 0) return run_rtt(argv[2], std::atoi(argv[3]));
  if (argc == 4 && std::strcmp(argv[1], "commit") == 0) return run_commit(argv[2], std::atoi(argv[3]));
  if ((argc == 5 || argc == 6) && std::strcmp(argv[1], "storm") == 0)
    return run_storm(argv[2], std::atoi(argv[3]), std::atoi(argv[4]),
                     argc == 6 && std::strcmp(argv[5], "distinct") == 0);
  std::fprintf(stderr,
               "usage: pamloop pam SERVICE USER PASSWORD COUNT [RHOST]\n"
               "       pamloop rtt SOCKET COUNT\n"
               "       pamloop commit DIR COUNT\n"
               "       pamloop storm SOCKET CLIENTS TOTAL [distinct]\n"
               "       pamloop echo SOCKET\n");
  return 2;
}
