#include "pam_module/options.h"

#include "protocol/config_files.h"
#include "protocol/config_text.h"

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
}  // namespace

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

std::string config_path_from_args(const std::vector<std::string_view>& args) {
  std::string path = Options{}.config_path;
  for (auto a : args)
    if (starts(a, "conf=")) path = std::string(a.substr(5));
  return path;
}

ParsedOptions parse_options(const std::vector<std::string_view>& args,
                            const std::optional<std::string>& config_text) {
  std::vector<ConfigSource> sources;
  if (config_text) sources.push_back(ConfigSource{config_path_from_args(args), *config_text});
  return parse_options(args, sources);
}

namespace {

// The files' options: the defaults when there are none (no file: nothing
// to parse, and no helper to load).
FileOptions files_options(const std::vector<ConfigSource>& files) {
  return files.empty() ? FileOptions{} : parse_files(files);
}

}  // namespace

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


ParsedOptions parse_options(const std::vector<std::string_view>& args, const std::vector<ConfigSource>& files) {
  return apply_args(args, files_options(files));
}

FileOptions with_last_good(FileOptions files, const std::optional<ConfigSource>& last_good) {
  if (files.config_error.empty() || !last_good) return files;
  // vigild's own text is read without toml++; any other, with it.
  auto alt = read_published(last_good->text);
  if (!alt) alt = files_options(std::vector<ConfigSource>{*last_good});
  if (!alt->config_error.empty()) return files;
  alt->config_error = files.config_error + "; using the last good settings vigild published in " + last_good->path;
  return *alt;
}

namespace {
// One line of client.conf, as vigild writes it: `key = "text"` (only \" and
// \\ escaped) or `key = true|false`. False for anything else.
bool published_value(std::string_view line, std::string_view* key, std::string* text, int* flag) {
  const auto eq = line.find(" = ");
  if (eq == std::string_view::npos || eq == 0) return false;
  *key = line.substr(0, eq);
  std::string_view v = line.substr(eq + 3);
  *flag = -1;
  text->clear();
  if (v == "true" || v == "false") {
    *flag = v == "true";
    return true;
  }
  if (v.size() < 2 || v.front() != '"' || v.back() != '"') return false;
  v = v.substr(1, v.size() - 2);
  for (std::size_t i = 0; i < v.size(); ++i) {
    char c = v[i];
    if (c == '"') return false;
    if (c == '\\') {
      if (i + 1 >= v.size() || (v[i + 1] != '"' && v[i + 1] != '\\')) return false;
      c = v[++i];
    }
    text->push_back(c);
  }
  return true;
}
}  // namespace

std::optional<FileOptions> read_published(std::string_view client_text) {
  if (config_text_problem(client_text)) return std::nullopt;
  FileOptions out;
  Options o;
  std::string_view section;
  bool seen_socket = false, seen_admin = false, seen_exempt = false, seen_stamp = false;
  std::size_t pos = 0;
  while (pos < client_text.size()) {
    std::size_t end = client_text.find('\n', pos);
    if (end == std::string_view::npos) end = client_text.size();
    const std::string_view line = client_text.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty() || line[0] == '#') continue;
    if (line == "[daemon]" || line == "[lockout]") {
      if (line == section || (section == "[lockout]" && line == "[daemon]")) return std::nullopt;
      section = line;
      continue;
    }
    std::string_view key;
    std::string text;
    int flag = -1;
    if (!published_value(line, &key, &text, &flag)) return std::nullopt;
    bool* seen = nullptr;
    if (section.empty() && key == "stamp" && flag < 0) {
      seen = &seen_stamp;
    } else if (section == "[daemon]" && key == "socket" && flag < 0) {
      if (!set_option(o, "socket", text).empty()) return std::nullopt;
      seen = &seen_socket;
    } else if (section == "[daemon]" && key == "admin_socket" && flag < 0) {
      seen = &seen_admin;  // vigilctl's
    } else if (section == "[lockout]" && key == "console_exempt" && flag >= 0) {
      o.console_exempt = flag == 1;
      seen = &seen_exempt;
    } else {
      return std::nullopt;
    }
    if (*seen) return std::nullopt;
    *seen = true;
  }
  out.socket = o.socket;
  out.console_exempt = o.console_exempt;
  return out;
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
    cached = files_options(files);
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

std::string files_key(const std::vector<std::string_view>& args) {
  std::string key = config_path_from_args(args);
  key.push_back('\0');
  key += last_good_path_for(args);
  return key;
}

FileOptions load_files(const std::vector<std::string_view>& args) {
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
    if (auto published = read_published(last_good->text)) return *published;
    FileOptions published = parse_files_cached(std::vector<ConfigSource>{*last_good});
    if (published.config_error.empty()) return published;
  }
  // A broken file: the last good settings vigild published (a few lines,
  // read again at each call while the file stays broken).
  return with_last_good(parse_files_cached(read_config(path)), last_good);
}

ParsedOptions load_options_cached(const std::vector<std::string_view>& args) {
  return apply_args(args, load_files(args));
}

std::uint64_t options_cache_hits() {
  auto& c = parse_cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.hits;
}

}  // namespace vigil::pam
