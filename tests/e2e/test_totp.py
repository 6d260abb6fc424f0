"""The TOTP second factor through real PAM, with codes from an independent
generator (oathtool --totp)."""
import json
import os
import signal
import subprocess
import threading
import time
import unittest

from harness import (PAM_AUTH_ERR, PAM_AUTHINFO_UNAVAIL, PAM_SUCCESS, VIGILCTL, VIGILD, Env,
                     VigilTestCase, oathtool, wait_for_fresh_step)

ALICE = 1001
CODE_PROMPT = {"style": "echo_off", "text": "Verification code: "}


class TotpCase(VigilTestCase):
    totp = {}

    def setUp(self):
        self.env = Env(lockout=self.lockout, daemon=self.daemon)
        self.env.conf["totp"] = dict(self.totp)
        self.env.conf["roles"] = {"admin_groups": ["sudo"]}
        self.env.write_conf()
        with open(self.env.group, "a") as f:
            f.write("sudo:x:27:bob\n")
        self.env.start()

    def ctl_code(self, *args, code=None, uid=None, password=None):
        env = self.env.nss_env()
        if code is not None:
            env["VIGIL_CODE"] = code
        if password is not None:
            env["VIGIL_PASSWORD"] = password
        argv = [VIGILCTL, "--socket", self.env.socket] + list(args)
        return subprocess.run(self.env.as_uid(uid, argv), env=env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=30)

    def enroll(self, user, offset=0):
        """Enrols user, confirming with the code of the step offset seconds
        from now (0: the current step; -30: the previous one)."""
        p = self.ctl_code("totp", "enroll", user, "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        secret = json.loads(p.stdout)["secret"]
        wait_for_fresh_step()
        p = self.ctl_code("totp", "confirm", user, code=oathtool(secret, offset))
        self.assertEqual(p.returncode, 0, p.stderr)
        return secret

    def login(self, user, password, code, service="vigil-authtok", **kw):
        return self.env.pam(user, [password, code], service=service, **kw)

    def totp_status(self, user):
        return self.env.status(user)["totp"]


class Totp(TotpCase):
    totp = {"max_failures": 3}

    def test_enrolment_takes_effect_only_after_confirmation(self):
        p = self.ctl_code("totp", "enroll", "alice")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("otpauth://totp/vigil:alice?secret=", p.stdout)
        self.assertIn("\u2588", p.stdout, "a QR code is drawn")
        self.assertTrue(self.totp_status("alice")["pending"])
        self.assertFalse(self.totp_status("alice")["enrolled"])
        # Not active yet: the password alone still logs in, with no prompt.
        out = self.env.pam("alice", ["alice-pw"], service="vigil-authtok")
        self.assertEqual(out["results"][0]["rc"], PAM_SUCCESS)
        self.assertNotIn(CODE_PROMPT, out["messages"])
        p = self.ctl_code("totp", "confirm", "alice", code="000000")
        self.assertEqual(p.returncode, 4)
        self.assertIn("does not match", p.stderr)

    def test_the_qr_code_is_drawn_dark_on_light_with_a_quiet_zone(self):
        p = self.ctl_code("totp", "enroll", "alice")
        self.assertEqual(p.returncode, 0, p.stderr)
        cells = {" ": (0, 0), "\u2580": (1, 0), "\u2584": (0, 1), "\u2588": (1, 1)}
        rows = [l for l in p.stdout.splitlines() if l and set(l) <= set(cells)]
        self.assertNotIn("\033", p.stdout, "no colours when the output is no terminal")
        # Back to modules: two rows per line, 1 = dark.
        grid = []
        for line in rows:
            grid.append([cells[c][0] for c in line])
            grid.append([cells[c][1] for c in line])
        size = len(rows[0])
        w = size - 8
        self.assertEqual((w - 21) % 4, 0, "a QR code's width, with 4 quiet modules each side")
        grid = grid[:size]
        for i in range(4):
            self.assertEqual(grid[i], [0] * size, "quiet zone above")
            self.assertEqual(grid[size - 1 - i], [0] * size, "quiet zone below")
            self.assertEqual([r[i] for r in grid], [0] * size, "quiet zone left")
            self.assertEqual([r[size - 1 - i] for r in grid], [0] * size, "quiet zone right")
        # The three finder patterns, dark where a QR code is dark.
        def finder(x0, y0):
            return [[grid[y0 + y][x0 + x] for x in range(7)] for y in range(7)]
        ring = [[1] * 7] + [[1, 0, 0, 0, 0, 0, 1]] + [[1, 0, 1, 1, 1, 0, 1]] * 3 + [[1, 0, 0, 0, 0, 0, 1]] + [[1] * 7]
        for x0, y0 in ((4, 4), (4 + w - 7, 4), (4, 4 + w - 7)):
            self.assertEqual(finder(x0, y0), ring, (x0, y0))

    def test_valid_code_window_and_replay(self):
        secret = self.enroll("alice")
        wait_for_fresh_step()
        out = self.login("alice", "alice-pw", oathtool(secret, +30))
        self.assertEqual(out["results"][0]["rc"], PAM_SUCCESS, "next step is inside the window")
        self.assertEqual(out["messages"][-1], CODE_PROMPT)
        # The same code again: a step already accepted.
        self.assertEqual(self.login("alice", "alice-pw", oathtool(secret, +30))["results"][0]["rc"],
                         PAM_AUTH_ERR)
        # The current and previous steps are earlier than the one accepted.
        self.assertEqual(self.login("alice", "alice-pw", oathtool(secret))["results"][0]["rc"],
                         PAM_AUTH_ERR)
        self.assertEqual(self.login("alice", "alice-pw", oathtool(secret, -30))["results"][0]["rc"],
                         PAM_AUTH_ERR)

    def test_previous_step_accepted_and_outside_window_rejected(self):
        # Confirmed with the previous step's code: that step is now spent.
        secret = self.enroll("bob", offset=-30)
        wait_for_fresh_step()
        self.assertEqual(self.login("bob", "bob-pw", oathtool(secret, -90))["results"][0]["rc"],
                         PAM_AUTH_ERR, "three steps back is outside the window")
        self.assertEqual(self.login("bob", "bob-pw", oathtool(secret, +90))["results"][0]["rc"],
                         PAM_AUTH_ERR, "three steps ahead is outside the window")
        # One step on, the previous step is the one that was current at the
        # confirmation: inside the window, and later than the spent one.
        time.sleep(30 - (time.time() % 30) + 0.3)
        self.assertEqual(self.login("bob", "bob-pw", oathtool(secret, -30))["results"][0]["rc"],
                         PAM_SUCCESS, "the previous step is inside the window")
        self.assertEqual(self.login("bob", "bob-pw", oathtool(secret))["results"][0]["rc"],
                         PAM_SUCCESS, "the current step")
        self.assertEqual(self.login("bob", "bob-pw", oathtool(secret))["results"][0]["rc"],
                         PAM_AUTH_ERR, "but only once")

    def test_concurrent_logins_with_one_code_exactly_one_wins(self):
        secret = self.enroll("alice")
        wait_for_fresh_step(8)
        code = oathtool(secret, +30)
        results = [self.env.pam_async("alice", ["alice-pw", code], service="vigil-authtok")
                   for _ in range(4)]
        for t, _ in results:
            t.join()
        rcs = sorted(r["results"][0]["rc"] for _, r in results)
        self.assertEqual(rcs, [PAM_SUCCESS, PAM_AUTH_ERR, PAM_AUTH_ERR, PAM_AUTH_ERR])

    def test_recovery_code_works_once(self):
        secret = self.enroll("alice")
        p = self.ctl_code("totp", "recovery-codes", "alice", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        codes = json.loads(p.stdout)["codes"]
        self.assertEqual(len(codes), 10)
        self.assertTrue(all(len(c.replace("-", "")) == 25 for c in codes), "an id and 100 bits each")
        self.assertEqual(self.login("alice", "alice-pw", codes[0].lower())["results"][0]["rc"],
                         PAM_SUCCESS, "accepted at the code prompt, case-insensitive")
        self.assertEqual(self.login("alice", "alice-pw", codes[0])["results"][0]["rc"], PAM_AUTH_ERR,
                         "a used code is gone")
        self.assertEqual(self.totp_status("alice")["recovery_codes"], 9)
        # A new set voids the old one.
        p = self.ctl_code("totp", "recovery-codes", "alice", "--json")
        self.assertEqual(self.login("alice", "alice-pw", codes[1])["results"][0]["rc"], PAM_AUTH_ERR)
        new = json.loads(p.stdout)["codes"]
        self.assertEqual(self.login("alice", "alice-pw", new[0])["results"][0]["rc"], PAM_SUCCESS)

    def test_wrong_codes_count_and_the_limit_locks(self):
        secret = self.enroll("alice")
        for i in range(2):
            self.assertEqual(self.login("alice", "alice-pw", "000000")["results"][0]["rc"], PAM_AUTH_ERR)
        self.assertEqual(self.totp_status("alice")["failures"], 2)
        self.assertFalse(self.env.status("alice")["locked"])
        self.login("alice", "alice-pw", "000001")
        # The right password came from an unknown device: the limit blocks.
        st = self.env.status("alice")
        self.assertTrue(st["blocked"], "max_failures=3 reached")
        self.assertIn("wrong second-factor codes", st["block"]["reason"])
        self.assertIn("BLOCKED alice", self.env.log())
        wait_for_fresh_step()
        self.assertEqual(self.login("alice", "alice-pw", oathtool(secret, +30))["results"][0]["rc"],
                         PAM_AUTH_ERR, "blocked: the right password and code are refused")

    def test_prompts_are_the_same_for_right_and_wrong_passwords(self):
        self.enroll("alice")
        right = self.login("alice", "alice-pw", "123456")
        wrong = self.login("alice", "not-the-password", "123456")
        self.assertEqual(right["messages"], wrong["messages"])
        self.assertEqual(right["messages"], [{"style": "echo_off", "text": "Password: "}, CODE_PROMPT])
        self.assertEqual(right["results"], wrong["results"])
        # The wrong-password path threw its code away unverified.
        self.assertEqual(self.totp_status("alice")["failures"], 1)
        # An account without a factor is asked too, whatever the password: the
        # prompt is the host's, never the account's (issue #15, item 5); its
        # right password then takes any answer.
        for pw, rc in (("carol-pw", PAM_SUCCESS), ("nope", PAM_AUTH_ERR)):
            out = self.login("carol", pw, "123456")
            self.assertEqual(out["messages"], right["messages"])
            self.assertEqual(out["results"][0]["rc"], rc)

    def test_answering_the_code_prompt_with_the_password_is_not_counted(self):
        self.enroll("alice")
        out = self.login("alice", "alice-pw", "alice-pw")
        self.assertEqual(out["results"][0]["rc"], PAM_AUTH_ERR)
        self.assertEqual(self.totp_status("alice")["failures"], 0)

    def test_prompt_no_service_refuses_when_a_factor_is_needed(self):
        self.enroll("alice")
        out = self.env.pam("alice", ["alice-pw"], service="vigil-noprompt")
        self.assertEqual(out["results"][0]["rc"], PAM_AUTH_ERR)
        self.assertNotIn(CODE_PROMPT, out["messages"])
        out = self.env.pam("carol", ["carol-pw"], service="vigil-noprompt")
        self.assertEqual(out["results"][0]["rc"], PAM_SUCCESS)

    def test_self_enrolment_needs_the_password(self):
        # Since issue #15 a recent login is not enough: the password is.
        if self.env.daemon_is_sanitized():
            self.skipTest("an ASan vigild cannot load pam_wrapper")
        self.env.stop()
        self.env.daemon_uses_pam()
        self.env.start()
        p = self.ctl_code("totp", "enroll", "--json", uid=ALICE)
        self.assertEqual(p.returncode, 1)
        self.assertIn("needs your password", p.stderr)
        self.assertEqual(self.env.login("alice", "alice-pw"), PAM_SUCCESS)
        p = self.ctl_code("totp", "enroll", "--json", uid=ALICE, password="alice-pw")
        self.assertEqual(p.returncode, 0, p.stderr)
        secret = json.loads(p.stdout)["secret"]
        wait_for_fresh_step()
        p = self.ctl_code("totp", "confirm", code=oathtool(secret), uid=ALICE)
        self.assertEqual(p.returncode, 0, p.stderr)
        # Re-enrolling an active factor needs a current code.
        p = self.ctl_code("totp", "enroll", "--json", uid=ALICE, password="alice-pw")
        self.assertEqual(p.returncode, 4)
        self.assertIn("current code", p.stderr)
        # Disabling it too; root may.
        self.assertEqual(self.ctl_code("totp", "disable", uid=ALICE).returncode, 4)
        self.assertEqual(self.ctl_code("totp", "disable", "alice").returncode, 0)

    def test_non_root_cannot_touch_another_users_factor(self):
        self.enroll("bob")
        self.env.login("alice", "alice-pw")
        for args in (("enroll", "bob"), ("disable", "bob"), ("recovery-codes", "bob")):
            p = self.ctl_code("totp", *args, uid=ALICE)
            self.assertEqual(p.returncode, 4, args)
            self.assertIn("only act for your own account", p.stderr)
        p = self.ctl_code("totp", "confirm", "bob", code="123456", uid=ALICE)
        self.assertEqual(p.returncode, 4)
        self.assertTrue(self.totp_status("bob")["enrolled"])

    def test_no_secret_or_code_in_clear_in_the_database_or_logs(self):
        secret = self.enroll("alice")
        codes = json.loads(self.ctl_code("totp", "recovery-codes", "alice", "--json").stdout)["codes"]
        self.env.stop()
        blob = b""
        for name in os.listdir(self.env.state):
            with open(os.path.join(self.env.state, name), "rb") as f:
                blob += f.read()
        self.assertNotIn(secret.encode(), blob)
        for c in codes:
            self.assertNotIn(c.encode(), blob)
            self.assertNotIn(c.replace("-", "").encode(), blob)
        log = self.env.log()
        self.assertNotIn(secret, log)
        for c in codes:
            self.assertNotIn(c, log)

    def test_daemon_refuses_to_start_without_the_key_once_secrets_exist(self):
        self.enroll("alice")
        self.env.stop()
        os.rename(self.env.state + "/totp.key", self.env.state + "/totp.key.saved")
        p = subprocess.run([VIGILD, "--config", self.env.conf_path], capture_output=True, text=True,
                           env=self.env.nss_env(), timeout=10)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("TOTP secrets exist", p.stderr)
        self.assertFalse(os.path.exists(self.env.state + "/totp.key"), "no new key was made")
        os.rename(self.env.state + "/totp.key.saved", self.env.state + "/totp.key")
        self.env.start()
        self.assertTrue(self.totp_status("alice")["enrolled"])


class TotpHardening(TotpCase):
    totp = {"max_failures": 3}

    def test_code_guessing_through_factor_changes_is_limited(self):
        self.enroll("alice")
        for guess in ("000000", "000001", "000002"):
            p = self.ctl_code("totp", "disable", code=guess, uid=ALICE)
            self.assertEqual(p.returncode, 4)
        self.assertTrue(self.env.status("alice")["locked"], "three wrong proofs lock, as at a login")
        p = self.ctl_code("totp", "recovery-codes", code="000003", uid=ALICE)
        self.assertEqual(p.returncode, 4)
        self.assertIn("locked", p.stderr)
        self.assertTrue(self.totp_status("alice")["enrolled"])

    def test_parallel_logins_with_one_recovery_code_exactly_one_wins(self):
        self.enroll("alice")
        code = json.loads(self.ctl_code("totp", "recovery-codes", "alice", "--json").stdout)["codes"][0]
        results = [self.env.pam_async("alice", ["alice-pw", code], service="vigil-authtok")
                   for _ in range(4)]
        for t, _ in results:
            t.join()
        rcs = sorted(r["results"][0]["rc"] for _, r in results)
        self.assertEqual(rcs, [PAM_SUCCESS, PAM_AUTH_ERR, PAM_AUTH_ERR, PAM_AUTH_ERR])

    def test_a_new_factor_voids_the_old_recovery_codes(self):
        self.enroll("alice")
        old = json.loads(self.ctl_code("totp", "recovery-codes", "alice", "--json").stdout)["codes"]
        self.assertEqual(self.ctl_code("totp", "disable", "alice").returncode, 0)
        secret = self.enroll("alice")
        self.assertEqual(self.totp_status("alice")["recovery_codes"], 0)
        self.assertEqual(self.login("alice", "alice-pw", old[0])["results"][0]["rc"], PAM_AUTH_ERR)

    def test_a_wrong_key_is_refused_at_start(self):
        self.enroll("alice")
        self.env.stop()
        with open(self.env.state + "/totp.key", "wb") as f:
            f.write(os.urandom(32))
        p = subprocess.run([VIGILD, "--config", self.env.conf_path], capture_output=True, text=True,
                           env=self.env.nss_env(), timeout=10)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("does not open the stored secrets", p.stderr)


class RequireAllNoGrace(TotpCase):
    totp = {"require": "all"}

    def test_the_console_stays_open_when_nobody_can_enrol(self):
        self.assertEqual(self.login("carol", "carol-pw", "x")["results"][0]["rc"], PAM_AUTH_ERR)
        out = self.env.pam("carol", ["carol-pw", "x"], service="vigil-authtok", rhost=None, tty="tty1")
        self.assertEqual(out["results"][0]["rc"], PAM_SUCCESS)
        self.assertIn("without grace", self.env.log())


class RequireAdmins(TotpCase):
    totp = {"require": "admins"}

    def test_unenrolled_admin_is_refused_and_others_are_not(self):
        out = self.login("bob", "bob-pw", "123456")  # bob is in group sudo
        self.assertEqual(out["results"][0]["rc"], PAM_AUTH_ERR)
        self.assertEqual(out["messages"][-1], CODE_PROMPT, "asked, then refused")
        self.assertIn("a second factor is required and none is enrolled", self.env.log())
        self.assertTrue(self.env.status("bob")["totp"]["required"])
        # alice is no administrator: asked as everyone is (the prompt must not
        # tell who the administrators are, issue #15), and any answer will do.
        out = self.login("alice", "alice-pw", "123456")
        self.assertEqual(out["results"][0]["rc"], PAM_SUCCESS)
        self.assertEqual(out["messages"][-1], CODE_PROMPT)
        # Once enrolled, the admin logs in with a code.
        secret = self.enroll("bob")
        wait_for_fresh_step()
        self.assertEqual(self.login("bob", "bob-pw", oathtool(secret, +30))["results"][0]["rc"],
                         PAM_SUCCESS)


class Grace(TotpCase):
    totp = {"require": "all", "grace": "1h"}

    def test_grace_lets_a_newly_required_account_in_with_a_warning(self):
        out = self.login("carol", "carol-pw", "unused")
        self.assertEqual(out["results"][0]["rc"], PAM_SUCCESS)
        # require = "all": the host asks every login (issue #15); in grace,
        # any answer will do.
        self.assertIn(CODE_PROMPT, out["messages"])
        self.assertTrue(any(m["style"] == "info" and "second factor will be required" in m["text"]
                            for m in out["messages"]), out["messages"])
        self.assertIn("without a second factor (grace", self.env.log())


if __name__ == "__main__":
    unittest.main(verbosity=2)
