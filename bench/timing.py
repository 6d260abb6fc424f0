#!/usr/bin/env python3
"""How long each refusal takes to answer, beside a wrong password, in one run.

A refusal (blocked, locked, throttled, refused by a deny rule) must answer at
the same point as a wrong password, or its timing tells a client which one
it got: that the password it tried was right, or that it should stop trying.
Likewise the authfail path with a code prompt (a wrong password on an
account with a second factor) against the verify path (a right password,
then Auth.Verify).

One live vigild (the e2e harness: tests/e2e/harness.py), root on its public
socket speaking the raw protocol as pam_vigil does (a fresh connection per
call: connect, one frame, the answer, close):

  wrong password   Auth.Report failure, a normal account (alice)
  locked           Auth.Report success, an account locked by 3 failures
  blocked          Auth.Report success, an account blocked (vigilctl block)
  throttled        Auth.Report success from a throttled source
  deny rule        Auth.Report success, refused by a [[devices.rule]] deny
  totp wrong pw    Auth.Report failure, an account with a second factor
  + verify         (answered with prompt), then the Auth.Verify with an
                   empty code that the module sends after the code prompt
                   (no right password in the call: refused after a commit)
  totp right pw    Auth.Report success ("verify"), then Auth.Verify with a
  + verify         code (a wrong one: a right one is accepted once per 30 s
                   step; both are checked and committed before the answer)

Rounds are interleaved (each round every kind once, in a random order). The
wrong-password report comes from a fresh source each round and is followed,
untimed, by a reset on the admin socket, so alice never locks; the other
kinds also come from fresh sources, except the throttled one. The TOTP
account's failures are reset (untimed, admin socket) before they lock it;
the verify path rotates over a few accounts so its wrong codes never reach
[totp] max_failures.

The second table (--pam, on by default unless --quick) times whole PAM
transactions through pam_vigil (bench/pamloop, in-process, pam_wrapper and
pam_matrix): a wrong password (authfail) beside a right password refused
(authsucc) for each refusal kind; one pamloop run of 3 transactions per
sample, its median.

  bench/timing.py            full run
  bench/timing.py --quick    a few rounds: proves it works
  bench/timing.py --json     the figures as JSON
  bench/timing.py --rounds N --no-pam
"""
import argparse
import gc
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
os.environ.setdefault("VIGIL_BUILD_DIR", os.path.join(ROOT, os.environ.get("BUILD_DIR", "build")))

import harness  # noqa: E402

PAMLOOP = os.path.join(harness.BUILD, "bench", "pamloop")

KINDS = ["wrong password", "locked", "blocked", "throttled", "deny rule", "totp wrong pw + verify",
         "totp right pw + verify"]
PAM_KINDS = ["wrong password", "locked", "blocked", "throttled", "deny rule"]

# name: (uid, password), added to the harness's users.
EXTRA_USERS = {"erin": (1005, "erin-pw"), "frank": (1006, "frank-pw")}
VERIFY_USERS = 12  # v0..v11: the verify path's accounts
PAM_WRONG_USERS = 3  # w0..w2: pamloop's %d users for the wrong password
THROTTLED = "192.0.2.66"
MAX_CODE_FAILURES = 100  # [totp] max_failures here; each verify account takes at most 90


class Timed:
    """A raw call on the public socket, timed from connect to the whole answer."""

    def __init__(self, path):
        self.path = path

    def call(self, method, params):
        t0 = time.perf_counter_ns()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        out = b""
        try:
            s.connect(self.path)
            s.sendall(json.dumps({"method": method, "parameters": params}).encode() + b"\0")
            while not out.endswith(b"\0"):
                c = s.recv(65536)
                if not c:
                    break
                out += c
        finally:
            s.close()
        t1 = time.perf_counter_ns()
        if not out.endswith(b"\0"):
            raise RuntimeError("no complete answer to %s" % method)
        return (t1 - t0) / 1000.0, json.loads(out[:-1])


