#!/usr/bin/env python3
"""vigil's PAM overhead beside pam_faillock, in one run (issue #8, part 1).

Three stacks run interleaved, round after round, in one process each
(bench/pamloop: pam_start, pam_authenticate, pam_acct_mgmt, pam_end), under
pam_wrapper with nss_wrapper users and pam_matrix passwords:
  A  pam_matrix alone
  B  pam_faillock around it (preauth, authfail, authsucc; nodelay)
  C  pam_vigil around it, with a live vigild
  D  the same pam_vigil stack against `pamloop echo`, a daemon that answers
     at once: the module and its round trip alone (D-A), so that C-D is
     vigild's own share
on the success path and on the failure path (below every lock threshold:
failures are spread over 50 users, deny is far away). The floor is measured
in the same run: one vigil round trip (connect, call, close) and one SQLite
WAL commit.

A login as sshd pays it (bench/perprocess.py): the same four stacks with
one fresh process per transaction (bench/pamonce, a C caller linked with
libpam only), its CPU time from wait4() and its wall time, interleaved;
the ratio beside the in-process one.

Also, each on a daemon of its own: the brute-force storm (with the default
policy, and with deny=1000 so that every decision is a counted failure,
beside its floor: the same clients against a server that answers at once), the
scale of state (distinct (user, source) failure pairs: peak RSS, database
size, and both after the expiry horizon), TOTP verification, and start-up
time to READY=1 with 100,000 stored accounts.

  bench/run.py            full run (prints figures; --record writes bench/RESULTS.md)
  bench/run.py --quick    a few seconds: proves the benchmark works
"""
import argparse
import datetime
import json
import os
import platform
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
os.environ.setdefault("VIGIL_BUILD_DIR", os.path.join(ROOT, os.environ.get("BUILD_DIR", "build")))

import harness  # noqa: E402
import loadcost  # noqa: E402
import perprocess  # noqa: E402

PAMLOOP = os.path.join(harness.BUILD, "bench", "pamloop")
PAMONCE = os.path.join(harness.BUILD, "bench", "pamonce")
TOTP_COST = os.path.join(harness.BUILD, "bench", "totp_cost")
PAGEFAULT = os.path.join(harness.BUILD, "bench", "pagefault")
FAILLOCK = "/usr/lib/x86_64-linux-gnu/security/pam_faillock.so"
USERS = ["u%d" % i for i in range(50)]

# The three stacks share every line that is neither pam_faillock's nor
# pam_vigil's: the password module in auth, pam_permit in account and
# session, and the password group. One exception: C's `auth required
# pam_permit.so`, the line vigil's authfail is skipped to (a jump records
# no success), part of vigil's pattern (conf/pam.d/vigil-auth). libpam reads and sets up every line of
# the service file in each process, so a base line that only one stack had
# would be counted as that module's cost (before 2026-12-05 stack C had four
# that A and B lacked: 16-39 µs per login process, bench/RESULTS.md).
BASE_TAIL = """session  required                    pam_permit.so
password [success=1 default=ignore]  {matrix} passdb={passdb}
password requisite                   pam_deny.so
password required                    pam_permit.so
"""
STACK_A = """auth     required                    {matrix} passdb={passdb}
account  required                    pam_permit.so
""" + BASE_TAIL
# pam_faillock as its manual page sets it up, around the password module.
STACK_B = """auth     required                    {faillock} preauth dir={tally} deny=100000 nodelay
auth     [success=1 default=ignore]  {matrix} passdb={passdb}
auth     [default=die]               {faillock} authfail dir={tally} deny=100000 nodelay
auth     sufficient                  {faillock} authsucc dir={tally} deny=100000 nodelay
account  required                    {faillock} dir={tally}
account  required                    pam_permit.so
""" + BASE_TAIL
# pam_vigil as the tests' stack (harness.STACK) and conf/pam-configs set it
# up: authfail after the password module (pam_permit is the line its success
# skips to), authsucc, account, and its optional session and password lines;
# plus the base account line A and B have.
_VIGIL_ACCOUNT = "account  required                                 {module} {args}\n"
assert _VIGIL_ACCOUNT in harness.STACK
STACK_C = harness.STACK.replace(_VIGIL_ACCOUNT, _VIGIL_ACCOUNT + "account  required                                 pam_permit.so\n")


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


