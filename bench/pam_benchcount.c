/* pam_benchcount: counts the calls that reach it, for bench/attack.py.
 *
 * Placed right before the password module in every stack that benchmark
 * runs, it appends one byte to file=PATH on each pam_authenticate, so that
 * the benchmark can tell how many guesses reached a password check under
 * each defender. It never changes a result (PAM_IGNORE) and costs one
 * open, write and close. Built with the benchmarks; never installed. */
#define PAM_SM_AUTH
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <security/pam_modules.h>

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    (void)pamh;
    (void)flags;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "file=", 5) == 0) {
            int fd = open(argv[i] + 5, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
            if (fd >= 0) {
                ssize_t n = write(fd, ".", 1);
                (void)n;
                close(fd);
            }
        }
    }
    return PAM_IGNORE;
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    (void)pamh;
    (void)flags;
    (void)argc;
    (void)argv;
    return PAM_IGNORE;
}
