"""Caller authorisation: peer credentials decide, per method. Each caller is
a real uid (setpriv --reuid), named through nss_wrapper."""
import json
import subprocess
import unittest

from harness import (PAM_AUTH_ERR, PAM_SUCCESS, PY, VIGILCTL, VigilTestCase, raw_call)

ALICE, BOB = 1001, 1002


class Callers(VigilTestCase):
    def test_non_root_cannot_report_for_another_user(self):
        # alice's screen locker tries bob's password: refused, nothing counted.
        for _ in range(3):
            out = self.env.pam("bob", ["wrong"], uid=ALICE)
            self.assertEqual(out["results"][0]["rc"], PAM_AUTH_ERR)
        out = self.env.pam("bob", ["bob-pw"], uid=ALICE)
        self.assertEqual(out["results"][0]["rc"], PAM_AUTH_ERR, "not alice's account")
        st = self.env.status("bob")
        self.assertEqual(st["failures"], 0)
        self.assertIn("refused io.vigil.Auth.Report from uid 1001", self.env.log())

    def test_non_root_cannot_read_another_users_state(self):
        self.fail_n("bob", 2)
        p = self.env.ctl("status", "bob", uid=ALICE)
        self.assertEqual(p.returncode, 4)
        self.assertIn("only act for your own account", p.stderr)
        self.assertNotIn("failures", p.stdout)
        # A name that does not exist gets the same answer: nothing disclosed.
        q = self.env.ctl("status", "no-such-user", uid=ALICE)
        self.assertEqual(q.returncode, 4)
        self.assertEqual(p.stderr, q.stderr)
        # The whole listing is root's.
        r = self.env.ctl("status", "--json", uid=ALICE)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["user"], "alice", "without USER: only your own")

    def test_non_root_can_read_its_own_state(self):
        self.fail_n("alice", 1)
        p = self.env.ctl("status", "alice", "--json", uid=ALICE)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["failures"], 1)

    def test_non_root_cannot_reset(self):
        self.fail_n("alice", 3)
        p = self.env.ctl("reset", "alice", uid=ALICE)
        self.assertEqual(p.returncode, 3)
        self.assertIn("admin socket is for administrators", p.stderr)
        self.assertTrue(self.env.status("alice")["locked"])
        p = self.env.ctl("reset", "bob", uid=BOB)
        self.assertEqual(p.returncode, 3)

    def test_non_root_failures_count_and_success_resets_nothing(self):
        for _ in range(2):
            out = self.env.pam("alice", ["wrong"], uid=ALICE)
            self.assertEqual(out["results"][0]["rc"], PAM_AUTH_ERR)
        self.assertEqual(self.env.status("alice")["failures"], 2)
        out = self.env.pam("alice", ["alice-pw"], uid=ALICE)
        self.assertEqual(out["results"][0]["rc"], PAM_SUCCESS)
        self.assertEqual(self.env.status("alice")["failures"], 2, "a non-root success resets nothing")
        out = self.env.pam("alice", ["wrong"], uid=ALICE)
        self.assertTrue(self.env.status("alice")["locked"])
        out = self.env.pam("alice", ["alice-pw"], uid=ALICE)
        self.assertEqual(out["results"][0]["rc"], PAM_AUTH_ERR, "and never clears a lock")
        # A root caller's success after the lock is refused too.
        self.assertEqual(self.env.login("alice", "alice-pw"), PAM_AUTH_ERR)

    def test_root_caller_success_resets(self):
        self.fail_n("alice", 2)
        self.assertEqual(self.env.login("alice", "alice-pw"), PAM_SUCCESS)
        self.assertEqual(self.env.status("alice")["failures"], 0)

    def test_a_setuid_caller_cannot_claim_the_console(self):
        # su run by a local user on tty1 connects as euid 0 but reports
        # setuid: its failures must lock like any other. (pam_wrapper cannot
        # run under a setuid binary, so this speaks the protocol directly,
        # as the module does.)
        for i in range(3):
            reply = raw_call(self.env.socket, "io.vigil.Auth.Report",
                             {"user": "alice", "outcome": "failure", "nonce": "n%d" % i,
                              "service": "su", "tty": "tty1", "setuid": True})
            self.assertEqual(reply["parameters"]["verdict"], "deny")
        self.assertTrue(self.env.status("alice")["locked"])
        reply = raw_call(self.env.socket, "io.vigil.Auth.Report",
                         {"user": "bob", "outcome": "failure", "service": "login", "tty": "tty1"})
        self.assertEqual(reply["parameters"]["verdict"], "deny")
        self.fail_n("bob", 3, rhost=None, tty="tty1")
        self.assertFalse(self.env.status("bob")["locked"], "login (not setuid) stays exempt")

    def test_raw_protocol_from_non_root_is_checked_too(self):
        # Bypass the module: a non-root process speaking the protocol itself.
        (reply,) = self.env.raw_as(ALICE, [["io.vigil.Account.Reset", {"user": "alice"}]])
        # The public socket has no reset at all: it lives on the admin socket.
        self.assertEqual(reply["error"], "io.vigil.Error.MethodNotFound")