class Bench:
    def __init__(self):
        self.env = harness.Env(lockout={"deny": 1000, "fail_interval": "15m"})
        self.env.conf["throttle"] = {"deny": 0}
        self.env.write_conf()
        # The module reads vigil.conf in every login process: give it one the
        # size of the shipped file (its comments, 17 KB, after the settings),
        # as a host that installed the package has.
        with open(os.path.join(ROOT, "conf", "vigil.conf")) as f:
            comments = [line for line in f if line.lstrip().startswith("#") or not line.strip()]
        with open(self.env.conf_path, "a") as f:
            f.write("\n" + "".join(comments))
        with open(self.env.passwd, "a") as f, open(self.env.passdb, "a") as g:
            for i, u in enumerate(USERS):
                f.write("%s:x:%d:%d::/nonexistent:/bin/sh\n" % (u, 2000 + i, 2000 + i))
                g.write("%s:pw-%s:*\n" % (u, u))
        tally = os.path.join(self.env.dir, "faillock")
        os.mkdir(tally)
        kw = dict(matrix=harness.PAM_MATRIX, passdb=self.env.passdb, faillock=FAILLOCK, tally=tally,
                  module=harness.MODULE, args=self.env.module_args, python=harness.PY, checkpw="")
        self.env.add_service("bench-a", STACK_A.format(**kw))
        self.env.add_service("bench-b", STACK_B.format(**kw))
        self.env.add_service("bench-c", STACK_C.format(**kw))
        # D: the module against a daemon that answers at once.
        self.echo_sock = os.path.join(self.env.dir, "echo.sock")
        kw["args"] = "conf=%s socket=%s" % (self.env.conf_path, self.echo_sock)
        self.env.add_service("bench-d", STACK_C.format(**kw))
        self.echo = subprocess.Popen([PAMLOOP, "echo", self.echo_sock])
        deadline = time.time() + 10
        while not os.path.exists(self.echo_sock):
            if time.time() > deadline or self.echo.poll() is not None:
                raise RuntimeError("pamloop echo did not start")
            time.sleep(0.01)
        # A host's vigil.conf has not changed in the seconds before vigild
        # read it: otherwise client.conf cannot stand for it (racily clean,
        # protocol/config_files.h) and the module parses it in every process
        # until vigild publishes again, 2 s later.
        time.sleep(2.5)
        self.env.start()

    def pam_env(self):
        e = self.env.nss_env()
        e.update({"PAM_WRAPPER": "1", "PAM_WRAPPER_SERVICE_DIR": self.env.svc,
                  "LD_PRELOAD": "libpam_wrapper.so libnss_wrapper.so"})
        return e

    def loop(self, *args, env=None):
        return Bench.loop_on(env, *args)

    @staticmethod
    def loop_on(env, *args):
        p = subprocess.run([PAMLOOP] + [str(a) for a in args], stdout=subprocess.PIPE, text=True,
                           env=env or os.environ, timeout=1800)
        if p.returncode != 0:
            raise RuntimeError("pamloop %s failed (exit %d)" % (args, p.returncode))
        return json.loads(p.stdout.strip().splitlines()[-1])

    def pam(self, stack, path, count):
        # The success path uses each user's password; the failure path a wrong one.
        # pamloop puts i % 50 into %d: the user and, on success, the password.
        password = "pw-u%d" if path == "success" else "wrong"
        if path == "success":
            # One user: pamloop has one password per run.
            return self.loop("pam", "bench-" + stack, "u0", "pw-u0", count, "192.0.2.1", env=self.pam_env())
        return self.loop("pam", "bench-" + stack, "u%d", password, count, "192.0.2.1", env=self.pam_env())

    def daemons(self):
        """The pids of the daemons the stacks talk to: vigild and the echo
        server (perprocess.placement() keeps them off the login processes'
        CPU)."""
        return [self.env.proc.pid, self.echo.pid]

    def close(self):
        self.echo.kill()
        self.echo.wait()
        self.env.close()


def add_bench_users(env):
    with open(env.passwd, "a") as f:
        for i, u in enumerate(USERS):
            f.write("%s:x:%d:%d::/nonexistent:/bin/sh\n" % (u, 2000 + i, 2000 + i))


