/* What one page fault costs this machine (bench/run.py, bench/perprocess.py).
 *
 * A fresh login process (sshd, sudo, cron) pays a minor fault for every page
 * it first touches: the modules' code and data, relocations, the heap. On a
 * paravirtualised guest each one traps to the hypervisor, so a module's cost
 * per login follows the number of pages it touches more than its code.
 *
 * Touches N fresh anonymous pages (written: zeroed, then mapped) and maps
 * and unmaps a small region M times; prints the CPU time (user + system,
 * getrusage) per fault and per mmap + munmap as JSON. Usage: pagefault [N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

static double cpu_us(long* faults) {
  struct rusage r;
  getrusage(RUSAGE_SELF, &r);
  if (faults) *faults = r.ru_minflt;
  return (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1e6 + r.ru_utime.tv_usec + r.ru_stime.tv_usec;
}

int main(int argc, char** argv) {
  long n = argc > 1 ? atol(argv[1]) : 20000;
  if (n < 1 || n > 1000000) {
    fprintf(stderr, "usage: pagefault [PAGES, 1..1000000]\n");
    return 2;
  }
  long page = sysconf(_SC_PAGESIZE);
  long f0, f1;
  double t0 = cpu_us(&f0);
  volatile char* p = mmap(NULL, (size_t)n * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    perror("pagefault: mmap");
    return 1;
  }
  for (long i = 0; i < n; i++) p[i * page] = 1;
  double t1 = cpu_us(&f1);
  munmap((void*)p, (size_t)n * page);
  long m = n / 4 + 1;
  double t2 = cpu_us(NULL);
  for (long i = 0; i < m; i++) {
    void* q = mmap(NULL, 2 * page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (q == MAP_FAILED) {
      perror("pagefault: mmap");
      return 1;
    }
    munmap(q, 2 * page);
  }
  double t3 = cpu_us(NULL);
  printf("{\"faults\": %ld, \"fault_us\": %.2f, \"mmap_munmap_us\": %.2f}\n", f1 - f0,
         (t1 - t0) / (f1 - f0 > 0 ? f1 - f0 : 1), (t3 - t2) / m);
  return 0;
}