class Timing:
    def __init__(self, pam):
        self.env = env = harness.Env(lockout={"deny": 3, "fail_interval": "15m", "unlock_time": "24h",
                                              "max_unlock_time": "24h"})
        env.conf["throttle"] = {"deny": 20, "window": "10m", "ban_time": "24h", "max_ban_time": "24h"}
        env.conf["totp"] = {"max_failures": MAX_CODE_FAILURES}
        env.write_conf()
        with open(env.conf_path, "a") as f:
            f.write('\n[[devices.rule]]\nmatch = { user = "erin" }\naction = "deny"\n')
        users = dict(EXTRA_USERS)
        for i in range(VERIFY_USERS):
            users["v%d" % i] = (1100 + i, "v%d-pw" % i)
        for i in range(PAM_WRONG_USERS):
            users["w%d" % i] = (1200 + i, "w%d-pw" % i)
        with open(env.passwd, "a") as f, open(env.passdb, "a") as g:
            for name, (uid, pw) in users.items():
                f.write("%s:x:%d:%d::/nonexistent:/bin/sh\n" % (name, uid, uid))
                g.write("%s:%s:*\n" % (name, pw))
        if pam:
            env.add_stack("timing", harness.STACK, env.module_args)
        env.start()
        self.pub = Timed(env.socket)
        self.seq = 0
        self.src = 0
        self.frank_failures = 0
        self.verify_uses = {"v%d" % i: 0 for i in range(VERIFY_USERS)}
        self.prepare()

    # ---- helpers ----
    def nonce(self):
        self.seq += 1
        return "timing-%d-%d" % (os.getpid(), self.seq)

    def fresh_source(self):
        self.src += 1
        return "10.%d.%d.%d" % (self.src >> 16 & 255, self.src >> 8 & 255, self.src & 255)

    def report(self, user, outcome, rhost):
        return self.pub.call("io.vigil.Auth.Report",
                             {"user": user, "outcome": outcome, "nonce": self.nonce(), "service": "sshd",
                              "rhost": rhost, "tty": "ssh"})

    def admin(self, method, params):
        r = harness.raw_call(self.env.admin_socket, method, params, timeout=10)
        if "error" in r:
            raise RuntimeError("%s: %s" % (method, r))
        # A reset is committed with a full sync; let its tail (the WAL, the
        # disk) settle before the next timed call.
        time.sleep(0.002)
        return r

    def expect(self, reply, verdict, what):
        got = reply.get("parameters", {}).get("verdict")
        if got != verdict:
            raise RuntimeError("%s: expected verdict %s, got %s" % (what, verdict, reply))

    def prepare(self):
        env = self.env
        # locked: bob, 3 failures (24 h lock).
        for _ in range(3):
            self.report("bob", "failure", "192.0.2.10")
        if not env.status("bob")["locked"]:
            raise RuntimeError("bob is not locked")
        # blocked: carol.
        env.ctl("block", "carol", "--reason", "timing benchmark", check=True)
        # throttled: 20 failures from one source for names nobody has.
        for i in range(20):
            self.report("nobody%d" % i, "failure", THROTTLED)
        # Second factors: frank (wrong passwords) and the verify accounts.
        harness.wait_for_fresh_step(3)
        for user in ["frank"] + list(self.verify_uses):
            _, r = self.pub.call("io.vigil.Totp.Enroll", {"user": user})
            secret = r["parameters"]["secret"]
            _, r = self.pub.call("io.vigil.Totp.Confirm", {"user": user, "code": harness.oathtool(secret)})
            if "error" in r:
                raise RuntimeError("confirm %s: %s" % (user, r))
        # Check each kind answers as it should before timing it.
        for kind in KINDS:
            self.one(kind, check=True)

    # ---- the kinds ----
    def one(self, kind, check=False):
        """Times one request of a kind; returns microseconds."""
        if kind == "wrong password":
            src = self.fresh_source()
            us, r = self.report("alice", "failure", src)
            if check:
                self.expect(r, "deny", kind)
            # Untimed: clear the failure (admin socket), so alice never locks.
            self.admin("io.vigil.Account.Reset", {"user": "alice"})
            return us
        if kind in ("locked", "blocked", "deny rule"):
            user = {"locked": "bob", "blocked": "carol", "deny rule": "erin"}[kind]
            us, r = self.report(user, "success", self.fresh_source())
            if check:
                self.expect(r, "deny", kind)
            return us
        if kind == "throttled":
            us, r = self.report("dave", "success", THROTTLED)
            if check:
                self.expect(r, "deny", kind)
            return us
        if kind == "totp wrong pw + verify":
            if self.frank_failures >= 2:  # deny is 3: reset before the lock
                self.admin("io.vigil.Account.Reset", {"user": "frank"})
                self.frank_failures = 0
            nonce = self.nonce()
            params = {"user": "frank", "outcome": "failure", "nonce": nonce, "service": "sshd",
                      "rhost": self.fresh_source(), "tty": "ssh"}
            us1, r = self.pub.call("io.vigil.Auth.Report", params)
            self.frank_failures += 1
            if check:
                self.expect(r, "deny", kind)
                if r["parameters"].get("prompt") is not True:
                    raise RuntimeError("%s: no prompt: %s" % (kind, r))
            us2, v = self.pub.call("io.vigil.Auth.Verify", {"user": "frank", "nonce": nonce, "code": ""})
            if check:
                self.expect(v, "deny", kind + " (code)")
            return us1 + us2
        if kind == "totp right pw + verify":
            user = min(self.verify_uses, key=self.verify_uses.get)
            if self.verify_uses[user] >= MAX_CODE_FAILURES - 10:
                raise RuntimeError("too many rounds for the verify accounts' code budget")
            self.verify_uses[user] += 1
            nonce = self.nonce()
            params = {"user": user, "outcome": "success", "nonce": nonce, "service": "sshd",
                      "rhost": self.fresh_source(), "tty": "ssh"}
            us1, r = self.pub.call("io.vigil.Auth.Report", params)
            if check:
                self.expect(r, "verify", kind)
            us2, v = self.pub.call("io.vigil.Auth.Verify", {"user": user, "nonce": nonce, "code": "000000"})
            if check:
                self.expect(v, "deny", kind + " (code)")
            return us1 + us2
        raise ValueError(kind)

    def run(self, rounds):
        samples = {k: [] for k in KINDS}
        order = list(KINDS)
        gc.disable()
        try:
            for _ in range(rounds):
                random.shuffle(order)
                for kind in order:
                    samples[kind].append(self.one(kind))
        finally:
            gc.enable()
        return samples

    # ---- through PAM ----
    def pam_env(self):
        e = self.env.nss_env()
        e.update({"PAM_WRAPPER": "1", "PAM_WRAPPER_SERVICE_DIR": self.env.svc,
                  "LD_PRELOAD": "libpam_wrapper.so libnss_wrapper.so"})
        return e

    def pam_one(self, kind):
        n = 3
        if kind == "wrong password":
            # pamloop fills %d with i % 50: w0, w1, w2, each cleared after.
            src = self.fresh_source()
            us = self.pamloop("w%d", "wrong", n, src)
            for i in range(n):  # untimed: clear each failure
                self.admin("io.vigil.Account.Reset", {"user": "w%d" % i})
            return us
        user, pw, rhost = {"locked": ("bob", "bob-pw", None), "blocked": ("carol", "carol-pw", None),
                           "throttled": ("dave", "dave-pw", THROTTLED),
                           "deny rule": ("erin", "erin-pw", None)}[kind]
        return self.pamloop(user, pw, n, rhost or self.fresh_source())

    def pamloop(self, user, pw, n, rhost):
        p = subprocess.run([PAMLOOP, "pam", "timing", user, pw, str(n), rhost], stdout=subprocess.PIPE,
                           text=True, env=self.pam_env(), timeout=120)
        if p.returncode != 0:
            raise RuntimeError("pamloop failed (exit %d)" % p.returncode)
        res = json.loads(p.stdout.strip().splitlines()[-1])
        if list(res["rc"]) != [str(harness.PAM_AUTH_ERR)]:
            raise RuntimeError("pamloop %s: unexpected return codes %s" % (user, res["rc"]))
        return res["median_us"]

    def run_pam(self, rounds):
        samples = {k: [] for k in PAM_KINDS}
        order = list(PAM_KINDS)
        for _ in range(rounds):
            random.shuffle(order)
            for kind in order:
                samples[kind].append(self.pam_one(kind))
        return samples

    def close(self):
        self.env.close()