def storm_default(quick):
    """The storm against the default policy (deny=5, the source throttle on):
    most decisions refuse a locked account, as in a real brute force."""
    env = harness.Env()
    add_bench_users(env)
    env.start()
    try:
        clients, total = (8, 400) if quick else (64, 100000)
        runs = []
        for r in range(1 if quick else 3):
            res = Bench.loop_on(None, "storm", env.socket, clients, total)
            if res["errors"]:
                raise RuntimeError("storm (default policy): %d errors" % res["errors"])
            runs.append(res)
            print("storm (default policy) %d done" % (r + 1), file=sys.stderr)
        return runs
    finally:
        env.close()


def storm_floor(clients, total):
    """The storm's floor: the same clients against `pamloop echo`, a server
    that answers each frame at once (one thread, epoll), with no decision
    and no commit: what the socket calls and wake-ups alone cost here."""
    d = tempfile.mkdtemp(prefix="vigil-floor-")
    sock = os.path.join(d, "echo.sock")
    server = subprocess.Popen([PAMLOOP, "echo", sock])
    try:
        deadline = time.time() + 10
        while not os.path.exists(sock):
            if time.time() > deadline or server.poll() is not None:
                raise RuntimeError("pamloop echo did not start")
            time.sleep(0.01)
        res = Bench.loop_on(None, "storm", sock, clients, total)
        if res["errors"]:
            raise RuntimeError("storm floor: %d errors" % res["errors"])
        return res
    finally:
        server.kill()
        server.wait()
        try:
            os.unlink(sock)
            os.rmdir(d)
        except OSError:
            pass


def vm_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def db_bytes(state):
    total = 0
    for name in ("vigil.db", "vigil.db-wal"):
        try:
            total += os.path.getsize(os.path.join(state, name))
        except OSError:
            pass
    return total


def scale(quick):
    """Distinct (user, source) failure pairs, then the expiry horizon."""
    horizon = 20  # seconds: fail_interval, unlock and ban times
    env = harness.Env(lockout={"fail_interval": "%ds" % horizon, "unlock_time": "10s",
                               "max_unlock_time": "%ds" % horizon})
    env.conf["throttle"] = {"window": "%ds" % horizon, "ban_time": "10s", "max_ban_time": "%ds" % horizon}
    env.write_conf()
    add_bench_users(env)
    env.start()
    try:
        pid = env.proc.pid
        pairs = 5000 if quick else 1000000
        t0 = time.time()
        res = Bench.loop_on(None, "storm", env.socket, 16, pairs, "distinct")
        if res["errors"]:
            raise RuntimeError("scale: %d errors" % res["errors"])
        out = {"pairs": pairs, "feed_seconds": time.time() - t0, "per_second": res["per_second"],
               "peak_rss_kib": vm_kib(pid, "VmHWM"), "rss_kib": vm_kib(pid, "VmRSS"),
               "db_bytes": db_bytes(env.state)}
        print("scale: %d pairs fed in %.0f s" % (pairs, out["feed_seconds"]), file=sys.stderr)
        if quick:
            return out
        # Past the horizon, and past the next prune (at most every 60 s, on a
        # batch): one report every 5 s makes the batches.
        deadline = time.time() + horizon + 150
        shrunk = None
        while time.time() < deadline:
            time.sleep(5)
            Bench.loop_on(None, "storm", env.socket, 1, 1)
            size = db_bytes(env.state)
            if size < out["db_bytes"] / 4:
                shrunk = time.time() - t0 - out["feed_seconds"]
                break
        out.update({"after_db_bytes": db_bytes(env.state), "after_rss_kib": vm_kib(pid, "VmRSS"),
                    "after_peak_rss_kib": vm_kib(pid, "VmHWM"), "shrunk_after_s": shrunk,
                    "horizon_s": horizon})
        return out
    finally:
        env.close()


