// The module's keys from vigil.conf and its drop-ins, read with toml++
// (options.h, parse_files). Linked into the unit tests and into the helper
// pam_vigil/config.so; pam_vigil.so itself loads that helper only when it
// must parse the files (config_helper.h).
#include "pam_module/options.h"

#include "protocol/config_text.h"

// Header-only toml++ without exceptions: nothing may throw across the PAM ABI.
#define TOML_HEADER_ONLY 1
#define TOML_EXCEPTIONS 0
#include <toml++/toml.h>

namespace vigil::pam {
namespace {

// One file's keys for the module, over what the files before it set; "" or
// the error, naming the file and line.
std::string apply_file(const ConfigSource& src, Options& from_file) {
  if (auto problem = config_text_problem(src.text)) return src.path + ": " + *problem;
  // Comment-only lines blanked first (protocol/config_text.h): the same
  // meaning and line numbers, a tenth of the parse on the shipped file.
  const std::string text = without_comment_lines(src.text);
  toml::parse_result parsed = toml::parse(text, src.path);
  if (!parsed)
    return src.path + ":" + std::to_string(parsed.error().source().begin.line) + ": " +
           std::string(parsed.error().description());
  const toml::table& t = parsed.table();
  if (auto node = t.at_path("daemon.socket")) {
    auto v = node.value_exact<std::string>();
    if (!v) return src.path + ": daemon.socket must be a string";
    if (auto e = set_option(from_file, "socket", *v); !e.empty()) return src.path + ": daemon.socket: " + e;
  }
  if (auto node = t.at_path("lockout.console_exempt")) {
    auto v = node.value_exact<bool>();
    if (!v) return src.path + ": lockout.console_exempt must be true or false";
    from_file.console_exempt = *v;
  }
  return {};
}

}  // namespace

FileOptions parse_files(const std::vector<ConfigSource>& files) {
  FileOptions out;
  Options from_file;
  std::string err;
  for (const auto& f : files)
    if (err = apply_file(f, from_file); !err.empty()) break;
  if (err.empty()) {
    out.socket = from_file.socket;
    out.console_exempt = from_file.console_exempt;
  } else {
    out.config_error = err;
    out.console_exempt = false;  // the strict reading
  }
  return out;
}

}  // namespace vigil::pam
