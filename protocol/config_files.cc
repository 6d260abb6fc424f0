#include "protocol/config_files.h"

#include <dirent.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

namespace vigil {

std::string dropin_dir(const std::string& config_path) { return config_path + ".d"; }

Result<std::vector<std::string>> dropin_paths(const std::string& config_path) {
  const std::string dir = dropin_dir(config_path);
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), ::closedir);
  if (!d) {
    if (errno == ENOENT) return std::vector<std::string>{};
    return Error::Config(dir + ": cannot list: " + std::strerror(errno));
  }
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* e = ::readdir(d.get())) {
    const std::string name = e->d_name;
    if (name.empty() || name[0] == '.' || name.size() <= 5 || !name.ends_with(".conf")) continue;
    names.push_back(name);
  }
  if (errno != 0) return Error::Config(dir + ": cannot list: " + std::strerror(errno));
  std::sort(names.begin(), names.end());
  for (auto& n : names) n = dir + "/" + n;
  return names;
}

}  // namespace vigil
