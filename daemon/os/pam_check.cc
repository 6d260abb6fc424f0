#include "daemon/os/pam_check.h"

#include <security/pam_appl.h>

#include <cstdlib>
#include <cstring>

namespace vigil {
namespace {

struct Answer {
  const std::string* password;
  bool given = false;
};

// Answers the first echo-off prompt with the password, once; nothing else.
int converse(int n, const pam_message** msg, pam_response** resp, void* data) {
  auto* a = static_cast<Answer*>(data);
  if (n <= 0 || n > PAM_MAX_NUM_MSG) return PAM_CONV_ERR;
  auto* out = static_cast<pam_response*>(std::calloc(static_cast<size_t>(n), sizeof(pam_response)));
  if (!out) return PAM_BUF_ERR;
  for (int i = 0; i < n; ++i) {
    if (msg[i]->msg_style != PAM_PROMPT_ECHO_OFF && msg[i]->msg_style != PAM_PROMPT_ECHO_ON) continue;
    const bool password = msg[i]->msg_style == PAM_PROMPT_ECHO_OFF && !a->given;
    out[i].resp = strdup(password ? a->password->c_str() : "");
    if (!out[i].resp) {
      for (int k = 0; k < i; ++k)
        if (out[k].resp) {
          explicit_bzero(out[k].resp, std::strlen(out[k].resp));
          std::free(out[k].resp);
        }
      std::free(out);
      return PAM_BUF_ERR;
    }
    if (password) a->given = true;
  }
  *resp = out;
  return PAM_SUCCESS;
}

}  // namespace

PasswordCheck check_password(const std::string& service, const std::string& user,
                             const std::string& password) {
  PasswordCheck r;
  Answer answer{&password};
  pam_conv conv{converse, &answer};
  pam_handle_t* ph = nullptr;
  int rc = pam_start(service.c_str(), user.c_str(), &conv, &ph);
  if (rc != PAM_SUCCESS) {
    r.detail = std::string("pam_start: ") + pam_strerror(ph, rc);
    if (ph) pam_end(ph, rc);
    return r;
  }
  pam_set_item(ph, PAM_TTY, "vigil");
  rc = pam_authenticate(ph, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
  r.detail = pam_strerror(ph, rc);
  switch (rc) {
    case PAM_SUCCESS: r.outcome = PasswordCheck::Outcome::kRight; break;
    case PAM_AUTH_ERR:
    case PAM_USER_UNKNOWN:
    case PAM_MAXTRIES:
    case PAM_CRED_INSUFFICIENT:
      r.outcome = PasswordCheck::Outcome::kWrong;
      break;
    default: r.outcome = PasswordCheck::Outcome::kError; break;
  }
  // PAM_DATA_SILENT: modules clean up without acting on a session.
  pam_end(ph, rc | PAM_DATA_SILENT);
  return r;
}

}  // namespace vigil
