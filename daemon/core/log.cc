#include "daemon/core/log.h"

#include <sys/stat.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

namespace vigil::log {
namespace {

std::atomic<bool> g_journal{false};
std::atomic<bool> g_debug{false};
std::mutex g_mu;

std::string clean(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (unsigned char c : v) out.push_back(c < 0x20 || c == 0x7f ? '?' : static_cast<char>(c));
  return out;
}

}  // namespace

void init() {
  // $JOURNAL_STREAM is "DEV:INODE" of the stream systemd connected to stderr.
  const char* js = std::getenv("JOURNAL_STREAM");
  if (!js) return;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(js, "%llu:%llu", &dev, &ino) != 2) return;
  struct stat st {};
  if (fstat(STDERR_FILENO, &st) != 0) return;
  g_journal = (st.st_dev == dev && st.st_ino == ino);
}

void set_debug(bool on) { g_debug = on; }
bool debug_enabled() { return g_debug; }

void debug(std::string_view msg, std::initializer_list<Field> f) {
  if (g_debug) event(Priority::kDebug, {}, msg, f);
}

void event(Priority prio, std::string_view message_id, std::string_view message,
           std::initializer_list<Field> fields) {
  std::string msg = clean(message);
  if (g_journal) {
    std::vector<std::string> parts;
    parts.push_back("MESSAGE=" + msg);
    parts.push_back("PRIORITY=" + std::to_string(static_cast<int>(prio)));
    parts.push_back("SYSLOG_IDENTIFIER=vigild");
    if (!message_id.empty()) parts.push_back("MESSAGE_ID=" + std::string(message_id));
    for (const auto& f : fields)
      if (!f.value.empty()) parts.push_back(std::string(f.name) + "=" + clean(f.value));
    std::vector<iovec> iov;
    for (auto& p : parts) iov.push_back(iovec{p.data(), p.size()});
    sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
    return;
  }
  std::string line = "vigild: ";
  static const char* const kLevel[] = {"", "", "critical: ", "error: ", "warning: ", "", "", "debug: "};
  line += kLevel[static_cast<int>(prio)];
  line += msg;
  for (const auto& f : fields) {
    if (f.value.empty()) continue;  // unknown, not empty: left out, as in the journal
    line += ' ';
    line += f.name;
    line += '=';
    line += clean(f.value);
  }
  line += '\n';
  std::lock_guard lock(g_mu);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace vigil::log