class ConnectionCap(VigilTestCase):
    daemon = {"max_connections_per_uid": 4}

    def test_idle_connections_of_one_uid_do_not_starve_root(self):
        import socket, subprocess, sys, time
        # alice opens many idle connections; past the cap they are closed.
        code = ("import socket, time\n"
                "held = []\n"
                "for i in range(40):\n"
                "    s = socket.socket(socket.AF_UNIX); s.connect(%r); held.append(s)\n"
                "print('ready', flush=True)\n"
                "time.sleep(30)\n" % self.env.socket)
        p = subprocess.Popen(self.env.as_uid(ALICE, [PY, "-c", code]),
                             stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(p.stdout.readline().strip(), "ready")
            t0 = time.monotonic()
            reply = raw_call(self.env.socket, "io.vigil.Daemon.Ping", {})
            self.assertIn("version", reply["parameters"])
            self.assertEqual(self.env.login("bob", "bob-pw"), PAM_SUCCESS)
            self.assertLess(time.monotonic() - t0, 2.0)
        finally:
            p.kill()
            p.wait()
            p.stdout.close()


class ExitStatus(VigilTestCase):
    """A script tells vigilctl's failures apart by the exit status, and with
    --json reads the failure as JSON on standard output (vigilctl(8), EXIT
    STATUS)."""

    def failure(self, p):
        self.assertNotEqual(p.returncode, 0)
        f = json.loads(p.stdout)
        self.assertEqual(f["code"], p.returncode, f)
        return f

    def test_each_kind_of_failure_has_its_own_status(self):
        self.assertEqual(self.env.ctl("status", "alice").returncode, 0)
        p = subprocess.run([VIGILCTL, "--socket", "/nonexistent/vigil.sock", "status", "alice", "--json"],
                           capture_output=True, text=True, env=self.env.nss_env(), timeout=30)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertEqual(self.failure(p)["error"], "vigilctl.Unreachable")
        p = self.env.ctl("status", "bob", "--json", uid=ALICE)
        self.assertEqual(p.returncode, 4, p.stderr)
        f = self.failure(p)
        self.assertEqual(f["error"], "io.vigil.Error.PermissionDenied")
        self.assertIn("only act for your own account", f["message"])
        self.assertNotIn("(permission denied)", p.stderr, "the status says it; the text does not")
        p = self.env.ctl("status", "no-such-user", "--json")
        self.assertEqual(p.returncode, 5, p.stderr)
        self.assertEqual(self.failure(p)["error"], "io.vigil.Error.NotFound")
        p = self.env.ctl("devices", "forget", "alice")
        self.assertEqual(p.returncode, 2, "neither DEVICE nor --all")
        p = self.env.ctl("status", "--no-such-option", "--json")
        self.assertEqual(p.returncode, 2)
        self.assertEqual(self.failure(p)["error"], "vigilctl.Usage")
        # Without --json, nothing but the answer goes to standard output.
        p = self.env.ctl("status", "no-such-user")
        self.assertEqual((p.returncode, p.stdout), (5, ""))


if __name__ == "__main__":
    unittest.main(verbosity=2)
