// Known devices: devices, devices forget. See commands.h.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>

#include "ctl/commands.h"
#include "ctl/output.h"
#include "protocol/api.h"

namespace vigil::ctl {
namespace api = proto::api;

void add_devices_options(CLI::App& cmd, Args& a) {
  cmd.add_option("USER", a.devices.user, "user name (default: yourself)");
  cmd.add_flag("--json", a.devices.json, "print JSON for scripts");
}

int run_devices(Global& g, const Args& a) {
  auto r = own_or_admin_call(g, api::DevicesList::kMethod, api::DevicesList{a.devices.user}.to_json(),
                             a.devices.user);
  if (!r) return kExitError;
  if (a.devices.json) {
    print_json(*r);
    return 0;
  }
  auto reply = decoded<api::DevicesList::Reply>(*r);
  if (!reply) return kExitError;
  std::printf("%-48s %-25s %-25s %s\n", "DEVICE", "FIRST USE", "LAST USE", "STATE");
  for (const auto& d : reply->devices)
    std::printf("%-48s %-25s %-25s %s\n", terminal_safe(d.device).c_str(), when(d.first_seen).c_str(),
                when(d.last_seen).c_str(), d.known ? "known" : "expired");
  if (reply->devices.empty()) std::printf("(%s has no known device yet)\n", terminal_safe(reply->user).c_str());
  return 0;
}

void add_devices_forget_options(CLI::App& cmd, Args& a) {
  cmd.add_option("USER", a.devices.user, "user name")->required();
  cmd.add_option("DEVICE", a.devices.device, "device id, as 'vigilctl devices' shows it");
  cmd.add_flag("--all", a.devices.all, "forget every known device of USER");
}

int run_devices_forget(Global& g, const Args& a) {
  if (a.devices.all == !a.devices.device.empty()) {
    std::cerr << "vigilctl: give either DEVICE or --all\n";
    record_failure({kExitUsage, "vigilctl.Usage", "give either DEVICE or --all"});
    return kExitUsage;
  }
  const api::DevicesForget request{a.devices.user, a.devices.device, a.devices.all};
  auto r = call(g, api::DevicesForget::kMethod, request.to_json());
  if (!r) return kExitError;
  auto reply = decoded<api::DevicesForget::Reply>(*r);
  if (!reply) return kExitError;
  std::printf("forgot %lld device(s) of %s\n", (long long)reply->forgotten, terminal_safe(reply->user).c_str());
  return 0;
}

}  // namespace vigil::ctl