def summary(xs):
    s = sorted(xs)

    def q(p):
        return s[min(len(s) - 1, int(p * len(s)))]
    return {"n": len(s), "p50": q(0.50), "p90": q(0.90), "p99": q(0.99), "mean": statistics.fmean(s)}


def table(title, samples, base="wrong password"):
    stats = {k: summary(v) for k, v in samples.items()}
    b = stats[base]
    lines = [title,
             "%-24s %6s %9s %9s %9s %9s   %s" % ("kind", "n", "p50", "p90", "p99", "mean",
                                                 "p50 / mean - wrong password")]
    for k, s in stats.items():
        diff = "" if k == base else "%+9.0f %+9.0f" % (s["p50"] - b["p50"], s["mean"] - b["mean"])
        lines.append("%-24s %6d %9.0f %9.0f %9.0f %9.0f   %s" % (k, s["n"], s["p50"], s["p90"], s["p99"],
                                                                s["mean"], diff))
    return stats, "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a few rounds: proves it works")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--rounds", type=int, default=None, help="raw protocol rounds (default 1000; quick 20)")
    ap.add_argument("--pam-rounds", type=int, default=None, help="PAM rounds (default 100; quick 3)")
    ap.add_argument("--no-pam", action="store_true", help="skip the PAM table")
    args = ap.parse_args()
    rounds = args.rounds or (20 if args.quick else 1000)
    pam_rounds = args.pam_rounds or (3 if args.quick else 100)
    if rounds > VERIFY_USERS * (MAX_CODE_FAILURES - 10):
        ap.error("at most %d rounds" % (VERIFY_USERS * (MAX_CODE_FAILURES - 10)))
    pam = not args.no_pam
    t = Timing(pam)
    try:
        raw = t.run(rounds)
        pam_samples = t.run_pam(pam_rounds) if pam else None
    finally:
        t.close()
    raw_stats, raw_text = table("Auth.Report round trip on the public socket, as root (µs; "
                                "verify: Report + Verify)", raw)
    out = {"rounds": rounds, "raw": raw_stats}
    text = [raw_text]
    if pam_samples:
        pam_stats, pam_text = table("\nWhole PAM transactions through pam_vigil (bench/pamloop, µs, "
                                    "median of 3 per sample)", pam_samples)
        out["pam"] = pam_stats
        out["pam_rounds"] = pam_rounds
        text.append(pam_text)
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        print("\n".join(text))


if __name__ == "__main__":
    main()
