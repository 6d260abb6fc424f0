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
interleaved process by process (the order rotated at each one), the
median of each stack's processes per round; the costs B-A and C-A are the median over the rounds
of each round's own difference, as in the in-process part.

Run alone, it compares builds of pam_vigil.so (a lever's before and after)
on the same stacks A, B and C:
  bench/perprocess.py before=/tmp/old.so after=build/pam_module/pam_vigil.so
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
        for path in ("success", "failure"):
            c = {s: [] for s in "ABCD"}
            w = {s: [] for s in "ABCD"}
            # The stacks take turns process by process (the order rotated at
            # each one), so that this machine's drift, which moves a block of
            # processes by a third, falls on all four alike.
            for i in range(count):
                k = (r + i) % 4
                for s in "ABCD"[k:] + "ABCD"[:k]:
                    n += 1
                    if path == "success":
                        argv = [pamonce, "bench-" + s.lower(), "u0", "pw-u0", "192.0.2.1", confdir]
                    else:
                        argv = [pamonce, "bench-" + s.lower(), "u%d" % (n % 50), "wrong", "192.0.2.1", confdir]
                    t, t_wall, rc = run_once(argv, env)
                    if (rc == 0) != (path == "success"):
                        raise RuntimeError("pamonce, stack %s, %s path: exit %d" % (s, path, rc))
                    c[s].append(t * 1e6)
                    w[s].append(t_wall * 1e6)
            for s in "ABCD":
                cpu[(s, path)].append(statistics.median(c[s]))
                wall[(s, path)].append(statistics.median(w[s]))
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


def compare(variants, rounds, count, log=None):
    """A lever's before and after, per login process: for each variant (name
    -> a pam_vigil.so built one way), the module file bench/run.py's stacks
    load is replaced by it, then stacks A, B and C take turns process by
    process. Variants alternate round by round. Returns {variant: {path:
    {"faillock_cost_us", "vigil_cost_us", "ratio"}}}: medians over the
    rounds of each round's own B-A and C-A."""
    import shutil
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
    import harness
    import run
    bench = run.Bench()
    try:
        env = bench.env.nss_env()
        diffs = {}
        n = 0
        items = list(variants.items())
        for r in range(rounds):
            for name, path in items[r % len(items):] + items[:r % len(items)]:
                shutil.copy2(path, harness.MODULE)
                for p in ("success", "failure"):
                    cpu = {s: [] for s in "ABC"}
                    for i in range(count):
                        k = (r + i) % 3
                        for s in "ABC"[k:] + "ABC"[:k]:
                            n += 1
                            argv = [run.PAMONCE, "bench-" + s.lower(), "u0" if p == "success" else "u%d" % (n % 50),
                                    "pw-u0" if p == "success" else "wrong", "192.0.2.1", bench.env.svc]
                            t, _, rc = run_once(argv, env)
                            if (rc == 0) != (p == "success"):
                                raise RuntimeError("pamonce %s, stack %s, %s path: exit %d" % (name, s, p, rc))
                            cpu[s].append(t * 1e6)
                    m = {s: statistics.median(v) for s, v in cpu.items()}
                    diffs.setdefault((name, p), []).append((m["B"] - m["A"], m["C"] - m["A"]))
            if log:
                log("round %d/%d done" % (r + 1, rounds))
    finally:
        bench.close()
    out = {}
    for (name, p), v in diffs.items():
        fl = statistics.median([x for x, _ in v])
        vg = statistics.median([y for _, y in v])
        out.setdefault(name, {})[p] = {"faillock_cost_us": fl, "vigil_cost_us": vg,
                                       "ratio": vg / fl if fl > 0 else None}
    return out


if __name__ == "__main__":
    import argparse
    import json
    import sys
    ap = argparse.ArgumentParser(description="Compare pam_vigil.so builds per login process (a lever's before "
                                 "and after): bench/perprocess.py before=/tmp/old.so after=/tmp/new.so")
    ap.add_argument("variants", nargs="+", metavar="NAME=MODULE.so")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--count", type=int, default=80, help="processes per stack, path and round")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    try:
        variants = dict(v.split("=", 1) for v in a.variants)
    except ValueError:
        ap.error("each variant is NAME=PATH")
    for name, path in variants.items():
        if not os.path.isfile(path):
            ap.error("%s: no such file" % path)
    res = compare(variants, a.rounds, a.count, log=lambda m: print(m, file=sys.stderr))
    if a.json:
        print(json.dumps(res, indent=2))
    else:
        print("per login process, CPU µs (user + system), medians over %d rounds of %d processes:" %
              (a.rounds, a.count))
        print("%-12s %-8s %10s %10s %8s" % ("variant", "path", "B-A", "C-A", "ratio"))
        for name, paths in res.items():
            for p, r in paths.items():
                print("%-12s %-8s %10.0f %10.0f %8s" % (name, p, r["faillock_cost_us"], r["vigil_cost_us"],
                                                       "n/a" if r["ratio"] is None else "%.2f" % r["ratio"]))
