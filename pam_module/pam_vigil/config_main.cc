// pam_vigil/config.so: toml++'s reading of vigil.conf for pam_vigil.so,
// behind the C interface of config_helper.h.
#include <stdlib.h>
#include <string.h>

#include <new>
#include <string>
#include <vector>

#include "pam_module/config_helper.h"
#include "pam_module/options.h"

namespace {
char* copy(const std::string& s) {
  char* p = static_cast<char*>(malloc(s.size() + 1));
  if (p) {
    memcpy(p, s.data(), s.size());
    p[s.size()] = '\0';
  }
  return p;
}
}  // namespace

extern "C" __attribute__((visibility("default"))) int vigil_pam_parse_files_v1(const vigil_pam_file* files,
                                                                               size_t count,
                                                                               vigil_pam_parsed* out) {
  *out = vigil_pam_parsed{};
  try {
    std::vector<vigil::ConfigSource> sources;
    for (size_t i = 0; i < count; ++i)
      sources.push_back(vigil::ConfigSource{std::string(files[i].path, files[i].path_len),
                                            std::string(files[i].text, files[i].text_len)});
    vigil::pam::FileOptions f = vigil::pam::parse_files(sources);
    for (auto& s : sources) explicit_bzero(s.text.data(), s.text.size());
    out->socket = copy(f.socket);
    out->socket_len = f.socket.size();
    out->console_exempt = f.console_exempt ? 1 : 0;
    out->config_error = copy(f.config_error);
    out->config_error_len = f.config_error.size();
    if (!out->socket || !out->config_error) {
      free(out->socket);
      free(out->config_error);
      *out = vigil_pam_parsed{};
      return -1;
    }
    return 0;
  } catch (...) {
    return -1;
  }
}