def startup(quick):
    """Seconds from exec to READY=1 with N stored accounts (a bucket and a
    block row each for 1 in 100)."""
    accounts = 2000 if quick else 100000
    env = harness.Env()
    env.start()
    env.stop()
    db = sqlite3.connect(os.path.join(env.state, "vigil.db"))
    now = int(time.time())
    with db:
        db.executemany(
            "INSERT INTO buckets(key, uid, name, failures, locked_until, lock_count, refused, last_failure,"
            " last_success, updated_at, sources) VALUES(?, ?, ?, ?, 0, 0, 0, ?, ?, ?, '')",
            (("uid:%d" % (100000 + i), 100000 + i, "user%d" % i, "%d %d" % (now - 60, now - 30), now - 30,
              now - 3600, now) for i in range(accounts)))
    db.close()
    times = []
    try:
        for r in range(2 if quick else 5):
            sock_path = os.path.join(env.dir, "notify.sock")
            if os.path.exists(sock_path):
                os.unlink(sock_path)
            ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            ns.bind(sock_path)
            ns.settimeout(60)
            t0 = time.monotonic()
            env.start(wait=False, extra_env={"NOTIFY_SOCKET": sock_path})
            while True:
                msg = ns.recv(4096).decode()
                if "READY=1" in msg.split("\n"):
                    break
            times.append(time.monotonic() - t0)
            ns.close()
            env.stop()
        return {"accounts": accounts, "seconds": times}
    finally:
        env.close()


def summary(values):
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a few seconds, to prove the benchmark works")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--count", type=int, default=400, help="transactions per stack per round")
    ap.add_argument("--record", action="store_true", help="write the figures to bench/RESULTS.md")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    a = ap.parse_args()
    rounds, count = (2, 40) if a.quick else (a.rounds, a.count)
    b = Bench()
    try:
        per = {(s, p): [] for s in "ABCD" for p in ("success", "failure")}
        floors = {"rtt": [], "commit": []}
        for r in range(rounds):
            order = "ABCD"[r % 4:] + "ABCD"[:r % 4]  # rotate, so no stack always runs first
            for path in ("success", "failure"):
                for s in order:
                    res = b.pam(s, path, count)
                    # Success is PAM_SUCCESS; a failure is an error (pam_faillock's
                    # authfail answers PAM_PERM_DENIED, the others PAM_AUTH_ERR).
                    ok = set(res["rc"]) == {"0"} if path == "success" else "0" not in res["rc"]
                    if not ok:
                        raise RuntimeError("stack %s, %s path: unexpected results %s" % (s, path, res["rc"]))
                    per[(s, path)].append(res["median_us"])
            floors["rtt"].append(b.loop("rtt", b.env.socket, count * 2)["median_us"])
            floors["commit"].append(b.loop("commit", b.env.dir, count * 2)["median_us"])
            print("round %d/%d done" % (r + 1, rounds), file=sys.stderr)
        # A login as sshd pays it: one fresh process per transaction.
        # 2,000 processes per stack and path: one process's CPU time moves
        # by hundreds of µs here, and 500 left the faillock cost's sign to
        # chance (bench/RESULTS.md, 2026-12-05).
        per_process = perprocess.measure(PAMONCE, b.env.nss_env(), b.env.svc, 1 if a.quick else 20,
                                         10 if a.quick else 100, log=lambda m: print(m, file=sys.stderr),
                                         daemons=b.daemons())
        faults = []
        for _ in range(1 if a.quick else 5):
            p = subprocess.run([PAGEFAULT, "2000" if a.quick else "20000"], capture_output=True, text=True,
                               timeout=120)
            if p.returncode != 0:
                raise RuntimeError("pagefault failed: " + p.stderr)
            faults.append(json.loads(p.stdout))
        floors["fault"] = [x["fault_us"] for x in faults]
        floors["mmap"] = [x["mmap_munmap_us"] for x in faults]
        per_process["load_us"] = loadcost.measure(loadcost.default_modules(), 1 if a.quick else 5,
                                                  10 if a.quick else 100)
        # Nothing may have locked: the failure path stays below every threshold.
        st = b.env.status("u0")
        if st["locked"]:
            raise RuntimeError("a bench user locked: the failure path crossed the threshold")
        # The brute-force storm: 64 clients, failure reports for random users
        # and sources, each answered after its commit.
        clients, total = (8, 400) if a.quick else (64, 100000)
        storms, floor_storms = [], []
        for r in range(1 if a.quick else 3):
            floor_storms.append(storm_floor(clients, total))
            res = b.loop("storm", b.env.socket, clients, total)
            if res["errors"]:
                raise RuntimeError("storm: %d errors" % res["errors"])
            storms.append(res)
            print("storm %d done" % (r + 1), file=sys.stderr)
        # TOTP verification, as the engine checks a code (window 1).
        p = subprocess.run([TOTP_COST, "1000" if a.quick else "100000"], capture_output=True, text=True,
                           timeout=300)
        if p.returncode != 0:
            raise RuntimeError("totp_cost failed: " + p.stderr)
        totp = json.loads(p.stdout)
    finally:
        b.close()
    storms_default = storm_default(a.quick)
    state = scale(a.quick)
    boot = startup(a.quick)

    out = {"machine": {"cores": os.cpu_count(), "cpu": cpu_model()},
           "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "command": "bench/run.py" + (" --quick" if a.quick else " --rounds %d --count %d" % (rounds, count)),
           "rounds": rounds, "count": count, "paths": {}, "floor": {k: summary(v) for k, v in floors.items()},
           "totp": totp,
           "storm": {"clients": clients, "decisions": total,
                     "per_second": summary([x["per_second"] for x in storms]),
                     "p50_us": summary([x["p50_us"] for x in storms]),
                     "p99_us": summary([x["p99_us"] for x in storms]),
                     "max_us": summary([x["max_us"] for x in storms])},
           "storm_floor": {"clients": clients, "decisions": total,
                           "per_second": summary([x["per_second"] for x in floor_storms]),
                           "p50_us": summary([x["p50_us"] for x in floor_storms]),
                           "p99_us": summary([x["p99_us"] for x in floor_storms]),
                           "max_us": summary([x["max_us"] for x in floor_storms])},
           "storm_default": {"clients": storms_default[0]["clients"], "decisions": storms_default[0]["decisions"],
                             "per_second": summary([x["per_second"] for x in storms_default]),
                             "p50_us": summary([x["p50_us"] for x in storms_default]),
                             "p99_us": summary([x["p99_us"] for x in storms_default]),
                             "max_us": summary([x["max_us"] for x in storms_default])},
           "scale": state, "per_process": per_process,
           "startup": {"accounts": boot["accounts"], "seconds": summary(boot["seconds"])}}
    for path in ("success", "failure"):
        A, B, C = (summary(per[(s, path)]) for s in "ABC")
        # Paired: each round's B−A and C−A (the three stacks ran back to back
        # in that round), then the median over the rounds. This machine's
        # speed drifts between rounds (A alone moves by a third), which the
        # difference of separate medians would mix into the costs.
        a_, b_, c_, d_ = (per[(s, path)] for s in "ABCD")
        fl = statistics.median([y - x for x, y in zip(a_, b_)])
        vg = statistics.median([z - x for x, z in zip(a_, c_)])
        mod = statistics.median([w - x for x, w in zip(a_, d_)])
        out["paths"][path] = {"A_matrix": A, "B_faillock": B, "C_vigil": C, "faillock_cost_us": fl,
                              "vigil_cost_us": vg, "ratio": vg / fl if fl > 0 else None,
                              "D_module_only": summary(d_), "module_and_round_trip_us": mod,
                              "daemon_share_us": vg - mod,
                              "faillock_cost_per_round_us": [y - x for x, y in zip(a_, b_)],
                              "vigil_cost_per_round_us": [z - x for x, z in zip(a_, c_)]}
    if a.json:
        print(json.dumps(out, indent=2))
    else:
        print_report(out)
    if a.record:
        record(out)


