"""What the module does when the daemon cannot decide: fail closed, within
its deadline, and defer to the password module only when the daemon is
absent and failmode=safe says so."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from harness import (Env, PAM_AUTH_ERR, PAM_AUTHINFO_UNAVAIL, PAM_SUCCESS, PAMDRIVE, PY, STACK,
                     FakeDaemon, VigilTestCase)


class FailMode(VigilTestCase):
    start_daemon = False

    def run_case(self, service, password):
        t0 = time.monotonic()
        out = self.env.pam("alice", [password], service=service, ops="auth,account")
        return out, time.monotonic() - t0

    def test_absent_daemon(self):
        self.assertFalse(os.path.exists(self.env.socket))
        out, _ = self.run_case("vigil", "alice-pw")
        self.assertEqual(out["results"][0]["rc"], PAM_AUTHINFO_UNAVAIL, "secure refuses")
        out, _ = self.run_case("vigil-safe", "alice-pw")
        self.assertEqual([r["rc"] for r in out["results"]], [PAM_SUCCESS, PAM_SUCCESS],
                         "safe lets the right password in when the daemon is absent")
        out, _ = self.run_case("vigil-safe", "wrong")
        self.assertEqual(out["results"][0]["rc"], PAM_AUTH_ERR, "a wrong password still fails")
        self.assertEqual(out["leaked_fds"], [])

    def test_failmode_account_safe_lets_cron_through_while_auth_stays_secure(self):
        # cron runs only the account phase, as root, without a terminal; in
        # a real stack pam_unix's account line answers success beside vigil.
        cron = STACK.replace("account  required                                 {module} {args}",
                             "account  required pam_permit.so\naccount  required {module} {args}")
        self.assertNotEqual(cron, STACK)
        self.env.add_stack("cron-safe", cron, self.env.module_args + " failmode_account=safe")
        self.env.add_stack("cron-secure", cron, self.env.module_args)
        self.assertFalse(os.path.exists(self.env.socket))
        out = self.env.pam("alice", ops="account", service="cron-safe", rhost=None, tty="cron")
        self.assertEqual(out["results"][0]["rc"], PAM_SUCCESS, "the account phase defers: cron runs")
        out = self.env.pam("alice", ops="account", service="cron-secure", rhost=None, tty="cron")
        self.assertEqual(out["results"][0]["rc"], PAM_AUTHINFO_UNAVAIL, "without it, fail closed")
        # The same line's password phase stays secure.
        out = self.env.pam("alice", ["alice-pw"], ops="auth,account", service="cron-safe")
        self.assertEqual(out["results"][0]["rc"], PAM_AUTHINFO_UNAVAIL, "auth is not relaxed")
        # A daemon that answers garbage is not absent: still refused.
        fake = FakeDaemon(self.env.socket, "garbage")
        try:
            out = self.env.pam("alice", ops="account", service="cron-safe", rhost=None, tty="cron")
            self.assertEqual(out["results"][0]["rc"], PAM_AUTHINFO_UNAVAIL)
        finally:
            fake.close()

    def test_refused_connection_counts_as_absent(self):
        fake = FakeDaemon(self.env.socket, "refused")
        try:
            out, _ = self.run_case("vigil", "alice-pw")
            self.assertEqual(out["results"][0]["rc"], PAM_AUTHINFO_UNAVAIL)
            out, _ = self.run_case("vigil-safe", "alice-pw")
            self.assertEqual(out["results"][0]["rc"], PAM_SUCCESS)
        finally:
            fake.close()

    def check_bad_daemon(self, mode):
        fake = FakeDaemon(self.env.socket, mode)
        try:
            for service in ("vigil-fast", "vigil-fast-safe"):
                out, elapsed = self.run_case(service, "alice-pw")
                self.assertEqual(out["results"][0]["rc"], PAM_AUTHINFO_UNAVAIL,
                                 "%s daemon, %s: must never succeed" % (mode, service))
                self.assertEqual(out["results"][1]["rc"], PAM_AUTHINFO_UNAVAIL,
                                 "the account phase asks again and fails closed too")
                # timeout=500 ms per round trip, two round trips (auth and
                # account); pamdrive's own start-up is included here.
                self.assertLess(elapsed, 2 * 0.5 + 1.0, "%s: returned after %.2fs" % (mode, elapsed))
                self.assertEqual(out["leaked_fds"], [])
                out, _ = self.run_case(service, "wrong")
                self.assertEqual(out["results"][0]["rc"], PAM_AUTH_ERR)
        finally:
            fake.close()

    def test_daemon_that_never_answers(self):
        fake = FakeDaemon(self.env.socket, "silent")
        try:
            t0 = time.monotonic()
            out = self.env.pam("alice", ["alice-pw"], service="vigil-fast")
            elapsed = time.monotonic() - t0
            self.assertEqual(out["results"][0]["rc"], PAM_AUTHINFO_UNAVAIL)
            self.assertGreaterEqual(elapsed, 0.5, "it waited for the deadline")
            self.assertLess(elapsed, 1.5)
        finally:
            fake.close()
        self.check_bad_daemon("silent")

    def test_daemon_that_answers_garbage(self):
        self.check_bad_daemon("garbage")

    def test_daemon_that_answers_half_a_frame(self):
        self.check_bad_daemon("half")

    def test_console_login_is_exempt_from_failmode(self):
        out = self.env.pam("alice", ["alice-pw"], rhost=None, tty="tty1")
        self.assertEqual(out["results"][0]["rc"], PAM_SUCCESS)
        out = self.env.pam("alice", ["wrong"], rhost=None, tty="tty1")
        self.assertEqual(out["results"][0]["rc"], PAM_AUTH_ERR)
        # ...but not for a non-root caller claiming the console.
        out = self.env.pam("alice", ["alice-pw"], rhost=None, tty="tty1", uid=1001)
        self.assertEqual(out["results"][0]["rc"], PAM_AUTHINFO_UNAVAIL)


class Journal(VigilTestCase):
    start_daemon = False

    def setUp(self):
        # The test mounts a tmpfs on /run: keep the scratch world out of it.
        self.env = Env(parent=tempfile.gettempdir())

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("unshare"), "needs root and unshare")
    def test_the_fail_mode_in_use_is_a_journal_event_with_its_message_id(self):
        # journald is stood in for by a socket at its address, in a private
        # mount namespace (tmpfs on /run): the module finds it and sends the
        # event there.
        argv = [PAMDRIVE, "--service", "vigil", "--user", "alice", "--ops", "auth", "--answer", "alice-pw",
                "--rhost", "203.0.113.7", "--tty", "ssh"]
        script = ("mount -t tmpfs tmpfs /run && exec %s %s %s"
                  % (PY, os.path.join(os.path.dirname(__file__), "journal_capture.py"), " ".join(argv)))
        p = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                           input="alice-pw\n", capture_output=True, text=True, env=self.env.pam_env(),
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        got = json.loads(p.stdout)
        self.assertEqual(json.loads(got["pamdrive"])["results"][0]["rc"], PAM_AUTHINFO_UNAVAIL)
        events = [e for e in got["entries"] if e.get("MESSAGE_ID") == "2dd7a5d0f4844ef8b539404e3f56adfb"]
        self.assertEqual(len(events), 1, got["entries"])
        e = events[0]
        self.assertEqual((e["SYSLOG_IDENTIFIER"], e["VIGIL_SERVICE"], e["VIGIL_FAILMODE"], e["VIGIL_OUTCOME"]),
                         ("pam_vigil", "vigil", "failmode=secure", "refused"))
        self.assertEqual(e["PRIORITY"], "3")
        self.assertNotIn("alice-pw", json.dumps(got["entries"]))


class NoLeaks(VigilTestCase):
    def test_no_descriptor_outlives_pam_end(self):
        for pw in ("alice-pw", "wrong"):
            out = self.env.pam("alice", [pw], ops="auth,account")
            self.assertEqual(out["leaked_fds"], [], out)
        out = self.env.pam("bob", ops="account")
        self.assertEqual(out["results"][0]["rc"], PAM_SUCCESS)
        self.assertEqual(out["leaked_fds"], [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
