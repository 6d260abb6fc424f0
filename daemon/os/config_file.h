// vigild's own reading of vigil.conf, which names commands vigild runs as
// root ([recovery] notify_command, the hooks of [tokens] revoke_hooks_dir):
// whoever may write the file may run anything as root.
//
// Contract:
//  * load_daemon_config(path) opens path (a symbolic link is followed: its
//    target is the file checked), checks the open file itself with fstat,
//    then parses exactly what it reads from that descriptor, so the file
//    checked is the file read. Refused, with a message naming the file:
//      - a file that cannot be opened ("PATH: cannot open: WHY");
//      - anything but a regular file (a directory, a FIFO, a device);
//      - a file owned by any uid but root or vigild's effective uid, or
//        writable by group or others; the message gives its owner, its mode,
//        and the chown/chmod that fix it.
//    The drop-ins (FILE.d/*.conf, protocol/config_files.h) are each opened
//    and checked the same way, after the directory itself: it must be a
//    directory owned by root (or vigild's uid) that group and others cannot
//    write, since a file added there is read as root's. Otherwise the result
//    is parse_config()'s over FILE and its drop-ins, in order, with
//    source_stamp set to the files' stamp (protocol/config_files.h) taken
//    from each descriptor's fstat before it was read.
//  * config_file_problem() is that check alone, pure: "" when the file is
//    acceptable.
//  * vigilctl does not use this: it runs commands for nobody.
#pragma once

#include <sys/stat.h>

#include <string>

#include "daemon/core/config.h"
#include "protocol/result.h"

namespace vigil {

std::string config_file_problem(const struct stat& st, const std::string& path, uid_t daemon_uid);

Result<Config> load_daemon_config(const std::string& path);

// Writes the settings vigild's clients read while vigil.conf fails to parse
// (protocol/config_files.h, last_good_path) for this configuration, with
// the stamp of its files (pam_vigil.so reads them instead of the files
// while the files' stamp is the same): a new
// file, mode 0644, renamed over the old one. An error says what failed; the
// caller logs it (clients then fall back to the built-in defaults).
Status publish_client_settings(const Config& cfg);

}  // namespace vigil