def fmt(s):
    return "%.0f / %.0f / %.0f" % (s["min"], s["median"], s["max"])


def fmt2(s):
    return "%.1f / %.1f / %.1f" % (s["min"], s["median"], s["max"])


def print_report(out):
    m = out["machine"]
    print("machine: %d cores, %s; %s" % (m["cores"], m["cpu"], out["date"]))
    print("command: %s (%d rounds x %d transactions per stack and path; medians per round, "
          "min / median / max over the rounds, µs per transaction)" % (out["command"], out["rounds"], out["count"]))
    for path, r in out["paths"].items():
        print("\n%s path" % path)
        print("  A pam_matrix alone        %s" % fmt(r["A_matrix"]))
        print("  B pam_faillock + matrix   %s" % fmt(r["B_faillock"]))
        print("  C pam_vigil + matrix      %s" % fmt(r["C_vigil"]))
        print("  D as C, daemon answers at once (pamloop echo)  %s" % fmt(r["D_module_only"]))
        ratio = "n/a" if r["ratio"] is None else "%.2f" % r["ratio"]
        print("  cost (median of each round's difference): faillock (B-A) %.0f µs, vigil (C-A) %.0f µs, "
              "ratio (C-A)/(B-A) %s"
              % (r["faillock_cost_us"], r["vigil_cost_us"], ratio))
        print("  of vigil's cost: the module and its round trip (D-A) %.0f µs, vigild's own share (C-D) %.0f µs"
              % (r["module_and_round_trip_us"], r["daemon_share_us"]))
    pp = out["per_process"]
    print("\na login as sshd pays it: one fresh process per transaction (bench/pamonce; %d rounds x %d; "
          "medians over every process; CPU user+system from wait4, and wall, µs)" % (pp["rounds"], pp["count"]))
    for path, r in pp["paths"].items():
        c, w = r["cpu_us"], r["wall_us"]
        ratio = "n/a" if r["ratio"] is None else "%.2f" % r["ratio"]
        inproc = out["paths"][path]["ratio"]
        print("  %-8s CPU A %6.0f  B %6.0f  C %6.0f  D %6.0f   wall A %6.0f  B %6.0f  C %6.0f  D %6.0f" % (
            path, c["A"], c["B"], c["C"], c["D"], w["A"], w["B"], w["C"], w["D"]))
        f = r["faults"]
        print("           minor page faults per process A %g  B %g  C %g  D %g" % (f["A"], f["B"], f["C"], f["D"]))
        print("           CPU per login: faillock (B-A) %.0f, vigil (C-A) %.0f, module alone (D-A) %.0f; "
              "ratio (C-A)/(B-A) %s per process (95%% interval %s), %s in one process" % (
                  r["faillock_cost_us"], r["vigil_cost_us"], r["module_cost_us"], ratio,
                  perprocess.interval_text(r["ratio_95"]), "n/a" if inproc is None else "%.2f" % inproc))
    ld = pp["load_us"]
    print("  loading the module alone (bench/dlonce, CPU per process): pam_permit %.0f, pam_faillock %.0f, "
          "pam_vigil %.0f" % (ld["pam_permit"], ld["pam_faillock"], ld["pam_vigil"]))
    f = out["floor"]
    print("\nfloor, same run: one vigil round trip %s µs; one SQLite WAL commit %s µs; one page fault %s µs; "
          "one mmap + munmap %s µs" % (fmt(f["rtt"]), fmt(f["commit"]), fmt2(f["fault"]), fmt2(f["mmap"])))
    t = out["totp"]
    print("\nTOTP verification (window 1; %d each): right code median %.2f µs (p99 %.2f), wrong code "
          "median %.2f µs (p99 %.2f)" % (t["right_code"]["count"], t["right_code"]["median_us"],
                                        t["right_code"]["p99_us"], t["wrong_code"]["median_us"],
                                        t["wrong_code"]["p99_us"]))
    for key, label in (("storm_default", "default policy (deny=5, source throttle on)"),
                       ("storm", "deny=1000: every decision a counted failure"),
                       ("storm_floor", "floor: a server that answers at once, no decision, no commit")):
        st = out[key]
        print("\nstorm, %s: %d clients, %d failure reports per run; min / median / max over the runs:"
              % (label, st["clients"], st["decisions"]))
        print("  decisions per second %s; latency p50 %s µs, p99 %s µs, max %s µs"
              % (fmt(st["per_second"]), fmt(st["p50_us"]), fmt(st["p99_us"]), fmt(st["max_us"])))
    sc = out["scale"]
    print("\nscale of state: %d distinct (user, source) failure pairs fed at %.0f per second" %
          (sc["pairs"], sc["per_second"]))
    print("  then: peak RSS %.1f MiB, RSS %.1f MiB, database %.1f MiB" %
          (sc["peak_rss_kib"] / 1024, sc["rss_kib"] / 1024, sc["db_bytes"] / 2**20))
    if "after_db_bytes" in sc:
        print("  after the %d s horizon and a prune: database %.1f MiB (%s), RSS %.1f MiB, peak RSS %.1f MiB" %
              (sc["horizon_s"], sc["after_db_bytes"] / 2**20,
               "shrunk %.0f s after the feed" % sc["shrunk_after_s"] if sc["shrunk_after_s"] is not None
               else "DID NOT SHRINK", sc["after_rss_kib"] / 1024, sc["after_peak_rss_kib"] / 1024))
    bt = out["startup"]
    print("\nstart-up to READY=1 with %d stored accounts: %s ms" %
          (bt["accounts"], fmt({k: v * 1000 for k, v in bt["seconds"].items()})))


