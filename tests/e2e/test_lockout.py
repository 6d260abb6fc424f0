"""Account lockout through real libpam, decided by a real vigild."""
import time
import unittest

from harness import (PAM_AUTH_ERR, PAM_SUCCESS, VigilTestCase)


class Lockout(VigilTestCase):
    def test_right_password_logs_in_and_account_phase_allows(self):
        out = self.env.pam("alice", ["alice-pw"], ops="auth,account")
        self.assertEqual([r["rc"] for r in out["results"]], [PAM_SUCCESS, PAM_SUCCESS])

    def test_locks_after_deny_failures(self):
        self.fail_n("alice", 2)
        st = self.env.status("alice")
        self.assertEqual(st["failures"], 2)
        self.assertFalse(st["locked"])
        self.fail_n("alice", 1)
        st = self.env.status("alice")
        self.assertTrue(st["locked"])
        self.assertEqual(st["lock_count"], 1)
        self.assertGreater(st["locked_until"], time.time() + 500)
        self.assertIn("locked alice", self.env.log())

    def test_locked_right_password_looks_exactly_like_a_wrong_one(self):
        wrong = self.env.pam("alice", ["nope"])
        self.fail_n("alice", 2)
        right_locked = self.env.pam("alice", ["alice-pw"])
        self.assertEqual(right_locked["results"][0]["rc"], PAM_AUTH_ERR)
        self.assertEqual(right_locked["results"], wrong["results"])
        # The same conversation: one password prompt, no extra message.
        self.assertEqual(right_locked["messages"], wrong["messages"])
        self.assertEqual([m["style"] for m in wrong["messages"]], ["echo_off"])
        # The refusal was not counted as a failure.
        st = self.env.status("alice")
        self.assertEqual(st["refused"], 1)
        self.assertEqual(st["failures"], 3)

    def test_a_success_before_the_lock_resets_the_count(self):
        self.fail_n("alice", 2)
        self.assertEqual(self.env.login("alice", "alice-pw"), PAM_SUCCESS)
        self.fail_n("alice", 2)
        self.assertEqual(self.env.login("alice", "alice-pw"), PAM_SUCCESS)
        self.assertEqual(self.env.status("alice")["failures"], 0)

    def test_account_phase_never_denies_a_temporary_lock(self):
        # An SSH key login runs only the account phase: password noise must
        # not cut it off.
        self.fail_n("alice", 3)
        self.assertTrue(self.env.status("alice")["locked"])
        out = self.env.pam("alice", ops="account")
        self.assertEqual(out["results"][0]["rc"], PAM_SUCCESS)

    def test_failed_password_then_key_login_on_the_same_handle(self):
        # sshd may try a password and then a public key on one PAM handle:
        # the refused password must not deny the key login's account phase.
        self.fail_n("alice", 3)
        out = self.env.pam("alice", ["alice-pw"], ops="auth,account")
        self.assertEqual([r["rc"] for r in out["results"]], [PAM_AUTH_ERR, PAM_SUCCESS])

    def test_malformed_metadata_never_loses_a_failure(self):
        # PAM_RHOST may come from the network: long, or not UTF-8.
        self.fail_n("alice", 1, rhost="x" * 5000)
        self.fail_n("alice", 1, rhost="h\udcff\udcfe\x01", tty="t\udcc3")
        self.assertEqual(self.env.status("alice")["failures"], 2)
        # A malformed or over-long user name is counted as an unknown name.
        for name in ("a" * 300, "bad\x01name", "x\udcff"):
            self.assertEqual(self.env.login(name, "pw"), PAM_AUTH_ERR)
        self.assertNotIn("a" * 300, self.env.log())

    def test_one_account_for_every_name_of_a_uid(self):
        for name in ("alice", "Alice", "alice@EXAMPLE.COM"):
            self.assertEqual(self.env.login(name, "wrong"), PAM_AUTH_ERR)
        st = self.env.status("alice")
        self.assertTrue(st["locked"])
        self.assertEqual(st["uid"], 1001)
        self.assertEqual(self.env.login("Alice", "alice-pw"), PAM_AUTH_ERR)

    def test_each_pam_authenticate_call_counts_once(self):
        # sudo's three tries on one handle count three times...
        out = self.env.pam("bob", ["w1", "w2"], ops="auth,auth")
        self.assertEqual([r["rc"] for r in out["results"]], [PAM_AUTH_ERR, PAM_AUTH_ERR])
        self.assertEqual(self.env.status("bob")["failures"], 2)
        # ...and a stack that reports twice in one call counts once.
        out = self.env.pam("carol", ["w1"], service="vigil-double")
        self.assertEqual(out["results"][0]["rc"], PAM_AUTH_ERR)
        self.assertEqual(self.env.status("carol")["failures"], 1)

    def test_unknown_user_gets_the_same_conversation_and_is_never_logged(self):
        known = self.env.pam("alice", ["wrong"])
        unknown = self.env.pam("no-such-user-xyzzy", ["wrong"])
        self.assertEqual(unknown["results"], known["results"])
        self.assertEqual(unknown["messages"], known["messages"])
        self.fail_n("no-such-user-xyzzy", 4)
        # The right password for a name NSS does not know is still refused.
        self.assertEqual(self.env.login("ghost", "ghost-pw"), PAM_AUTH_ERR)
        log = self.env.log()
        self.assertNotIn("no-such-user-xyzzy", log)
        self.assertNotIn("ghost", log)
        with open(self.env.state + "/vigil.db", "rb") as f:
            self.assertNotIn(b"no-such-user-xyzzy", f.read())

    def test_vigilctl_status_and_reset(self):
        self.fail_n("alice", 3)
        p = self.env.ctl("status", "alice")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("state:         LOCKED until", p.stdout)
        listing = self.env.ctl("status", "--json")
        self.assertEqual(listing.returncode, 0)
        self.assertIn('"user":"alice"', listing.stdout)
        table = self.env.ctl("status")
        self.assertIn("alice", table.stdout)
        p = self.env.ctl("reset", "alice")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("was locked", p.stdout)
        self.assertFalse(self.env.status("alice")["locked"])
        self.assertEqual(self.env.login("alice", "alice-pw"), PAM_SUCCESS)

    def test_vigilctl_errors_are_clear(self):
        p = self.env.ctl("status", "no-such-user")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("no such user", p.stderr)
        p = self.env.ctl("reset")
        self.assertEqual(p.returncode, 2)
        p = self.env.ctl("bogus")
        self.assertEqual(p.returncode, 2)


