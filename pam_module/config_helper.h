// The C interface between pam_vigil.so and its helper pam_vigil/config.so,
// which holds toml++ (options_toml.cc). A login process loads the helper only
// when it must parse vigil.conf: client.conf (options.h, read_published)
// answers every login while vigild's published settings stand for the files.
//
// Contract:
//  * The helper lives in the directory "pam_vigil" beside the module file
//    (dladdr, then realpath: beside the file a symlink points to), e.g.
//    /usr/lib/x86_64-linux-gnu/security/pam_vigil/config.so.
//    The module loads it only when the file and that directory are owned by
//    root (or by the module file's owner, who already chooses the code the
//    module runs: a build tree) and not writable by group or others.
//  * It exports one function, kHelperSymbol. The module passes each file's
//    path and text; the helper fills *out with strings from malloc() that
//    the module frees (vigil_pam_free_parsed). It never throws, and returns
//    0, or -1 when it could not answer (out of memory).
//  * A helper that cannot be loaded, or lacks the symbol, is a config error
//    that names it: the module then goes on as with a file that fails to
//    parse (the last good settings, else the strict reading).
#pragma once

#include <stddef.h>

extern "C" {

struct vigil_pam_file {
  const char* path;
  size_t path_len;
  const char* text;
  size_t text_len;
};

struct vigil_pam_parsed {
  char* socket;  // malloc()ed, NUL-terminated, socket_len bytes before it
  size_t socket_len;
  int console_exempt;
  char* config_error;  // malloc()ed; NULL or "" when the files parsed
  size_t config_error_len;
};

typedef int (*vigil_pam_parse_files_fn)(const struct vigil_pam_file* files, size_t count,
                                        struct vigil_pam_parsed* out);
}

namespace vigil::pam {
inline constexpr char kHelperDir[] = "pam_vigil";
inline constexpr char kHelperFile[] = "config.so";
// Versioned: a module and a helper from different builds refuse each other.
inline constexpr char kHelperSymbol[] = "vigil_pam_parse_files_v1";
}  // namespace vigil::pam
