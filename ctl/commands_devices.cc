// Known devices: devices, devices forget. See commands.h.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>

#include "ctl/commands.h"
#include "ctl/output.h"
#include "protocol/names.h"

namespace vigil::ctl {

void add_devices_options(CLI::App& cmd, Args& a) {
  cmd.add_option("USER", a.devices.user, "user name (default: yourself)");
  cmd.add_flag("--json", a.devices.json, "print JSON for scripts");
}

int run_devices(Global& g, const Args& a) {
  json::object p;
  if (!a.devices.user.empty()) p["user"] = a.devices.user;
  auto r = call(g, proto::kDevicesList, std::move(p));
  if (!r) return kExitError;
  if (a.devices.json) {
    print_json(*r);
    return 0;
  }
  const auto& list = (*r)["devices"].as_array();
  std::printf("%-48s %-25s %-25s %s\n", "DEVICE", "FIRST USE", "LAST USE", "STATE");
  for (const auto& v : list) {
    const auto& d = v.as_object();
    std::printf("%-48s %-25s %-25s %s\n", str(d, "device").c_str(), when(num(d, "first_seen")).c_str(),
                when(num(d, "last_seen")).c_str(), flag(d, "known") ? "known" : "expired");
  }
  if (list.empty()) std::printf("(%s has no known device yet)\n", str(*r, "user").c_str());
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
    return kExitUsage;
  }
  json::object p;
  p["user"] = a.devices.user;
  if (a.devices.all) p["all"] = true;
  else p["device"] = a.devices.device;
  auto r = call(g, proto::kDevicesForget, std::move(p));
  if (!r) return kExitError;
  std::printf("forgot %lld device(s) of %s\n", (long long)num(*r, "forgotten"), str(*r, "user").c_str());
  return 0;
}

}  // namespace vigil::ctl
