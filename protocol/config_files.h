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

#include <sys/stat.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
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
// `stamp`: the stamp of the files these settings were read from (below);
// empty: none (the built-in defaults, no file).
std::string last_good_text(const std::string& socket, const std::string& admin_socket, bool console_exempt,
                           const std::string& stamp = {});
// client.conf's stamp, or "" when it has none.
std::string last_good_stamp(std::string_view text);

// The stamp of the configuration files as they are on disk, from stat
// alone: each file's path, device, inode, size, and modification and change
// times in nanoseconds, in the order they apply, folded into a 64-bit
// FNV-1a digest ("v1:" and 16 hex digits).
//  * vigild stamps the files it parsed, each from fstat on the descriptor
//    it then reads (so a later edit cannot be stamped as what it read), and
//    writes the stamp into client.conf with the settings.
//  * pam_vigil.so stamps the files now (config_stamp_now): when the two are
//    the same, client.conf's settings are the files' (vigild accepted
//    exactly these files, and the module reads less of them than vigild
//    does), so the module takes them without reading or parsing vigil.conf:
//    a login process saves the parse of about 18 KB of TOML.
//  * An edit changes the file's times (and usually its size or inode); a
//    drop-in added or removed changes the list: the stamps differ, and the
//    module reads and parses the files as before. The times come from the
//    kernel's file clock, which ticks every few milliseconds: an edit in the
//    same tick as vigild's read, keeping the size and the inode, would go
//    unseen until the next change of the file; the module would then use
//    the settings vigild runs with.
class ConfigStamp {
 public:
  void add(const std::string& path, const struct stat& st);
  std::string digest() const;

 private:
  std::uint64_t hash_ = 14695981039346656037ull;
};
// The files' stamp now: nullopt when the file is absent or any file (or the
// drop-in directory) cannot be stat'ed or listed.
std::optional<std::string> config_stamp_now(const std::string& config_path);
// The trusted file's text, or nullopt (absent, not trusted, unreadable,
// over 64 KiB).
std::optional<std::string> read_last_good(const std::string& path);

}  // namespace vigil
