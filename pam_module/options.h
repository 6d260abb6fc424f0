// pam_vigil's options: one setter serves the config file and the module
// arguments alike; module arguments override the file (as pam_faillock does).
//
// Contract:
//  * parse_options() is pure: it takes the config file's text (or nullopt when
//    the file is absent) and the module arguments, and returns Options or an
//    error message naming the bad argument or the config line.
//  * From the config file and its drop-ins (FILE.d/*.conf, in order) the
//    module reads only [daemon] socket and [lockout] console_exempt;
//    everything else there is the daemon's.
//  * A config file that fails to parse is reported in config_error, and the
//    module goes on with the last good settings vigild published
//    (protocol/config_files.h: client.conf beside the socket it would use),
//    as vigild itself keeps its running configuration on such a file; when
//    there are none, with the built-in defaults and its arguments, the
//    console exemption off (the strict reading). Failures must keep being
//    reported, so config_error stays set either way.
//  * A bad module argument is fatal (error): the module refuses.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/config_files.h"
#include "vigil_build_config.h"

namespace vigil::pam {

enum class Mode { kNone, kAuthFail, kAuthSucc };
enum class FailMode { kSecure, kSafe };

struct Options {
  Mode mode = Mode::kNone;
  std::string config_path = VIGIL_DEFAULT_CONFIG;
  std::string socket = "/run/vigil/vigil.sock";
  std::chrono::milliseconds timeout{2000};
  FailMode failmode = FailMode::kSecure;
  // The account phase's own failmode (failmode_account=); unset: failmode's.
  // An account line that is safe lets cron, at and key logins through while
  // vigild is absent, without relaxing the password phase.
  std::optional<FailMode> failmode_account;
  bool console_exempt = true;
  bool can_prompt = true;  // prompt=no: the service cannot ask for a code
  bool debug = false;
};

struct ParsedOptions {
  Options options;
  std::string error;         // non-empty: a bad argument; refuse, and log this
  std::string config_error;  // non-empty: the config file was ignored; log this
};

// The shared setter: config keys and module arguments go through here. ""
// or the error.
std::string set_option(Options& o, std::string_view key, std::string_view value);

// What the config files say to the module, before any argument.
struct FileOptions {
  std::string socket = Options{}.socket;
  bool console_exempt = Options{}.console_exempt;
  std::string config_error;  // non-empty: the files were ignored
};

// The files' keys for the module, in order (a later file's key replaces an
// earlier one's), read with toml++; config_error names the file and line of
// the first that fails. `files` is not empty. Defined in options_toml.cc,
// which the unit tests link and the helper pam_vigil/config.so is built
// from; pam_vigil.so itself calls that helper (config_helper.h), so that a
// login maps toml++ only when it must parse vigil.conf.
FileOptions parse_files(const std::vector<ConfigSource>& files);

// client.conf's settings when its text is exactly what vigild writes
// (last_good_text: comments, stamp, [daemon] socket and admin_socket,
// [lockout] console_exempt, each on its own line, strings with only \"
// and \\ escaped); nullopt for any other text, which parse_files() then
// reads. Pure, and no toml++: the common case of a login.
std::optional<FileOptions> read_published(std::string_view client_text);

// Reads `conf=` from args first (so the file can be read), then the file,
// then applies every argument.
ParsedOptions parse_options(const std::vector<std::string_view>& args,
                            const std::optional<std::string>& config_text);
// The same over the config file and its drop-ins, in order (none: the file
// is absent); a later file's key replaces an earlier one's.
ParsedOptions parse_options(const std::vector<std::string_view>& args, const std::vector<ConfigSource>& files);

// The files' options when they failed to parse (config_error set): the
// last good settings (`last_good`: client.conf's path and text) when they
// parse, with a config_error that says so; otherwise `files` as they are.
// Pure; load_files() falls back through it.
FileOptions with_last_good(FileOptions files, const std::optional<ConfigSource>& last_good);
// Where the last good settings are for these arguments: beside socket=, or
// the built-in socket.
std::string last_good_path_for(const std::vector<std::string_view>& args);

// The `conf=PATH` argument, or the default path.
std::string config_path_from_args(const std::vector<std::string_view>& args);

// The settings for these arguments: client.conf's while it stands for the
// config files as they are (protocol/config_files.h, ConfigStamp: no read,
// no parse of vigil.conf); otherwise reads the config file and parses,
// keeping the files' parse (up to 4
// distinct sets of files) while their text is the same, and applies the
// arguments on top at each call: the module stays loaded (-z nodelete), so
// a process parses vigil.conf once, whatever line of its stack (authfail,
// authsucc, account) asks first. Thread-safe; it only ever try_locks, so a
// child forked while another thread held the lock never waits (it parses).
ParsedOptions load_options_cached(const std::vector<std::string_view>& args);
// Its two halves: what the files say for these arguments (the stamp check,
// the reads, the parse and the last good settings; config_error set when
// the files were ignored), and the arguments applied on top (pure, cheap:
// a bad argument is its error).
FileOptions load_files(const std::vector<std::string_view>& args);
ParsedOptions apply_args(const std::vector<std::string_view>& args, const FileOptions& files);
// Which files load_files() reads for these arguments (conf= and the
// directory of socket=): two module lines with the same key read the same
// files. pam_vigil.cc reuses one line's load_files() for the next lines of
// the same transaction.
std::string files_key(const std::vector<std::string_view>& args);
// How many calls the cache answered, for tests.
std::uint64_t options_cache_hits();

}  // namespace vigil::pam