class Unlock(VigilTestCase):
    lockout = {"unlock_time": "2s", "max_unlock_time": "8s"}

    def test_unlocks_after_unlock_time_and_doubles(self):
        self.fail_n("alice", 3)
        until = self.env.status("alice")["locked_until"]
        rc = self.env.login("alice", "alice-pw")
        if time.time() < until - 0.5:  # a loaded machine may take 2 s to get here
            self.assertEqual(rc, PAM_AUTH_ERR)
        time.sleep(max(0, until - time.time()) + 1.1)
        self.assertEqual(self.env.login("alice", "alice-pw"), PAM_SUCCESS)
        self.assertIn("lock expired: alice", self.env.log())
        # Without a success in between, the next lock doubles. (From another
        # address: alice's first one is now a known device, with a bucket of
        # its own.)
        other = "198.51.100.9"
        self.fail_n("alice", 3, rhost=other)
        first = self.env.status("alice")
        self.assertEqual(first["lock_count"], 1)
        time.sleep(max(0, first["locked_until"] - time.time()) + 1.1)
        self.fail_n("alice", 3, rhost=other)
        second = self.env.status("alice")
        self.assertEqual(second["lock_count"], 2)
        self.assertGreaterEqual(second["locked_until"] - second["last_failure"], 4)


class RootAndConsole(VigilTestCase):
    def test_root_is_not_locked_by_default(self):
        self.fail_n("root", 5)
        self.assertEqual(self.env.login("root", "rootpw"), PAM_SUCCESS)

    def test_console_is_not_locked_by_default(self):
        self.fail_n("alice", 5, rhost=None, tty="tty1")
        self.assertEqual(self.env.login("alice", "alice-pw", rhost=None, tty="tty1"), PAM_SUCCESS)

    def test_console_passes_a_lock_made_remotely(self):
        self.fail_n("alice", 3)
        self.assertEqual(self.env.login("alice", "alice-pw"), PAM_AUTH_ERR)
        self.assertEqual(self.env.login("alice", "alice-pw", rhost=None, tty="/dev/tty2"), PAM_SUCCESS)

    def test_a_non_root_caller_cannot_claim_the_console(self):
        self.fail_n("alice", 3, rhost=None, tty="tty1", uid=1001)
        self.assertTrue(self.env.status("alice")["locked"])


class RootAndConsoleStrict(VigilTestCase):
    lockout = {"even_deny_root": True, "console_exempt": False}

    def test_root_is_locked_when_configured(self):
        self.fail_n("root", 3)
        self.assertEqual(self.env.login("root", "rootpw"), PAM_AUTH_ERR)

    def test_console_is_locked_when_configured(self):
        self.fail_n("alice", 3, rhost=None, tty="tty1")
        self.assertEqual(self.env.login("alice", "alice-pw", rhost=None, tty="tty1"), PAM_AUTH_ERR)


if __name__ == "__main__":
    unittest.main(verbosity=2)
