/* fsfault: an injected file-system fault for the end-to-end tests (issue #9).
 *
 * Preloaded into vigild. While the file named by $FSFAULT_FLAG exists, every
 * write, truncation and sync of a regular file under $FSFAULT_DIR fails with
 * EROFS, as on a file system that turned read-only under its writer (Linux
 * refuses to remount one read-only while a file is open for writing, so a
 * test cannot do it for real). Everything else passes through.
 */
#define _GNU_SOURCE
/* Both the 32- and 64-bit offset calls are defined here, by their own names. */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static int faulty(int fd) {
  const char* flag = getenv("FSFAULT_FLAG");
  const char* dir = getenv("FSFAULT_DIR");
  if (!flag || !dir) return 0;
  struct stat st;
  if (stat(flag, &st) != 0) return 0;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
  char link[64], path[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof path - 1);
  if (n <= 0) return 0;
  path[n] = 0;
  size_t len = strlen(dir);
  return strncmp(path, dir, len) == 0 && (path[len] == '/' || path[len] == 0);
}

#define NEXT(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

ssize_t write(int fd, const void* buf, size_t n) {
  if (faulty(fd)) { errno = EROFS; return -1; }
  return NEXT(write)(fd, buf, n);
}
ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
  if (faulty(fd)) { errno = EROFS; return -1; }
  return NEXT(pwrite)(fd, buf, n, off);
}
ssize_t pwrite64(int fd, const void* buf, size_t n, off64_t off) {
  if (faulty(fd)) { errno = EROFS; return -1; }
  return NEXT(pwrite64)(fd, buf, n, off);
}
int fsync(int fd) {
  if (faulty(fd)) { errno = EROFS; return -1; }
  return NEXT(fsync)(fd);
}
int fdatasync(int fd) {
  if (faulty(fd)) { errno = EROFS; return -1; }
  return NEXT(fdatasync)(fd);
}
int ftruncate(int fd, off_t len) {
  if (faulty(fd)) { errno = EROFS; return -1; }
  return NEXT(ftruncate)(fd, len);
}
int ftruncate64(int fd, off64_t len) {
  if (faulty(fd)) { errno = EROFS; return -1; }
  return NEXT(ftruncate64)(fd, len);
}
