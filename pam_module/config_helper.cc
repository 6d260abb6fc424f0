// pam_vigil.so's parse_files() (options.h): the helper pam_vigil/config.so
// reads the files with toml++ (config_helper.h), loaded at the first parse a
// process needs, and kept (RTLD_NODELETE, as the module itself is).
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <string>
#include <vector>

#include "pam_module/config_helper.h"
#include "pam_module/options.h"

namespace vigil::pam {
namespace {

std::atomic<vigil_pam_parse_files_fn> g_parse{nullptr};

// Only root, or the owner of the module file itself (who already chooses
// the code it runs: a build tree), may have written the helper.
bool trusted(const std::string& path, bool dir, uid_t module_owner, std::string* why) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    *why = path + ": " + strerror(errno);
    return false;
  }
  if ((dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) || (st.st_uid != 0 && st.st_uid != module_owner) ||
      (st.st_mode & (S_IWGRP | S_IWOTH))) {
    *why = path + ": not " + (dir ? "a directory" : "a file") + " that only root (or the module's owner) can write";
    return false;
  }
  return true;
}

// The helper's function, loading it the first time; nullptr and *why when
// it cannot be loaded.
vigil_pam_parse_files_fn helper(std::string* why) {
  if (auto fn = g_parse.load(std::memory_order_acquire)) return fn;
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&helper), &info) == 0 || !info.dli_fname) {
    *why = "cannot find pam_vigil.so's own path";
    return nullptr;
  }
  // Beside the module file itself, when it was loaded through a symlink.
  char* real = realpath(info.dli_fname, nullptr);
  std::string dir = real ? real : info.dli_fname;
  free(real);
  const auto slash = dir.rfind('/');
  dir = slash == std::string::npos ? std::string(".") : dir.substr(0, slash);
  dir += "/";
  dir += kHelperDir;
  const std::string path = dir + "/" + kHelperFile;
  struct stat self {};
  if (::stat(info.dli_fname, &self) != 0) {
    *why = std::string(info.dli_fname) + ": " + strerror(errno);
    return nullptr;
  }
  // (stat follows a symlink: the owner is the module file's.)
  if (!trusted(dir, true, self.st_uid, why) || !trusted(path, false, self.st_uid, why)) return nullptr;
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (!h) {
    const char* e = dlerror();
    *why = e ? e : path;
    return nullptr;
  }
  auto fn = reinterpret_cast<vigil_pam_parse_files_fn>(dlsym(h, kHelperSymbol));
  if (!fn) {
    *why = path + ": no " + kHelperSymbol + " (a helper from another build of vigil)";
    return nullptr;
  }
  g_parse.store(fn, std::memory_order_release);
  return fn;
}

}  // namespace

FileOptions parse_files(const std::vector<ConfigSource>& files) {
  FileOptions out;
  std::string why;
  vigil_pam_parse_files_fn fn = helper(&why);
  if (!fn) {
    out.config_error = "cannot load the module's config reader: " + why;
    out.console_exempt = false;  // the strict reading
    return out;
  }
  std::vector<vigil_pam_file> in;
  in.reserve(files.size());
  for (const auto& f : files) in.push_back(vigil_pam_file{f.path.data(), f.path.size(), f.text.data(), f.text.size()});
  vigil_pam_parsed parsed{};
  if (fn(in.data(), in.size(), &parsed) != 0) {
    out.config_error = "the module's config reader failed (out of memory)";
    out.console_exempt = false;
    return out;
  }
  out.socket.assign(parsed.socket, parsed.socket_len);
  out.console_exempt = parsed.console_exempt != 0;
  out.config_error.assign(parsed.config_error ? parsed.config_error : "", parsed.config_error_len);
  free(parsed.socket);
  free(parsed.config_error);
  return out;
}

}  // namespace vigil::pam
