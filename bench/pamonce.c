/* pamonce: one PAM transaction in a fresh process, as sshd, sudo, su and
 * cron pay it (bench/run.py, "login as sshd pays it").
 *
 *   pamonce SERVICE USER PASSWORD [RHOST [CONFDIR]]
 *
 * pam_start (pam_start_confdir with CONFDIR: the service files are read
 * from there, with the real libpam and no pam_wrapper), PAM_RHOST, pam_authenticate, pam_acct_mgmt when that
 * succeeded, pam_end; every hidden prompt is answered with PASSWORD (a code
 * prompt too: an account without a factor takes any answer). Exits 0 when
 * both succeeded, 1 when authentication failed, 2 on a usage or PAM error.
 *
 * Written in C and linked with libpam only, like the callers it stands for:
 * whatever a module pulls in (libstdc++, ...) is paid here, once per
 * process, as it is there. The parent measures the process (wait4).
 */
#include <security/pam_appl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int answer(int n, const struct pam_message **msg, struct pam_response **resp, void *data) {
  struct pam_response *r = calloc((size_t)n, sizeof *r);
  if (!r) return PAM_BUF_ERR;
  for (int i = 0; i < n; ++i) {
    if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF || msg[i]->msg_style == PAM_PROMPT_ECHO_ON) {
      r[i].resp = strdup((const char *)data);
      if (!r[i].resp) {
        for (int j = 0; j < i; ++j) free(r[j].resp);
        free(r);
        return PAM_BUF_ERR;
      }
    }
  }
  *resp = r;
  return PAM_SUCCESS;
}

int main(int argc, char **argv) {
  if (argc < 4 || argc > 6) {
    fprintf(stderr, "usage: pamonce SERVICE USER PASSWORD [RHOST [CONFDIR]]\n");
    return 2;
  }
  struct pam_conv conv = {answer, argv[3]};
  pam_handle_t *h = NULL;
  const int started = argc == 6 ? pam_start_confdir(argv[1], argv[2], &conv, argv[5], &h)
                                : pam_start(argv[1], argv[2], &conv, &h);
  if (started != PAM_SUCCESS) return 2;
  if (argc >= 5) pam_set_item(h, PAM_RHOST, argv[4]);
  int rc = pam_authenticate(h, 0);
  if (rc == PAM_SUCCESS) rc = pam_acct_mgmt(h, 0);
  pam_end(h, rc);
  return rc == PAM_SUCCESS ? 0 : 1;
}
