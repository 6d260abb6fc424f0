// Which files make up vigil's configuration, shared by pam_vigil.so, vigild
// and vigilctl: the file itself (/etc/vigil/vigil.conf), then the drop-ins
// beside it (/etc/vigil/vigil.conf.d/*.conf).
//
// Contract:
//  * dropin_paths(FILE) lists FILE.d/NAME for each NAME that ends in ".conf"
//    and does not start with ".", sorted by bytes (strcmp), so "10-x.conf"
//    comes before "20-y.conf". A missing FILE.d means none. What is listed
//    is not checked here: each reader opens it as it opens FILE (vigild
//    also checks the directory's owner and mode: config_file.h).
//  * A FILE.d that exists but cannot be listed (not a directory, no
//    permission) is an error: "FILE.d: cannot list: WHY". Skipping it would
//    silently drop settings.
//  * The files are applied in order, FILE first: a key set again by a later
//    file replaces the earlier value; [[devices.rule]] tables add up, FILE's
//    first (daemon/core/config.h).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "protocol/result.h"

namespace vigil {

// One file's text and the name its errors give.
struct ConfigSource {
  std::string path;
  std::string text;
};

std::string dropin_dir(const std::string& config_path);
Result<std::vector<std::string>> dropin_paths(const std::string& config_path);

// The last good settings. vigild writes what its clients read of the
// configuration ([daemon] socket and admin_socket, [lockout]
// console_exempt) to client.conf in the directory of its public socket,
// after each start and each reload it accepts. pam_vigil.so and vigilctl
// read them only while vigil.conf fails to parse (a live edit with a
// mistake: vigild keeps running on the last good one), from the directory
// of the socket they would use otherwise (socket= or --socket, else the
// built-in /run/vigil/vigil.sock), and only when the file is a regular file
// owned by root that group and others cannot write, in a directory the
// same holds for: anyone else's file could point them at a fake daemon.
std::string last_good_path(const std::string& socket);
std::string last_good_text(const std::string& socket, const std::string& admin_socket, bool console_exempt);
// The trusted file's text, or nullopt (absent, not trusted, unreadable,
// over 64 KiB).
std::optional<std::string> read_last_good(const std::string& path);

}  // namespace vigil
