#!/usr/bin/env python3
"""What a login pays to load a PAM module (issue #20, part 2): per fresh C
process (bench/dlonce: dlopen RTLD_NOW, as libpam does, then exit), its CPU
time (user + system, from wait4), median of 100 processes per round, for
pam_permit, pam_faillock and each module given, interleaved; then the
median over the rounds.

  bench/loadcost.py                          pam_permit, pam_faillock, build/pam_module/pam_vigil.so
  bench/loadcost.py before=/tmp/old.so ...   and these (a lever's before and after)
"""
import os
import statistics
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.environ.get("VIGIL_BUILD_DIR", os.path.join(ROOT, "build"))
DLONCE = os.path.join(BUILD, "bench", "dlonce")
SECURITY = "/usr/lib/x86_64-linux-gnu/security"


def default_modules():
    return {"pam_permit": os.path.join(SECURITY, "pam_permit.so"),
            "pam_faillock": os.path.join(SECURITY, "pam_faillock.so"),
            "pam_vigil": os.path.join(BUILD, "pam_module", "pam_vigil.so")}


def measure(mods, rounds, count):
    """{name: median CPU µs per process}, interleaved rounds."""
    res = {k: [] for k in mods}
    items = list(mods.items())
    for r in range(rounds):
        for k, path in items[r % len(items):] + items[:r % len(items)]:
            c = []
            for _ in range(count):
                pid = os.posix_spawn(DLONCE, [DLONCE, path], os.environ)
                _, status, ru = os.wait4(pid, 0)
                if os.waitstatus_to_exitcode(status) != 0:
                    raise RuntimeError("dlonce %s failed" % path)
                c.append((ru.ru_utime + ru.ru_stime) * 1e6)
            res[k].append(statistics.median(c))
    return {k: statistics.median(v) for k, v in res.items()}


def main():
    mods = default_modules()
    rounds, count = 5, 100
    for a in sys.argv[1:]:
        if a == "--quick":
            rounds, count = 1, 10
            continue
        k, _, v = a.partition("=")
        mods[k] = v
    res = measure(mods, rounds, count)
    print("loading one PAM module in a fresh process (CPU µs per process, median of %d rounds x %d):"
          % (rounds, count))
    for k, m in res.items():
        print("  %-14s %6.0f   (+%4.0f over pam_permit)" % (k, m, m - res["pam_permit"]))


if __name__ == "__main__":
    main()
