// libFuzzer target: the configuration parser (daemon/core/config.h).
//
// The input is a vigil.conf text. Checked besides the sanitizers: an error
// names the file ("fuzz:LINE: ..." or "fuzz: ..."); an accepted config keeps
// its cross-key rules; a duration parsed is in range and formats back to
// itself. Every line of the input is also tried as a duration.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "daemon/core/config.h"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_config: invariant broken: %s\n", what);
  std::abort();
}

void duration(std::string_view text) {
  auto d = vigil::parse_duration(text);
  if (!d) return;
  if (d->count() < 0 || d->count() > 100LL * 365 * 86400) fail("duration out of range");
  auto again = vigil::parse_duration(vigil::format_duration(*d));
  if (!again || *again != *d) fail("format_duration does not parse back");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  auto cfg = vigil::parse_config(text, "fuzz");
  if (!cfg) {
    if (!cfg.error().message.starts_with("fuzz:")) fail("an error does not name its source");
  } else {
    if (cfg->throttle.max_ban_time < cfg->throttle.ban_time) fail("max_ban_time < ban_time accepted");
    if (cfg->lockout.max_unlock_time < cfg->lockout.unlock_time) fail("max_unlock_time < unlock_time accepted");
    if (cfg->daemon.admin_socket == cfg->daemon.socket) fail("admin_socket == socket accepted");
    for (const auto& r : cfg->devices.rules) {
      for (const auto& n : r.networks)
        if (n.prefix < 0 || n.prefix > (n.v6 ? 128 : 32)) fail("network prefix out of range");
      (void)vigil::action_name(r.action);
    }
    (void)cfg->totp_key_path();
    (void)vigil::require_name(cfg->totp.require);
  }

  duration(text);
  for (std::size_t pos = 0; pos < text.size();) {
    auto nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    duration(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return 0;
}
