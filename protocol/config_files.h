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
// alone: each file's path, device, inode, mode, owner, group, size, and
// modification and change times in nanoseconds, in the order they apply,
// folded into a 64-bit FNV-1a digest ("v1:" and 16 hex digits).
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
//    module reads and parses the files as before.
//  * File times have a granularity (a tick of the kernel's file clock, a
//    second on some file systems): a file changed just before vigild read
//    it might change again within the same tick, keeping its size, unseen
//    in the stamp. So, as git does with "racily clean" files, the settings
//    stand for the files only when every file last changed (mtime and
//    ctime) more than kRacyWindow before vigild wrote client.conf;
//    otherwise the module reads and parses the files, until vigild
//    publishes again: it does so once the window has passed, when the files
//    still hold the text it runs with (daemon.cc, settle_published).
//  * Not covered: a file system whose stat answers from a cache that may be
//    stale (NFS attribute caching): keep vigil.conf on a local file system.
class ConfigStamp {
 public:
  void add(const std::string& path, const struct stat& st);
  std::string digest() const;
  // The latest mtime or ctime of the files added.
  struct timespec newest() const { return newest_; }

 private:
  std::uint64_t hash_ = 14695981039346656037ull;
  struct timespec newest_ {};
};
constexpr long kRacyWindowSeconds = 2;
// A digest of the files' paths and texts (FNV-1a 64, "t1:" and 16 hex
// digits): whether vigild would read the same files again.
std::string sources_digest(const std::vector<ConfigSource>& sources);
// The files' stamp now: nullopt when the file is absent or any file (or the
// drop-in directory) cannot be stat'ed or listed.
std::optional<ConfigStamp> stamp_config_now(const std::string& config_path);
// Its digest alone.
std::optional<std::string> config_stamp_now(const std::string& config_path);
// Whether client.conf (its text, and its modification time) stands for the
// files at config_path now: the same stamp, and no file changed within
// kRacyWindowSeconds before client.conf was written.
bool published_stands_for(const std::string& config_path, std::string_view client_text,
                          const struct timespec& client_mtime);
// The trusted file's text, or nullopt (absent, not trusted, unreadable,
// over 64 KiB); its modification time in *mtime when asked.
std::optional<std::string> read_last_good(const std::string& path, struct timespec* mtime = nullptr);

}  // namespace vigil
