/* dlonce: loads one PAM module into a fresh C process and exits
 * (bench/loadcost.py): the cost a login pays for the module's loading
 * alone, with nothing called.
 *
 *   dlonce MODULE.so
 *
 * Linked with libpam, as a PAM caller is; RTLD_NOW, as libpam loads
 * modules. Exits 0 when the module loaded.
 */
#include <dlfcn.h>
#include <security/pam_appl.h>
#include <stdio.h>

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: dlonce MODULE.so\n");
    return 2;
  }
  void *h = dlopen(argv[1], RTLD_NOW);
  if (!h) {
    fprintf(stderr, "%s\n", dlerror());
    return 1;
  }
  /* libpam stays a real dependency of this process, as of any PAM caller. */
  return pam_strerror(NULL, PAM_SUCCESS) != NULL ? 0 : 1;
}
