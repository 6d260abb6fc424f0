#!/usr/bin/env python3
"""Fleet mode's costs, in one run (issue #18, part 8).

A private PostgreSQL 15 server with fsync on (tests/fleet/pgserver.py,
durable=True), H vigild hosts in fleet mode in front of it, and one vigild
on SQLite, all on this machine:

  decisions    fleet decisions per second for H hosts x C clients: every
               client sends failure reports (bench/pamloop storm) for 50
               fleet accounts, with deny so high that each report is a
               counted failure (one synchronous commit each)
  pam          one whole PAM transaction (bench/pamloop pam: pam_start,
               pam_authenticate, pam_acct_mgmt, pam_end) through pam_vigil,
               p50/p99, against a fleet host (PostgreSQL on loopback) and
               against a SQLite host, interleaved, success and failure paths
  propagation  from the commit of a change (vigil.block_account, run as a
               host's role) until every host has applied it: a block (the
               host's replica position, io.vigil.Fleet.Status) and a
               revocation (an administrator's token answering "revoked" on
               every host, io.vigil.Token.Check); p50/p99/max
  hot account  counted failures per second on one attacked account, from
               every host at once: the row is held through the commit flush
  degraded     hosts behind TCP proxies (tests/fleet/tcpproxy.py) that the
               run pauses: the time to degrade (the first report's answer,
               and the host saying so), PAM latency while degraded, the
               catch-up of 10,000 journaled reports (replay, events, out of
               degraded mode), and the guesses honoured with 2 of 4 hosts cut
               off beside the bound deny + 2 x deny_offline

  bench/fleet.py            full run
  bench/fleet.py --quick    a few seconds: proves the benchmark works
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
sys.path.insert(0, os.path.join(ROOT, "tests", "fleet"))
os.environ.setdefault("VIGIL_BUILD_DIR", os.path.join(ROOT, os.environ.get("BUILD_DIR", "build")))

import harness  # noqa: E402
from pgserver import PgServer  # noqa: E402
from tcpproxy import TcpProxy  # noqa: E402

PAMLOOP = os.path.join(harness.BUILD, "bench", "pamloop")
USERS = ["u%d" % i for i in range(50)]


def pct(values, p):
    v = sorted(values)
    if not v:
        return 0.0
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def add_users(env):
    with open(env.passwd, "a") as f, open(env.passdb, "a") as g:
        for i, u in enumerate(USERS):
            f.write("%s:x:%d:%d::/nonexistent:/bin/sh\n" % (u, 2000 + i, 2000 + i))
            g.write("%s:pw-%s:*\n" % (u, u))


def pam_env(env):
    e = env.nss_env()
    e.update({"PAM_WRAPPER": "1", "PAM_WRAPPER_SERVICE_DIR": env.svc,
              "LD_PRELOAD": "libpam_wrapper.so libnss_wrapper.so"})
    return e


def loop(env, *args):
    p = subprocess.run([PAMLOOP] + [str(a) for a in args], stdout=subprocess.PIPE, text=True,
                       env=env, timeout=1800)
    if p.returncode != 0:
        raise RuntimeError("pamloop %s failed (exit %d)" % (args, p.returncode))
    return json.loads(p.stdout.strip().splitlines()[-1])


class Fleet:
    def __init__(self, hosts):
        self.pg = PgServer(durable=True)
        out = subprocess.run([harness.VIGILD, "--fleet-setup", self.pg.url()], capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(out.stderr)
        self.envs = []
        for i in range(hosts):
            name = "bh%d" % (i + 1)
            self.pg.add_host(name)
            env = harness.Env()
            env.conf["fleet"] = {"url": self.pg.url(name), "host_name": name, "sslmode": "disable",
                                 "db_timeout": "2s", "propagation": "1s"}
            env.conf["roles"] = {"admin_groups": ["u0", harness.ADMIN_SOCKET_GROUP[0]]}
            env.write_conf()
            add_users(env)
            env.start()
            env.wait_log("fleet: caught up as host", timeout=10)
            self.envs.append(env)
        self.policy(deny=1000, throttle_deny=0, fail_interval="'1 minute'", max_auto_blocks_per_host=100000)

    def policy(self, **kw):
        sets = ", ".join("%s = %s" % (k, v) for k, v in kw.items())
        self.pg.psql("UPDATE vigil.policy SET " + sets)

    def reset(self):
        self.pg.psql("TRUNCATE vigil.bucket, vigil.failure")

    def close(self):
        for e in self.envs:
            e.close()
        self.pg.stop()


def decisions(fleet, clients, total):
    """H storms at once, one per host; decisions per second in all."""
    fleet.reset()
    results = [None] * len(fleet.envs)

    def run(i):
        results[i] = loop(None, "storm", fleet.envs[i].socket, clients, total)

    t0 = time.monotonic()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(fleet.envs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    errors = sum(r["errors"] for r in results)
    if errors:
        raise RuntimeError("fleet storm: %d errors" % errors)
    counted = int(fleet.pg.psql("SELECT count(*) FROM vigil.failure"))
    p50 = statistics.median(r["p50_us"] for r in results)
    p99 = max(r["p99_us"] for r in results)
    return {"hosts": len(fleet.envs), "clients_per_host": clients, "reports": total * len(fleet.envs),
            "counted": counted, "per_second": round(total * len(fleet.envs) / wall), "p50_us": p50, "p99_us": p99}


def pam_side_by_side(fleet, rounds, count):
    """One fleet host and one SQLite host, interleaved, both paths."""
    single = harness.Env(lockout={"deny": 1000, "fail_interval": "1m"})
    single.conf["throttle"] = {"deny": 0}
    single.write_conf()
    add_users(single)
    single.start()
    host = fleet.envs[0]
    out = {}
    try:
        for label, env in (("fleet", host), ("sqlite", single)):
            env.add_service("bench-c", harness.STACK.format(matrix=harness.PAM_MATRIX, passdb=env.passdb,
                                                             module=harness.MODULE, args=env.module_args,
                                                             python=harness.PY, checkpw=""))
        samples = {(l, p): [] for l in ("fleet", "sqlite") for p in ("success", "failure")}
        for _ in range(rounds):
            for label, env in (("fleet", host), ("sqlite", single)):
                e = pam_env(env)
                ok = loop(e, "pam", "bench-c", "u1", "pw-u1", count, "192.0.2.1")
                bad = loop(e, "pam", "bench-c", "u%d", "wrong", count, "192.0.2.1")
                samples[(label, "success")].append(ok)
                samples[(label, "failure")].append(bad)
        for (label, path), runs in samples.items():
            out["%s_%s" % (label, path)] = {"p50_us": statistics.median(r["median_us"] for r in runs),
                                            "p99_us": statistics.median(r["p99_us"] for r in runs)}
    finally:
        single.close()
    return out


def fleet_status(env):
    return harness.raw_call(env.socket, "io.vigil.Fleet.Status", {})["parameters"]


def token_verdict(env, token):
    return harness.raw_call(env.socket, "io.vigil.Token.Check", {"token": token, "scope": "deploy"})[
        "parameters"]["verdict"]


def propagation(fleet, count):
    """Blocks of ordinary accounts (until every replica applied it), and of
    an administrator with a token on every host (until every host answers
    "revoked"). Times from the commit (psql returned) to the last host."""
    blocks, revokes = [], []
    for i in range(count):
        account = USERS[1 + i % 49]
        fleet.pg.psql("DELETE FROM vigil.block")
        t0 = time.monotonic()
        seq = int(fleet.pg.psql("SELECT seq FROM vigil.block_account('%s', 'bench', 'bench')" % account,
                                user="bh1"))
        t1 = time.monotonic()
        pending = set(range(len(fleet.envs)))
        while pending:
            for j in list(pending):
                if fleet_status(fleet.envs[j])["applied"] >= seq:
                    pending.discard(j)
            if time.monotonic() - t1 > 10:
                raise RuntimeError("a block did not reach every host within 10 s")
        blocks.append((time.monotonic() - t1) * 1000.0)
        del t0
        # Recovered, so that later parts find the account open on every host.
        seq = int(fleet.pg.psql("DELETE FROM vigil.block WHERE account = '%s'; "
                                "SELECT vigil.emit('unblock', '%s', 'bench', '{}')" % (account, account)).split()[-1])
        while any(fleet_status(e)["applied"] < seq for e in fleet.envs):
            time.sleep(0.005)
    for i in range(max(1, count // 5)):
        fleet.pg.psql("DELETE FROM vigil.block")
        tokens = []
        for env in fleet.envs:
            # u0 is an administrator (its primary group is an admin group).
            p = env.ctl("token", "issue", "--owner", "u0", "--name", "t%d" % i, "--scope", "deploy", "--json")
            if p.returncode != 0:
                raise RuntimeError(p.stderr)
            tokens.append(json.loads(p.stdout)["token"])
        fleet.pg.psql("SELECT seq FROM vigil.block_account('u0', 'bench', 'bench')", user="bh1")
        t1 = time.monotonic()
        pending = set(range(len(fleet.envs)))
        while pending:
            for j in list(pending):
                if token_verdict(fleet.envs[j], tokens[j]) != "valid":
                    pending.discard(j)
            if time.monotonic() - t1 > 10:
                raise RuntimeError("a revocation did not reach every host within 10 s")
        revokes.append((time.monotonic() - t1) * 1000.0)
        # Recovered by the owner, so that the next round starts unblocked
        # (the replicas apply the unblock; the revoked tokens stay revoked).
        seq = int(fleet.pg.psql("DELETE FROM vigil.block WHERE account = 'u0'; "
                                "SELECT vigil.emit('unblock', 'u0', 'bench', '{}')").split()[-1])
        deadline = time.monotonic() + 10
        while any(fleet_status(e)["applied"] < seq for e in fleet.envs):
            if time.monotonic() > deadline:
                raise RuntimeError("the unblock did not reach every host")
            time.sleep(0.01)

    def stats(v):
        return {"n": len(v), "p50_ms": round(pct(v, 50), 2), "p99_ms": round(pct(v, 99), 2),
                "max_ms": round(max(v), 2)}

    return {"block": stats(blocks), "revocation": stats(revokes)}


def hot_account(fleet, seconds):
    """Every host's clients fail on one account (u7) at once, until deny
    (1000, the policy's maximum) is near: counted failures per second."""
    fleet.reset()
    state = {"stop": time.monotonic() + seconds}
    counts = []

    def hammer(env, k):
        n = 0
        while time.monotonic() < state["stop"]:
            harness.raw_call(env.socket, "io.vigil.Auth.Report",
                             {"user": "u7", "outcome": "failure", "nonce": "hot-%d-%d" % (k, n),
                              "service": "bench", "rhost": "198.51.100.%d" % (1 + k % 200), "tty": "ssh"},
                             timeout=10)
            n += 1
        counts.append(n)

    def counted():
        return int(fleet.pg.psql("SELECT count(*) FROM vigil.failure WHERE account = 'u7'"))

    threads = [threading.Thread(target=hammer, args=(env, k)) for k, env in enumerate(fleet.envs * 4)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    while time.monotonic() < state["stop"]:
        if counted() >= 800:  # stop before the lock: after it, refusals are not counted
            state["stop"] = 0
        time.sleep(0.05)
    wall = time.monotonic() - t0
    for t in threads:
        t.join()
    n = counted()
    return {"clients": len(threads), "seconds": round(wall, 2), "counted": n,
            "counted_per_second": round(min(n, 800) / wall)}


class Proxied:
    """H more hosts (PREFIX1..PREFIXH), each behind its own TCP proxy
    (db_timeout 300 ms, the default)."""

    def __init__(self, fleet, hosts, prefix="bd", **conf):
        self.fleet, self.envs, self.proxies = fleet, [], []
        for i in range(hosts):
            name = "%s%d" % (prefix, i + 1)
            fleet.pg.add_host(name)
            proxy = TcpProxy(fleet.pg.port)
            env = harness.Env()
            env.conf["fleet"] = dict({"url": "postgresql://%s@127.0.0.1:%d/vigil" % (name, proxy.port),
                                      "host_name": name, "sslmode": "disable", "propagation": "1s"}, **conf)
            env.write_conf()
            add_users(env)
            env.start()
            env.wait_log("fleet: caught up as host", timeout=10)
            self.envs.append(env)
            self.proxies.append(proxy)

    def close(self):
        for e in self.envs:
            e.close()
        for p in self.proxies:
            p.close()


def wait_until(what, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if what():
            return True
        time.sleep(0.002)
    return what()


def report(env, user, outcome, nonce, rhost):
    return harness.raw_call(env.socket, "io.vigil.Auth.Report", {"user": user, "outcome": outcome, "nonce": nonce,
                                                                 "service": "bench", "rhost": rhost}, timeout=10)


def degraded(fleet, samples, journal, pam_count):
    out = {}
    px = Proxied(fleet, 1)
    try:
        env, proxy = px.envs[0], px.proxies[0]
        # Time to degrade: the first report after the pause waits one
        # db_timeout (300 ms) and is decided here; the status says so.
        answered, noticed, healed = [], [], []
        for k in range(samples):
            proxy.pause()
            t0 = time.monotonic()
            report(env, "u3", "failure", "deg-%d-%d" % (os.getpid(), k), "192.0.2.%d" % (1 + k % 250))
            answered.append((time.monotonic() - t0) * 1000)
            if not wait_until(lambda: fleet_status(env)["degraded"], 10):
                raise RuntimeError("the host never said it was degraded")
            noticed.append((time.monotonic() - t0) * 1000)
            proxy.resume()
            t1 = time.monotonic()
            if not wait_until(lambda: not fleet_status(env)["degraded"], 30):
                raise RuntimeError("the host never caught up")
            healed.append((time.monotonic() - t1) * 1000)
        out["time_to_degrade"] = {"n": samples, "db_timeout_ms": 300,
                                  "answered_p50_ms": round(pct(answered, 50), 1),
                                  "answered_max_ms": round(max(answered), 1),
                                  "reported_p50_ms": round(pct(noticed, 50), 1),
                                  "reported_max_ms": round(max(noticed), 1),
                                  "healed_p50_ms": round(pct(healed, 50), 1)}
        print("degraded: time to degrade done", file=sys.stderr)
        # PAM latency while degraded, beside the same host online. u1 logs
        # in once online first: the database said it has no factor, so its
        # right password is decided here (offline_totp = deny refuses only
        # an account that has, or may have, one).
        env.add_service("bench-c", harness.STACK.format(matrix=harness.PAM_MATRIX, passdb=env.passdb,
                                                         module=harness.MODULE, args=env.module_args,
                                                         python=harness.PY, checkpw=""))
        e = pam_env(env)
        lat = {}
        fleet.policy(deny=1000)
        online_ok = loop(e, "pam", "bench-c", "u1", "pw-u1", pam_count, "192.0.2.1")
        online_bad = loop(e, "pam", "bench-c", "u%d", "wrong", pam_count, "192.0.2.1")
        proxy.pause()
        report(env, "u3", "failure", "deg-pam-%d" % os.getpid(), "192.0.2.250")
        off_ok = loop(e, "pam", "bench-c", "u1", "pw-u1", pam_count, "192.0.2.1")
        off_bad = loop(e, "pam", "bench-c", "u%d", "wrong", pam_count, "192.0.2.1")
        for k, r in (("online_success", online_ok), ("online_failure", online_bad),
                     ("degraded_success", off_ok), ("degraded_failure", off_bad)):
            lat[k] = {"p50_us": r["median_us"], "p99_us": r["p99_us"]}
        out["pam_latency"] = lat
        print("degraded: PAM latency done", file=sys.stderr)
        # Catch-up: `journal` failure reports journaled while degraded, then
        # the proxy resumes: until the host has replayed them all, applied
        # the events and left degraded mode.
        fleet.pg.psql("TRUNCATE vigil.replayed")
        before = fleet_status(env)["journal"]
        storm = loop(None, "storm", env.socket, 4, journal)
        if storm["errors"]:
            raise RuntimeError("degraded storm: %d errors" % storm["errors"])
        waiting = fleet_status(env)["journal"]
        t0 = time.monotonic()
        proxy.resume()
        if not wait_until(lambda: not fleet_status(env)["degraded"], 600):
            raise RuntimeError("the host never caught up")
        took = time.monotonic() - t0
        replayed = int(fleet.pg.psql("SELECT count(*) FROM vigil.replayed WHERE host = 'bd1'"))
        out["catch_up"] = {"journaled": waiting - before, "journal": waiting, "replayed": replayed,
                           "seconds": round(took, 2), "per_second": round(replayed / took),
                           "journaled_per_second": storm["per_second"]}
        print("degraded: catch-up done", file=sys.stderr)
    finally:
        px.close()
    # The bound under partition: deny = 3, deny_offline = 3, 2 of 4 hosts
    # cut off; one account guessed on every host, from ever new sources.
    fleet.reset()
    fleet.policy(deny=3)
    part = Proxied(fleet, 4, prefix="bp", deny_offline=3)
    try:
        for i in (2, 3):
            part.proxies[i].pause()
            report(part.envs[i], "u40", "failure", "cut-%d-%d" % (os.getpid(), i), "192.0.2.%d" % (200 + i))
        n = 0
        for env in part.envs:
            for _ in range(10):
                n += 1
                report(env, "u9", "failure", "guess-%d-%d" % (os.getpid(), n), "198.51.100.%d" % n)
        online = int(fleet.pg.psql("SELECT count(*) FROM vigil.failure WHERE account = 'u9'"))
        offline = [len(json.loads(env.ctl("status", "u9", "--json", check=True).stdout)["recent_failures"])
                   for env in part.envs[2:]]
        for i in (2, 3):
            part.proxies[i].resume()
        for env in part.envs[2:]:
            wait_until(lambda e=env: not fleet_status(e)["degraded"], 30)
        locked = fleet.pg.psql("SELECT locked_until > now() FROM vigil.bucket WHERE key = 'acct:u9'").strip() == "t"
        out["partition"] = {"hosts": 4, "cut_off": 2, "deny": 3, "deny_offline": 3, "guesses": n,
                            "honoured": online + sum(offline), "online": online, "offline": offline,
                            "bound": 3 + 2 * 3, "locked_after_healing": locked}
    finally:
        part.close()
        fleet.policy(deny=1000)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--hosts", type=int, default=4)
    args = ap.parse_args()
    hosts = 2 if args.quick else args.hosts
    fleet = Fleet(hosts)
    out = {"machine": {"cpus": os.cpu_count(), "postgresql": fleet.pg.psql("SHOW server_version").strip()}}
    try:
        out["decisions"] = []
        for clients in ([2] if args.quick else [1, 4, 16]):
            total = 100 if args.quick else 2000
            out["decisions"].append(decisions(fleet, clients, total))
            print("decisions: %d hosts x %d clients done" % (hosts, clients), file=sys.stderr)
        out["pam"] = pam_side_by_side(fleet, 1 if args.quick else 5, 20 if args.quick else 200)
        print("pam done", file=sys.stderr)
        out["propagation"] = propagation(fleet, 5 if args.quick else 100)
        print("propagation done", file=sys.stderr)
        out["hot_account"] = hot_account(fleet, 1 if args.quick else 3)
        print("hot account done", file=sys.stderr)
        out["degraded"] = degraded(fleet, 2 if args.quick else 10, 1000 if args.quick else 10000,
                                   20 if args.quick else 200)
    finally:
        fleet.close()
    print_report(out)
    print(json.dumps(out))


def print_report(out):
    m = out["machine"]
    print("fleet benchmark: %d CPUs, PostgreSQL %s on loopback, fsync on" % (m["cpus"], m["postgresql"]))
    print("\ndecisions (every report a counted failure, synchronous commit):")
    for d in out["decisions"]:
        print("  %d hosts x %2d clients: %6d reports/s  (p50 %.0f us, p99 %.0f us; counted %d of %d)"
              % (d["hosts"], d["clients_per_host"], d["per_second"], d["p50_us"], d["p99_us"], d["counted"],
                 d["reports"]))
    print("\nPAM transaction through pam_vigil (p50 / p99, us):")
    for path in ("success", "failure"):
        f, s = out["pam"]["fleet_" + path], out["pam"]["sqlite_" + path]
        print("  %-8s fleet %7.0f / %7.0f    sqlite %7.0f / %7.0f" % (path, f["p50_us"], f["p99_us"], s["p50_us"],
                                                                    s["p99_us"]))
    print("\nfrom commit to every host (ms):")
    for k, v in out["propagation"].items():
        print("  %-10s n=%-4d p50 %6.2f  p99 %6.2f  max %6.2f" % (k, v["n"], v["p50_ms"], v["p99_ms"], v["max_ms"]))
    h = out["hot_account"]
    print("\nhot account: %d clients on one account, %.2f s: %d counted failures/s"
          % (h["clients"], h["seconds"], h["counted_per_second"]))
    d = out["degraded"]
    t = d["time_to_degrade"]
    print("\ndegraded mode (one host behind a paused proxy, db_timeout %d ms, n=%d):" % (t["db_timeout_ms"], t["n"]))
    print("  first report answered  p50 %6.1f ms  max %6.1f ms" % (t["answered_p50_ms"], t["answered_max_ms"]))
    print("  degraded reported      p50 %6.1f ms  max %6.1f ms" % (t["reported_p50_ms"], t["reported_max_ms"]))
    print("  caught up after resume p50 %6.1f ms" % t["healed_p50_ms"])
    print("  PAM transaction on that host (p50 / p99, us; online goes through the proxy, a Python thread each way):")
    for path in ("success", "failure"):
        on, off = d["pam_latency"]["online_" + path], d["pam_latency"]["degraded_" + path]
        print("    %-8s online %7.0f / %7.0f    degraded %7.0f / %7.0f" % (path, on["p50_us"], on["p99_us"],
                                                                         off["p50_us"], off["p99_us"]))
    c = d["catch_up"]
    print("  catch-up of %d journaled reports (journaled at %d/s): %.2f s, %d replayed/s"
          % (c["journaled"], c["journaled_per_second"], c["seconds"], c["per_second"]))
    p = d["partition"]
    print("  partition: %d of %d hosts cut off, %d guesses: %d honoured (%d online, offline %s), bound deny + %d x "
          "deny_offline = %d; locked everywhere after healing: %s"
          % (p["cut_off"], p["hosts"], p["guesses"], p["honoured"], p["online"], p["offline"], p["cut_off"],
             p["bound"], "yes" if p["locked_after_healing"] else "NO"))


if __name__ == "__main__":
    main()
