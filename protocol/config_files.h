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

}  // namespace vigil
