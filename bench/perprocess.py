"""A login as sshd pays it: one fresh process per PAM transaction (issue #20,
part 1), for bench/run.py.

sshd re-executes for every connection, and sudo, su, login and cron are
fresh processes: each loads the PAM modules, and whatever they pull in
(pam_vigil: libstdc++), once per login. `bench/pamonce` is such a caller:
written in C, linked with libpam only, one transaction (pam_start to
pam_end), then it exits. Each process is measured by the parent with
wait4(): its CPU time (user + system: robust to other load on the machine)
and the wall time from spawn to exit. It runs the real libpam on the
bench's service files (pam_start_confdir), with nss_wrapper's users but no
pam_wrapper, so that nothing else is preloaded into it.

The stacks are bench/run.py's (services bench-a .. bench-d on its Env):
  A  pam_matrix alone            B  + pam_faillock
  C  + pam_vigil, a live vigild  D  C against `pamloop echo`
interleaved round after round (rotated), the median of each stack's
processes per round; the costs B-A and C-A are the median over the rounds
of each round's own difference, as in the in-process part.
"""
import os
import statistics
import time


def run_once(argv, env):
    """One process: (CPU seconds, wall seconds, exit code)."""
    t0 = time.monotonic()
    pid = os.posix_spawn(argv[0], argv, env)
    _, status, ru = os.wait4(pid, 0)
    wall = time.monotonic() - t0
    return ru.ru_utime + ru.ru_stime, wall, os.waitstatus_to_exitcode(status)


def measure(pamonce, env, confdir, rounds, count, log=None):
    """Per stack and path, per round: the median CPU and wall time (µs) of
    `count` processes. Returns {"rounds", "count", "paths": {path: {...}}}."""
    cpu = {(s, p): [] for s in "ABCD" for p in ("success", "failure")}
    wall = {(s, p): [] for s in "ABCD" for p in ("success", "failure")}
    n = 0
    for r in range(rounds):
        order = "ABCD"[r % 4:] + "ABCD"[:r % 4]
        for path in ("success", "failure"):
            for s in order:
                c, w = [], []
                for i in range(count):
                    n += 1
                    if path == "success":
                        argv = [pamonce, "bench-" + s.lower(), "u0", "pw-u0", "192.0.2.1", confdir]
                    else:
                        argv = [pamonce, "bench-" + s.lower(), "u%d" % (n % 50), "wrong", "192.0.2.1", confdir]
                    t, t_wall, rc = run_once(argv, env)
                    if (rc == 0) != (path == "success"):
                        raise RuntimeError("pamonce, stack %s, %s path: exit %d" % (s, path, rc))
                    c.append(t * 1e6)
                    w.append(t_wall * 1e6)
                cpu[(s, path)].append(statistics.median(c))
                wall[(s, path)].append(statistics.median(w))
        if log:
            log("per-process round %d/%d done" % (r + 1, rounds))
    out = {"rounds": rounds, "count": count, "paths": {}}
    for path in ("success", "failure"):
        a, b, c, d = (cpu[(s, path)] for s in "ABCD")
        fl = statistics.median([y - x for x, y in zip(a, b)])
        vg = statistics.median([z - x for x, z in zip(a, c)])
        out["paths"][path] = {
            "cpu_us": {s: statistics.median(cpu[(s, path)]) for s in "ABCD"},
            "wall_us": {s: statistics.median(wall[(s, path)]) for s in "ABCD"},
            "faillock_cost_us": fl, "vigil_cost_us": vg, "ratio": vg / fl if fl > 0 else None,
            "module_cost_us": statistics.median([w - x for x, w in zip(a, d)]),
        }
    return out
