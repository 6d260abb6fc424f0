#include "daemon/os/sessions.h"

#include <systemd/sd-bus.h>

#include <cstring>
#include <thread>

#include "daemon/core/log.h"

namespace vigil {

void end_sessions_async(int64_t uid, std::string name) {
  std::thread([uid, name = std::move(name)] {
    sd_bus* bus = nullptr;
    if (sd_bus_open_system(&bus) < 0) {
      log::debug("no system bus: cannot end the sessions of " + name);
      return;
    }
    sd_bus_error err = SD_BUS_ERROR_NULL;
    sd_bus_message* reply = nullptr;
    int rc = sd_bus_call_method(bus, "org.freedesktop.login1", "/org/freedesktop/login1",
                                "org.freedesktop.login1.Manager", "TerminateUser", &err, &reply, "u",
                                static_cast<uint32_t>(uid));
    if (rc < 0) {
      if (err.name && std::strcmp(err.name, "org.freedesktop.login1.NoSuchUser") == 0)
        log::info("blocked " + name + " had no session to end");
      else
        log::warning("could not end the sessions of blocked " + name + ": " +
                     (err.message ? err.message : std::strerror(-rc)));
    } else {
      log::event(log::Priority::kNotice, {}, "ended the sessions of blocked " + name,
                 {{"VIGIL_USER", name}});
    }
    sd_bus_error_free(&err);
    sd_bus_message_unref(reply);
    sd_bus_flush_close_unref(bus);
  }).detach();
}

}  // namespace vigil