NOTES_MARKER = "<!-- notes: kept by --record -->"


def record(out):
    path = os.path.join(ROOT, "bench", "RESULTS.md")
    lines = ["# Benchmark results", "",
             "Written by `bench/run.py --record`. Every figure is paired with its peers from the same run.",
             "", "## PAM overhead beside pam_faillock", "",
             "- machine: %d cores, %s" % (out["machine"]["cores"], out["machine"]["cpu"]),
             "- date: %s" % out["date"], "- command: `%s --record`" % out["command"],
             "- unit: µs per whole transaction (pam_start to pam_end), the median of each round; "
             "min / median / max over %d rounds of %d transactions" % (out["rounds"], out["count"]),
             "- B−A and C−A: the median over the rounds of each round's own difference (the three stacks "
             "run back to back in a round, so the machine's drift between rounds cancels)",
             "- D: the stack of C with pam_vigil pointed at `pamloop echo`, a daemon that answers at once (no "
             "decision, no commit): D−A is the module and its round trip alone, C−D vigild's own share", "",
             "| path | A: pam_matrix | B: + pam_faillock | C: + pam_vigil | D: C, daemon answers at once "
             "| B−A | C−A | (C−A)/(B−A) | D−A | C−D |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for p, r in out["paths"].items():
        lines.append("| %s | %s | %s | %s | %s | %.0f | %.0f | %s | %.0f | %.0f |" % (
            p, fmt(r["A_matrix"]), fmt(r["B_faillock"]), fmt(r["C_vigil"]), fmt(r["D_module_only"]),
            r["faillock_cost_us"], r["vigil_cost_us"], "n/a" if r["ratio"] is None else "%.2f" % r["ratio"],
            r["module_and_round_trip_us"], r["daemon_share_us"]))
    pp = out["per_process"]
    lines += ["", "### A login as sshd pays it: one fresh process per transaction", "",
              "`bench/pamonce` (C, linked with libpam only, as sshd, sudo, su, login and cron are) runs one "
              "transaction and exits; the parent takes its CPU time (user + system) and wall time from "
              "wait4(). %d rounds of %d processes per stack and path, the four stacks taking turns process by "
              "process (a fresh random order in each group of four). On a machine with two CPUs or more the login "
              "processes run on one CPU and the daemons (vigild, `pamloop echo`) on the others: otherwise "
              "this VM charges a login that "
              "waited on a daemon's CPU move to the next process (`bench/perprocess.py`). The stacks share "
              "every line that is neither module's (session, password). The medians are over every process "
              "of a stack and "
              "path; B−A, C−A and D−A are differences of those medians. The ratio's 95%% interval is a "
              "bootstrap over the groups of four consecutive processes (one per stack). µs per process; the "
              "minor page faults (median per process, from wait4) cost about 10 µs each here "
              "(`bench/pagefault`)." %
              (pp["rounds"], pp["count"]), "",
              "| path | CPU A | CPU B | CPU C | CPU D | wall A | wall B | wall C | wall D | B−A | C−A | D−A "
              "| (C−A)/(B−A) per process | 95% interval | in one process | page faults A / B / C / D |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for p, r in pp["paths"].items():
        c, w = r["cpu_us"], r["wall_us"]
        inproc = out["paths"][p]["ratio"]
        f = r["faults"]
        lines.append("| %s | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %s | %s "
                     "| %s | %g / %g / %g / %g |"
                     % (p, c["A"], c["B"], c["C"], c["D"], w["A"], w["B"], w["C"], w["D"], r["faillock_cost_us"],
                        r["vigil_cost_us"], r["module_cost_us"], perprocess.ratio_text(r["ratio"]),
                        perprocess.interval_text(r["ratio_95"]), "n/a" if inproc is None else "%.2f" % inproc,
                        f["A"], f["B"], f["C"], f["D"]))
    ld = pp["load_us"]
    lines += ["", "Loading the module alone in a fresh C process (`bench/dlonce`: dlopen RTLD_NOW, then exit; "
              "CPU µs per process): pam_permit %.0f, pam_faillock %.0f, pam_vigil %.0f." %
              (ld["pam_permit"], ld["pam_faillock"], ld["pam_vigil"])]
    f = out["floor"]
    lines += ["", "Floor in the same run: one vigil round trip (connect, call, close) %s µs; "
              "one SQLite WAL commit (synchronous=NORMAL) %s µs; one minor page fault (a fresh anonymous "
              "page, `bench/pagefault`) %s µs; one mmap + munmap %s µs." %
              (fmt(f["rtt"]), fmt(f["commit"]), fmt2(f["fault"]), fmt2(f["mmap"])), ""]
    t = out["totp"]
    lines += ["## TOTP verification", "",
              "`totp::match` as the engine calls it (liboath, constant-time compare, window of one step "
              "either side), %d checks each; the engine also opens the sealed secret (secretbox) first." %
              t["right_code"]["count"], "",
              "| code | min µs | median µs | p99 µs | max µs |", "|---|---|---|---|---|"]
    for k, label in (("right_code", "right"), ("wrong_code", "wrong (every step of the window tried)")):
        lines.append("| %s | %.2f | %.2f | %.2f | %.2f |" % (label, t[k]["min_us"], t[k]["median_us"],
                                                          t[k]["p99_us"], t[k]["max_us"]))
    lines.append("")
    st = out["storm"]
    lines += ["## Daemon under a brute-force storm", "",
              "%d clients on the public socket, each on its own connection, send %d failure reports for "
              "random users (50) and random sources. Every decision is committed in its batch; a counted "
              "failure is answered only after the commit. The floor is the same clients against "
              "`pamloop echo`, which answers each frame at once (one thread, epoll) with no decision and no "
              "commit, run in turn with the deny=1000 runs. vigild runs with `nss_threads = 1`, as in "
              "the tests (nss_wrapper is not thread-safe); the users are served from its cache after "
              "their first lookup. min / median / max over the runs:" % (st["clients"], st["decisions"]), "",
              "| policy | decisions per second | p50 µs | p99 µs | max µs |", "|---|---|---|---|---|"]
    for key, label in (("storm_default", "default (deny=5, source throttle on)"),
                       ("storm", "deny=1000, no throttle: every decision a counted failure"),
                       ("storm_floor", "floor: answered at once, no decision, no commit")):
        st = out[key]
        lines.append("| %s | %s | %s | %s | %s |" % (label, fmt(st["per_second"]), fmt(st["p50_us"]),
                                                   fmt(st["p99_us"]), fmt(st["max_us"])))
    lines.append("")
    sc = out["scale"]
    lines += ["## Scale of state", "",
              "%d distinct (user, source) failure pairs (50 users, a new source for each report), 16 clients, fed at "
              "%.0f per second; the lockout and throttle horizon set to %s s so that expiry can be watched." %
              (sc["pairs"], sc["per_second"], sc.get("horizon_s", "-")), "",
              "| when | vigild RSS MiB | vigild peak RSS MiB | database + WAL MiB |", "|---|---|---|---|",
              "| after the feed | %.1f | %.1f | %.1f |" % (sc["rss_kib"] / 1024, sc["peak_rss_kib"] / 1024,
                                                         sc["db_bytes"] / 2**20)]
    if "after_db_bytes" in sc:
        lines.append("| after the horizon and a prune (%s) | %.1f | %.1f | %.2f |" % (
            "%.0f s after the feed" % sc["shrunk_after_s"] if sc["shrunk_after_s"] is not None
            else "did not shrink", sc["after_rss_kib"] / 1024, sc["after_peak_rss_kib"] / 1024,
            sc["after_db_bytes"] / 2**20))
    bt = out["startup"]
    lines += ["", "## Start-up time", "",
              "exec to `READY=1` (sd_notify), %d stored accounts; min / median / max over %d starts: "
              "**%s ms**." % (bt["accounts"], 2 if "quick" in out["command"] else 5,
                              fmt({k: v * 1000 for k, v in bt["seconds"].items()})), ""]
    # Hand-written notes below the marker (history, profiles) are kept.
    kept = ""
    if os.path.exists(path):
        with open(path) as fh:
            old = fh.read()
        if NOTES_MARKER in old:
            kept = old[old.index(NOTES_MARKER):]
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + ("\n" + kept if kept else ""))
    print("\nwrote " + path)


if __name__ == "__main__":
    main()
