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
interleaved process by process, in a fresh random order in each group of
four. One process's CPU time moves by hundreds of µs on this VM, more than
the costs measured, so the costs are taken over every process of the run:
B-A and C-A are the differences of the stacks' medians over all their
processes (the interleaving puts the machine's drift on all four alike),
and the ratio (C-A)/(B-A) has a 95% interval from a bootstrap over the
groups of four consecutive processes (one per stack), which keeps that
pairing.

Where the machine has two CPUs or more, the login processes run on one and
the daemons (vigild, `pamloop echo`) on the others (placement()). Without
that, on this VM a process that followed one of stack C cost about 0.5-1
ms more CPU than one that followed stack A, the same program (measured
2026-12-05, bench/RESULTS.md): a login that waits on a daemon lets the
scheduler move it, or the parent it wakes, to the other CPU, and the next
process pays for the move. With a fixed rotation of the order each stack mostly
followed the same other one, so that cost fell on one stack more than the
others (stack A, after D or C: B-A came out at 50-200 µs instead of about
450).

Run alone, it compares builds of pam_vigil.so (a lever's before and after)
on the same stacks A, B and C:
  bench/perprocess.py before=/tmp/old.so after=build/pam_module/pam_vigil.so
"""
import os
import random
import statistics
import time


def run_once(argv, env, faults=None):
    """One process: (CPU seconds, wall seconds, exit code). Its minor page
    faults are appended to `faults` when given: unlike its CPU time, their
    count hardly moves from one process to the next, and each costs about
    10 µs on this VM (bench/pagefault)."""
    t0 = time.monotonic()
    pid = os.posix_spawn(argv[0], argv, env)
    _, status, ru = os.wait4(pid, 0)
    wall = time.monotonic() - t0
    if faults is not None:
        faults.append(ru.ru_minflt)
    return ru.ru_utime + ru.ru_stime, wall, os.waitstatus_to_exitcode(status)


def login(pamonce, confdir, env, stack, path, n, faults):
    """One login process of `stack` ("A".."D") on `path`: a right password
    for u0, or a wrong one for one of 50 users (by the running count `n`).
    Returns its (CPU µs, wall µs); raises when its result is not the path's."""
    if path == "success":
        argv = [pamonce, "bench-" + stack.lower(), "u0", "pw-u0", "192.0.2.1", confdir]
    else:
        argv = [pamonce, "bench-" + stack.lower(), "u%d" % (n % 50), "wrong", "192.0.2.1", confdir]
    t, t_wall, rc = run_once(argv, env, faults)
    if (rc == 0) != (path == "success"):
        raise RuntimeError("pamonce, stack %s, %s path: exit %d" % (stack, path, rc))
    return t * 1e6, t_wall * 1e6


def placement(daemons):
    """Runs the calling thread, and so every login process it spawns
    (posix_spawn from this thread), on one CPU, and every thread of the
    daemons (their pids) on the others, when there are two CPUs or more.
    Returns a function that undoes it."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return lambda: None
    mine = os.sched_getaffinity(0)
    before = {}
    for pid in daemons:
        try:
            tids = [int(t) for t in os.listdir("/proc/%d/task" % pid)]
        except OSError:
            continue
        for tid in tids:
            try:
                before[tid] = os.sched_getaffinity(tid)
                os.sched_setaffinity(tid, set(cpus[1:]))
            except OSError:  # a thread that ended meanwhile
                pass
    os.sched_setaffinity(0, {cpus[0]})

    def undo():
        os.sched_setaffinity(0, mine)
        for tid, cpuset in before.items():
            try:
                os.sched_setaffinity(tid, cpuset)
            except OSError:
                pass
    return undo


def costs(groups, boot=1000, seed=20):
    """groups: a list of {stack: CPU µs}, one per group of consecutive
    processes (one of each stack: A, B, C and maybe D). Returns B-A, C-A and D-A (differences of
    the medians over every group), the ratio (C-A)/(B-A), and its 95%
    bootstrap interval (groups drawn with replacement: None when B-A is not
    above 0 in a draw's 2.5% tail)."""
    def est(gs):
        m = {s: statistics.median(g[s] for g in gs) for s in gs[0]}
        return m["B"] - m["A"], m["C"] - m["A"], m["D"] - m["A"] if "D" in m else None

    fl, vg, mod = est(groups)
    rng = random.Random(seed)
    ratios = []
    for _ in range(boot if len(groups) > 1 else 0):
        b_fl, b_vg, _ = est([groups[rng.randrange(len(groups))] for _ in groups])
        ratios.append(b_vg / b_fl if b_fl > 0 else float("inf"))
    ratios.sort()
    lo = ratios[int(0.025 * len(ratios))] if ratios else None
    hi = ratios[int(0.975 * len(ratios)) - 1] if ratios else None
    return {"faillock_cost_us": fl, "vigil_cost_us": vg, "module_cost_us": mod,
            "ratio": vg / fl if fl > 0 else None,
            "ratio_95": None if lo is None or hi == float("inf") else [lo, hi]}


def ratio_text(x):
    return "n/a" if x is None else "%.2f" % x


def interval_text(iv):
    """The ratio's 95% interval, or "n/a" when B-A was not above 0 in
    enough draws to bound it."""
    return "n/a" if iv is None else "%.2f-%.2f" % tuple(iv)


def measure(pamonce, env, confdir, rounds, count, log=None, daemons=()):
    """Per stack and path: the median CPU and wall time (µs) over every
    process, and the costs (costs()). `daemons`: the pids of vigild and the
    echo server, for placement(). Returns {"rounds", "count", "paths": {path:
    {...}}}."""
    groups = {p: [] for p in ("success", "failure")}
    walls = {p: {s: [] for s in "ABCD"} for p in ("success", "failure")}
    faults = {p: {s: [] for s in "ABCD"} for p in ("success", "failure")}
    rng = random.Random(20)
    n = 0
    undo = placement(daemons)
    try:
        for r in range(rounds):
            for path in ("success", "failure"):
                # The stacks take turns process by process, in a fresh random
                # order each time, so that this machine's drift, which moves a
                # block of processes by a third, falls on all four alike, and
                # so that each stack follows each other one as often.
                for i in range(count):
                    g = {}
                    for s in rng.sample("ABCD", 4):
                        n += 1
                        g[s], t_wall = login(pamonce, confdir, env, s, path, n, faults[path][s])
                        walls[path][s].append(t_wall)
                    groups[path].append(g)
            if log:
                log("per-process round %d/%d done" % (r + 1, rounds))
    finally:
        undo()
    out = {"rounds": rounds, "count": count, "paths": {}}
    for path in ("success", "failure"):
        gs = groups[path]
        out["paths"][path] = dict(
            costs(gs),
            cpu_us={s: statistics.median(g[s] for g in gs) for s in "ABCD"},
            wall_us={s: statistics.median(v) for s, v in walls[path].items()},
            faults={s: statistics.median(v) for s, v in faults[path].items()})
    return out


def compare(variants, rounds, count, log=None):
    """A lever's before and after, per login process: for each variant (name
    -> a pam_vigil.so built one way), the module file bench/run.py's stacks
    load is replaced by it, then stacks A, B and C take turns process by
    process (a fresh random order in each group, placed as by placement()).
    Variants alternate round by round. Returns {variant: {path:
    costs()}}, over every process of the variant."""
    import shutil
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
    import harness
    import run
    bench = run.Bench()
    undo = lambda: None  # noqa: E731
    rng = random.Random(20)
    try:
        undo = placement(bench.daemons())
        env = bench.env.nss_env()
        groups = {}
        faults = {}
        n = 0
        items = list(variants.items())
        for r in range(rounds):
            for name, path in items[r % len(items):] + items[:r % len(items)]:
                shutil.copy2(path, harness.MODULE)
                for p in ("success", "failure"):
                    for i in range(count):
                        g = {}
                        for s in rng.sample("ABC", 3):
                            n += 1
                            g[s], _ = login(run.PAMONCE, bench.env.svc, env, s, p, n,
                                            faults.setdefault((name, p, s), []))
                        groups.setdefault((name, p), []).append(g)
            if log:
                log("round %d/%d done" % (r + 1, rounds))
    finally:
        undo()
        bench.close()
    out = {}
    for (name, p), gs in groups.items():
        out.setdefault(name, {})[p] = dict(costs(gs), faults={s: statistics.median(faults[(name, p, s)])
                                                              for s in "ABC"})
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
        print("per login process, CPU µs (user + system), medians over every process (%d rounds of %d "
              "per stack and path):" % (a.rounds, a.count))
        print("%-12s %-8s %10s %10s %8s %16s %16s" % ("variant", "path", "B-A", "C-A", "ratio", "95% interval",
                                                      "faults A/B/C"))
        for name, paths in res.items():
            for p, r in paths.items():
                f = r["faults"]
                print("%-12s %-8s %10.0f %10.0f %8s %16s %16s" % (
                    name, p, r["faillock_cost_us"], r["vigil_cost_us"], ratio_text(r["ratio"]),
                    interval_text(r["ratio_95"]), "%g/%g/%g" % (f["A"], f["B"], f["C"])))
