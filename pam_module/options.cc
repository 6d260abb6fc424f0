#include "pam_module/options.h"

#include "protocol/config_files.h"
#include "protocol/config_text.h"

// Header-only toml++ without exceptions: nothing may throw across the PAM ABI.
#define TOML_HEADER_ONLY 1
#define TOML_EXCEPTIONS 0
#include <toml++/toml.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <mutex>

namespace vigil::pam {
namespace {

bool starts(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// The shared setter: config keys and module arguments go through here.
std::string set_option(Options& o, std::string_view key, std::string_view value) {
  if (key == "socket") {
    if (value.empty() || value[0] != '/') return "socket= needs an absolute path";
    o.socket = std::string(value);
  } else if (key == "timeout") {
    long v = 0;
    auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (ec != std::errc() || p != value.data() + value.size() || v < 10 || v > 60000)
      return "timeout= needs milliseconds between 10 and 60000";
    o.timeout = std::chrono::milliseconds(v);
  } else if (key == "failmode") {
    if (value == "secure") o.failmode = FailMode::kSecure;
    else if (value == "safe") o.failmode = FailMode::kSafe;
    else return "failmode= must be secure or safe";
  } else if (key == "failmode_account") {
    if (value == "secure") o.failmode_account = FailMode::kSecure;
    else if (value == "safe") o.failmode_account = FailMode::kSafe;
    else return "failmode_account= must be secure or safe";
  } else if (key == "prompt") {
    if (value == "yes") o.can_prompt = true;
    else if (value == "no") o.can_prompt = false;
    else return "prompt= must be yes or no";
  } else if (key == "console_exempt") {
    if (value == "true" || value == "yes") o.console_exempt = true;
    else if (value == "false" || value == "no") o.console_exempt = false;
    else return "console_exempt= must be yes or no";
  } else {
    return "unknown option \"" + std::string(key) + "\"";
  }
  return {};
}

}  // namespace

std::string config_path_from_args(const std::vector<std::string_view>& args) {
  std::string path = Options{}.config_path;
  for (auto a : args)
    if (starts(a, "conf=")) path = std::string(a.substr(5));
  return path;
}

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

ParsedOptions parse_options(const std::vector<std::string_view>& args,
                            const std::optional<std::string>& config_text) {
  std::vector<ConfigSource> sources;
  if (config_text) sources.push_back(ConfigSource{config_path_from_args(args), *config_text});
  return parse_options(args, sources);
}

namespace {

// What the files say, before any argument: the part that costs (toml++),
// and so the part the cache keeps, whatever line of the stack asks.
struct FileOptions {
  std::string socket = Options{}.socket;
  bool console_exempt = Options{}.console_exempt;
  std::string config_error;  // non-empty: the files were ignored
};

FileOptions parse_files(const std::vector<ConfigSource>& files) {
  FileOptions out;
  if (files.empty()) return out;
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

ParsedOptions apply_args(const std::vector<std::string_view>& args, const FileOptions& files) {
  ParsedOptions out;
  Options& o = out.options;
  o.config_path = config_path_from_args(args);
  o.socket = files.socket;
  o.console_exempt = files.console_exempt;
  out.config_error = files.config_error;
  for (auto a : args) {
    if (a == "authfail") o.mode = Mode::kAuthFail;
    else if (a == "authsucc") o.mode = Mode::kAuthSucc;
    else if (a == "debug") o.debug = true;
    else if (starts(a, "conf=")) continue;
    else {
      auto eq = a.find('=');
      if (eq == std::string_view::npos) {
        out.error = "unknown option \"" + std::string(a) + "\"";
        return out;
      }
      if (auto e = set_option(o, a.substr(0, eq), a.substr(eq + 1)); !e.empty()) {
        out.error = e;
        return out;
      }
    }
  }
  return out;
}

}  // namespace

ParsedOptions parse_options(const std::vector<std::string_view>& args, const std::vector<ConfigSource>& files) {
  return apply_args(args, parse_files(files));
}

ParsedOptions with_last_good(const std::vector<std::string_view>& args, ParsedOptions broken,
                             const std::optional<ConfigSource>& last_good) {
  if (broken.config_error.empty() || !broken.error.empty() || !last_good) return broken;
  ParsedOptions alt = parse_options(args, std::vector<ConfigSource>{*last_good});
  if (!alt.config_error.empty() || !alt.error.empty()) return broken;
  alt.config_error = broken.config_error + "; using the last good settings vigild published in " + last_good->path;
  return alt;
}

std::string last_good_path_for(const std::vector<std::string_view>& args) {
  return last_good_path(parse_options(args, std::vector<ConfigSource>{}).options.socket);
}

namespace {
// One file's text; nullopt when it does not exist. A file that cannot be
// read comes back as text that fails to parse, so it is reported.
std::optional<std::string> read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    return std::string("\x01unreadable");
  }
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || text.size() > (1u << 20)) {
      text = "\x01unreadable";
      break;
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return text;
}

// The config file, then its drop-ins; none when the file does not exist
// (its drop-ins are then not read either, as vigild does not). A drop-in
// directory that cannot be listed fails to parse, so it is reported.
std::vector<ConfigSource> read_config(const std::string& path) {
  std::vector<ConfigSource> files;
  auto main = read_file(path);
  if (!main) return files;
  files.push_back(ConfigSource{path, std::move(*main)});
  auto dropins = dropin_paths(path);
  if (!dropins) {
    files.push_back(ConfigSource{dropin_dir(path), "\x01unreadable"});
    return files;
  }
  for (const auto& p : *dropins)
    files.push_back(ConfigSource{p, read_file(p).value_or(std::string("\x01unreadable"))});
  return files;
}

// The last parses of the files, kept while their text is the same (the
// module stays loaded, -z nodelete): a process parses vigil.conf once, not
// once per transaction, nor once per module line (a stack names the module
// on several lines, authfail, authsucc and the account line, each with its
// own arguments, which are applied on top at every call: they cost nothing).
// Up to 4 entries, for stacks that point lines at different conf= files.
// Reading the file is cheap; parsing is what costs. The key is the text
// itself, not timestamps, so the cache never misses an edit.
struct ParseCache {
  static constexpr std::size_t kEntries = 4;
  struct Entry {
    std::string key;  // each file's path and text
    FileOptions parsed;
    std::uint64_t used = 0;  // 0: empty
  };
  std::mutex mu;
  Entry entries[kEntries];
  std::uint64_t clock = 0;
  std::uint64_t hits = 0;
};
ParseCache& parse_cache() {
  static ParseCache* c = new ParseCache;  // never destroyed: no exit-time order issue
  return *c;
}

}  // namespace

namespace {

// The files' parse, from the cache when the same text was parsed before.
FileOptions parse_files_cached(const std::vector<ConfigSource>& files) {
  std::string key;
  for (const auto& f : files) {
    key += f.path;
    key.push_back('\0');
    key += f.text;
    key.push_back('\0');
  }
  // try_lock only: a child forked while another thread held the lock must
  // never wait for it (the module must not hang its caller). Without the
  // lock, it simply parses.
  auto& c = parse_cache();
  std::optional<FileOptions> cached;
  {
    std::unique_lock<std::mutex> lock(c.mu, std::try_to_lock);
    if (lock.owns_lock()) {
      for (auto& e : c.entries) {
        if (e.used != 0 && e.key == key) {
          e.used = ++c.clock;
          ++c.hits;
          cached = e.parsed;
          break;
        }
      }
    }
  }
  if (!cached) {
    cached = parse_files(files);
    std::unique_lock<std::mutex> lock(c.mu, std::try_to_lock);
    if (lock.owns_lock()) {
      // The least recently used entry (an empty one first) takes the parse.
      auto* victim = &c.entries[0];
      for (auto& e : c.entries)
        if (e.used < victim->used) victim = &e;
      victim->key = std::move(key);
      victim->parsed = *cached;
      victim->used = ++c.clock;
    }
  }
  return *cached;
}

}  // namespace

ParsedOptions load_options_cached(const std::vector<std::string_view>& args) {
  const std::string path = config_path_from_args(args);
  // While the files are the ones vigild accepted (the same stamp, from stat
  // alone), the settings it published are theirs: no read, no parse of
  // vigil.conf (protocol/config_files.h, ConfigStamp).
  // client.conf is read once, for both of its uses.
  const std::string lg_path = last_good_path_for(args);
  struct timespec written {};
  std::optional<ConfigSource> last_good;
  if (auto text = read_last_good(lg_path, &written)) last_good = ConfigSource{lg_path, std::move(*text)};
  if (last_good && published_stands_for(path, last_good->text, written)) {
    FileOptions published = parse_files_cached(std::vector<ConfigSource>{*last_good});
    if (published.config_error.empty()) return apply_args(args, published);
  }
  auto parsed = apply_args(args, parse_files_cached(read_config(path)));
  // A broken file: the last good settings vigild published (a few lines,
  // parsed again at each call while the file stays broken).
  if (!parsed.config_error.empty()) parsed = with_last_good(args, std::move(parsed), last_good);
  return parsed;
}

std::uint64_t options_cache_hits() {
  auto& c = parse_cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.hits;
}

}  // namespace vigil::pam
