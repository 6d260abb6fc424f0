"""The audit's attacks (issue #15), each played end to end: real libpam
through pamdrive, a real vigild, real uids (setpriv). Each test is named
after the attack it plays, and fails on the code the audit found."""
import json
import os
import subprocess
import time
import unittest

from harness import (ADMIN_SOCKET_GROUP, PAM_AUTH_ERR, PAM_SUCCESS, STACK, VIGILCTL, AuditSession, Env,
                     VigilTestCase,
                     oathtool, raw_call, wait_for_fresh_step)

ALICE, BOB, CAROL = 1001, 1002, 1003
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
KEY2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFmZ4qK1s7oSmC2y0QWw5bJ2zXc7o8hTqk3h8hF9bV2d"
CODE_PROMPT = {"style": "echo_off", "text": "Verification code: "}


class AttackCase(VigilTestCase):
    """alice, bob (admin: group sudo), carol; max_failures 3."""
    totp = {"max_failures": 3}
    extra = {}

    def setUp(self):
        self.env = Env(lockout=self.lockout, daemon=self.daemon)
        self.env.conf["totp"] = dict(self.totp)
        self.env.conf["roles"] = {"admin_groups": ["sudo"]}
        for section, keys in self.extra.items():
            self.env.conf.setdefault(section, {}).update(keys)
        self.env.write_conf()
        with open(self.env.group, "a") as f:
            f.write("sudo:x:27:bob\n")
        self.env.start()

    def ctl(self, *args, code=None, uid=None):
        env = {"VIGIL_CODE": code} if code else {}
        return self.env.ctl(*args, uid=uid, env=env)

    def enroll(self, user):
        p = self.ctl("totp", "enroll", user, "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        secret = json.loads(p.stdout)["secret"]
        wait_for_fresh_step()
        p = self.ctl("totp", "confirm", user, code=oathtool(secret))
        self.assertEqual(p.returncode, 0, p.stderr)
        return secret

    def recovery_codes(self, user):
        p = self.ctl("totp", "recovery-codes", user, "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)["codes"]

    def login2(self, user, password, code, **kw):
        """A password and a code, through the stack that keeps PAM_AUTHTOK."""
        return self.env.pam(user, [password, code], service="vigil-authtok", **kw)["results"][0]["rc"]

    def token(self, owner):
        p = self.ctl("token", "issue", "--owner", owner, "--name", "svc", "--scope", "reports", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)["token"]

    def check_token(self, token):
        r = raw_call(self.env.socket, "io.vigil.Token.Check", {"token": token, "scope": "reports"})
        return r["parameters"]["verdict"]


class CallerTrust(AttackCase):
    """#2: only root's reports change state that protects other accounts."""

    def test_malware_as_an_admin_cannot_block_the_admin_or_freeze_the_token_api(self):
        # Malware running as bob (an administrator), with neither his password
        # nor his code, speaks the protocol itself: "success" for bob, then
        # wrong codes, until the limit that blocks on an unknown device.
        self.enroll("bob")
        token = self.token("bob")
        self.assertEqual(self.check_token(token), "valid")
        for i in range(4):
            nonce = "malware-%d" % i
            rep, ver = self.env.raw_as(BOB, [
                ["io.vigil.Auth.Report", {"user": "bob", "outcome": "success", "nonce": nonce,
                                          "service": "sshd", "rhost": "203.0.113.50"}],
                ["io.vigil.Auth.Verify", {"user": "bob", "nonce": nonce, "code": "00000%d" % i}]])
            self.assertEqual(ver["parameters"]["verdict"], "deny")
        st = self.env.status("bob")
        self.assertFalse(st["blocked"], "a non-root caller's wrong codes lock at most")
        self.assertTrue(st["locked"], "but they do lock")
        self.assertNotIn("BLOCKED bob", self.env.log())
        self.assertEqual(self.check_token(token), "valid", "no token revoked, the API not frozen")

    def test_a_local_user_cannot_ban_an_address_with_forged_rhost(self):
        # alice reports her own failures, claiming they come from the office
        # NAT, hoping to get that address throttled for every account.
        office = "198.51.100.77"
        calls = [["io.vigil.Auth.Report", {"user": "alice", "outcome": "failure", "nonce": "f%d" % i,
                                           "service": "sshd", "rhost": office}] for i in range(30)]
        for r in self.env.raw_as(ALICE, calls):
            self.assertEqual(r["parameters"]["verdict"], "deny")
        self.assertTrue(self.env.status("alice")["locked"], "her own failures count toward her lock")
        self.assertEqual(self.env.login("carol", "carol-pw", rhost=office), PAM_SUCCESS,
                         "the office address is not throttled")
        self.assertNotIn("throttled source", self.env.log())

    def test_malware_cannot_lock_the_owners_known_device_with_a_forged_key(self):
        # alice's laptop key is a known device. Malware in her session sends
        # failures claiming that key, to lock her out of the laptop too.
        self.assertEqual(self.env.login("alice", "alice-pw", ssh_key=KEY), PAM_SUCCESS)
        calls = [["io.vigil.Auth.Report", {"user": "alice", "outcome": "failure", "nonce": "k%d" % i,
                                           "service": "sshd", "rhost": "203.0.113.9",
                                           "auth_info": "publickey " + KEY}] for i in range(5)]
        self.env.raw_as(ALICE, calls)
        st = self.env.status("alice")
        self.assertTrue(st["locked"], "counted toward her unknown-device lock")
        self.assertFalse(st["known_devices"]["locked"], "never toward the known device's")
        self.assertEqual(self.env.login("alice", "alice-pw", ssh_key=KEY), PAM_SUCCESS)


class KnownDeviceCodes(AttackCase):
    """#3: wrong codes from a known device lock, they do not block; the code
    budget bounds even an account exempt from locks."""

    def test_wrong_codes_from_a_known_device_lock_and_never_block(self):
        self.enroll("alice")
        codes = self.recovery_codes("alice")
        # The laptop becomes known with a complete login.
        self.assertEqual(self.login2("alice", "alice-pw", codes[0], ssh_key=KEY), PAM_SUCCESS)
        # Someone at the unlocked laptop who knows the password, not the code.
        for guess in ("000000", "000001", "000002"):
            self.assertEqual(self.login2("alice", "alice-pw", guess, ssh_key=KEY), PAM_AUTH_ERR)
        st = self.env.status("alice")
        self.assertFalse(st["blocked"], "a known device's wrong codes never block")
        self.assertTrue(st["known_devices"]["locked"], "they lock that device's bucket")
        self.assertNotIn("BLOCKED alice", self.env.log())

    def test_root_exempt_from_locks_still_gets_a_bounded_number_of_code_guesses(self):
        self.enroll("root")
        codes = self.recovery_codes("root")
        self.assertEqual(self.login2("root", "rootpw", codes[0], ssh_key=KEY), PAM_SUCCESS)
        for guess in ("000000", "000001", "000002"):
            self.assertEqual(self.login2("root", "rootpw", guess, ssh_key=KEY), PAM_AUTH_ERR)
        # The budget is spent: even a valid recovery code is not checked now.
        self.assertEqual(self.login2("root", "rootpw", codes[1], ssh_key=KEY), PAM_AUTH_ERR)
        self.assertEqual(self.env.status("root")["totp"]["recovery_codes"], 9,
                         "the code was not even looked at, so not consumed")
        self.assertIn("too many wrong codes", self.env.log())


class AfterRecovery(AttackCase):
    """#1: a recovery never hands the account back to whoever knows the old
    password, local or not (nss_wrapper's users are not in /etc/passwd, as
    LDAP's are not)."""

    def stuff_and_block(self, user, password):
        # Credential stuffing: failures from three places, then the right
        # password from a fourth: vigil blocks the account.
        for i, src in enumerate(("198.51.100.1", "198.51.100.2", "198.51.100.3")):
            self.assertEqual(self.env.login(user, "guess-%d" % i, rhost=src), PAM_AUTH_ERR)
        self.assertEqual(self.env.login(user, password, rhost="198.51.100.4"), PAM_AUTH_ERR)
        self.assertTrue(self.env.status(user)["blocked"])

    def test_the_stuffer_retrying_the_old_password_after_the_unblock_gets_nothing(self):
        self.stuff_and_block("carol", "carol-pw")
        p = self.ctl("unblock", "carol", "--reason", "identity checked", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        out = json.loads(p.stdout)
        self.assertTrue(out["password_change_required"])
        self.assertEqual(out["password"]["outcome"], "not-local", "nothing to expire in a directory")
        st = self.env.status("carol")
        self.assertFalse(st["blocked"])
        self.assertTrue(st["password_change_required"])
        # The attacker retries the password he stuffed, from anywhere: refused
        # exactly as a wrong password (and counted as one), every time.
        for src in ("198.51.100.4", "203.0.113.80"):
            out = self.env.pam("carol", ["carol-pw"], rhost=src, ops="auth,account")
            self.assertEqual(out["results"][0]["rc"], PAM_AUTH_ERR)
            wrong = self.env.pam("carol", ["not-it"], rhost=src, ops="auth,account")
            self.assertEqual(out["messages"], wrong["messages"])
        self.assertIn("opens nothing until it is changed", self.env.log())
        # Key logins (the account phase) and the console keep working.
        self.assertEqual(self.env.pam("carol", ops="account")["results"][0]["rc"], PAM_SUCCESS)
        self.assertEqual(self.env.login("carol", "carol-pw", rhost=None, tty="tty1"), PAM_SUCCESS)
        # carol changes it (passwd, through PAM's password phase): the new one
        # works, and the requirement is gone.
        out = self.env.pam("carol", ["carol-pw", "carol-new-1", "carol-new-1"], ops="chauthtok")
        self.assertEqual(out["results"][0]["rc"], PAM_SUCCESS)
        self.assertFalse(self.env.status("carol")["password_change_required"])
        self.assertEqual(self.env.login("carol", "carol-new-1", rhost="203.0.113.80"), PAM_SUCCESS)
        self.assertIn("was changed after its recovery", self.env.log())

    def test_a_change_through_sshd_ends_the_requirement(self):
        # An expired password changed at an sshd login: sshd (ExposeAuthInfo)
        # hands the module its SSH_AUTH_INFO_0 in the password phase too.
        self.assertEqual(self.ctl("block", "carol", "--reason", "x").returncode, 0)
        self.assertEqual(self.ctl("unblock", "carol", "--reason", "y").returncode, 0)
        out = self.env.pam("carol", ["carol-pw", "carol-new-2", "carol-new-2"], ops="chauthtok",
                           ssh_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0carolkey")
        self.assertEqual(out["results"][0]["rc"], PAM_SUCCESS)
        self.assertFalse(self.env.status("carol")["password_change_required"])

    def test_the_requirement_survives_kill_9(self):
        self.assertEqual(self.ctl("block", "carol", "--reason", "x").returncode, 0)
        self.assertEqual(self.ctl("unblock", "carol", "--reason", "y").returncode, 0)
        self.env.kill9()
        self.env.start()
        self.assertTrue(self.env.status("carol")["password_change_required"])
        self.assertEqual(self.env.login("carol", "carol-pw"), PAM_AUTH_ERR)

    def test_malware_as_the_user_cannot_claim_a_password_change(self):
        self.assertEqual(self.ctl("block", "carol", "--reason", "x").returncode, 0)
        self.assertEqual(self.ctl("unblock", "carol", "--reason", "y").returncode, 0)
        (r,) = self.env.raw_as(CAROL, [["io.vigil.Password.Changed", {"user": "carol"}]])
        self.assertEqual(r["error"], "io.vigil.Error.PermissionDenied")
        self.assertTrue(self.env.status("carol")["password_change_required"])
        # A failed change (wrong old password) reports nothing.
        out = self.env.pam("carol", ["wrong-old", "x-1", "x-1"], ops="chauthtok")
        self.assertNotEqual(out["results"][0]["rc"], PAM_SUCCESS)
        self.assertTrue(self.env.status("carol")["password_change_required"])

    def test_an_administrator_records_a_change_made_in_the_directory(self):
        self.assertEqual(self.ctl("block", "carol", "--reason", "x").returncode, 0)
        self.assertEqual(self.ctl("unblock", "carol", "--reason", "y").returncode, 0)
        p = self.ctl("password-changed", "carol", "--reason", "reset in the LDAP portal")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("password logins work again", p.stdout)
        self.assertEqual(self.env.login("carol", "carol-pw"), PAM_SUCCESS)
        p = self.ctl("password-changed", "carol", "--reason", "again")
        self.assertIn("needed no password change", p.stdout)



class Sessions(AttackCase):
    """#4: sessions and devices."""

    def setUp(self):
        super().setUp()
        self.env.add_stack("sudo", STACK, self.env.module_args)
        self.sessions = []

    def tearDown(self):
        for s in self.sessions:
            s.close()
        super().tearDown()

    def login_session(self, user, password, **kw):
        """A login as sshd does it: auth in the monitor, outside any audit
        session; then pam_loginuid opens a new session, and the session phase
        (here the module's) runs in it. Returns that session."""
        out = self.env.pam(user, [password], **kw)
        self.assertEqual(out["results"][0]["rc"], PAM_SUCCESS)
        s = AuditSession({"alice": ALICE, "bob": BOB, "carol": CAROL}[user])
        self.sessions.append(s)
        out = self.env.pam(user, ops="open_session", session=s, **kw)
        self.assertEqual(out["results"][0]["rc"], PAM_SUCCESS)
        time.sleep(0.1)  # Session.Open is not answered after a commit: let it land
        return s

    def test_sudos_own_session_phase_cannot_rebind_the_login_session(self):
        s = self.login_session("alice", "alice-pw", ssh_key=KEY)
        # sudo inside that session: its own session phase (PAM_RUSER set) and a
        # root caller claiming the session again must not replace the device.
        out = self.env.pam("alice", ["alice-pw"], ops="auth,open_session", service="sudo", rhost=None,
                           tty="pts/3", ruser="alice", session=s)
        self.assertEqual(out["results"][0]["rc"], PAM_SUCCESS)
        raw_call(self.env.socket, "io.vigil.Session.Open",
                 {"user": "alice", "audit_session": s.id, "service": "sudo", "tty": "pts/3"})
        for _ in range(3):
            self.env.pam("alice", ["wrong"], service="sudo", rhost=None, tty="pts/3", ruser="alice",
                         session=s)
        st = self.env.status("alice")
        self.assertEqual(st["known_devices"]["failures"], 3, "sudo counts as the login's key device")
        self.assertEqual(st["failures"], 0)

    def test_another_user_cannot_spend_alices_known_device_through_su(self):
        office = "192.0.2.5"
        self.assertEqual(self.env.login("alice", "alice-pw", rhost=office), PAM_SUCCESS)
        # carol logs in from the same office address, then runs su alice.
        s = self.login_session("carol", "carol-pw", rhost=office)
        for _ in range(3):
            self.env.pam("alice", ["guess"], service="vigil", rhost=None, tty="pts/7", ruser="carol",
                         session=s)
        st = self.env.status("alice")
        self.assertEqual(st["known_devices"]["failures"], 0, "carol's session is not alice's device")
        self.assertTrue(st["locked"], "her guesses count as an unknown device")
        self.assertEqual(self.env.login("alice", "alice-pw", rhost=office), PAM_SUCCESS)

    def test_the_session_map_survives_kill_9(self):
        s = self.login_session("alice", "alice-pw", ssh_key=KEY)
        self.env.kill9()
        self.env.start()
        self.env.pam("alice", ["wrong"], service="sudo", rhost=None, tty="pts/3", ruser="alice", session=s)
        self.assertEqual(self.env.status("alice")["known_devices"]["failures"], 1)

    def test_a_lock_on_one_known_device_leaves_the_owners_others_open(self):
        self.assertEqual(self.env.login("alice", "alice-pw", ssh_key=KEY), PAM_SUCCESS)
        self.assertEqual(self.env.login("alice", "alice-pw", ssh_key=KEY2), PAM_SUCCESS)
        self.fail_n("alice", 3, ssh_key=KEY)  # someone at the unlocked laptop
        self.assertEqual(self.env.login("alice", "alice-pw", ssh_key=KEY), PAM_AUTH_ERR)
        self.assertEqual(self.env.login("alice", "alice-pw", ssh_key=KEY2), PAM_SUCCESS,
                         "the other known device is not locked")
        st = self.env.status("alice")
        self.assertEqual([d["device"].split(":")[0] for d in st["known_devices"]["locked_devices"]], ["ssh"])


class Escalation(AttackCase):
    """#7: escalate_after_locks."""
    lockout = {"deny": 2, "unlock_time": "1s", "max_unlock_time": "10s"}
    extra = {"block": {"escalate_after_locks": 2, "end_sessions": False}}

    def wait_unlocked(self, user):
        time.sleep(max(0, self.env.status(user)["locked_until"] - time.time()) + 1.1)

    def test_the_owners_login_from_a_known_device_resets_the_escalation(self):
        self.assertEqual(self.env.login("alice", "alice-pw", ssh_key=KEY), PAM_SUCCESS)
        self.fail_n("alice", 2, rhost="198.51.100.20")  # lock 1
        self.wait_unlocked("alice")
        self.assertEqual(self.env.login("alice", "alice-pw", ssh_key=KEY), PAM_SUCCESS)
        self.fail_n("alice", 2, rhost="198.51.100.21")  # lock 2, but not in a row
        self.assertFalse(self.env.status("alice")["blocked"])
        self.wait_unlocked("alice")
        self.fail_n("alice", 2, rhost="198.51.100.22")  # lock 3: two in a row
        self.assertTrue(self.env.status("alice")["blocked"])

    def test_a_block_from_wrong_passwords_alone_revokes_nothing_and_freezes_nothing(self):
        own = self.token("bob")        # bob is an administrator
        other = self.token("carol")
        self.fail_n("bob", 2, rhost="198.51.100.30")
        self.wait_unlocked("bob")
        self.fail_n("bob", 2, rhost="198.51.100.31")
        st = self.env.status("bob")
        self.assertTrue(st["blocked"])
        self.assertIn("wrong passwords alone", st["block"]["reason"])
        self.assertEqual(self.check_token(other), "valid", "the token API is not frozen")
        self.assertEqual(self.check_token(own), "suspended", "bob's own token waits for his recovery")
        self.assertNotIn("FROZEN", self.env.log())
        self.assertNotIn("revoked API token", self.env.log())



class PromptOracle(AttackCase):
    """#5: the code prompt is the host's, identical for every name."""
    totp = {"max_failures": 3, "require": "admins"}

    def test_the_code_prompt_tells_nothing_about_a_name(self):
        # alice has a factor, bob is an administrator without one (required),
        # carol has none, and two names do not exist.
        self.enroll("alice")
        names = ["alice", "bob", "carol", "no-such-user", "ghost"]
        seen = {}
        for name in names:
            out = self.env.pam(name, ["wrong-password", "123456"], service="vigil-authtok")
            self.assertEqual(out["results"][0]["rc"], PAM_AUTH_ERR)
            seen[name] = out["messages"]
        for name in names:
            self.assertEqual(seen[name], seen["alice"], "%s is asked exactly as alice is" % name)
        self.assertIn(CODE_PROMPT, seen["alice"])

    def test_without_a_factor_any_answer_follows_a_right_password(self):
        self.enroll("alice")
        out = self.env.pam("carol", ["carol-pw", "anything"], service="vigil-authtok")
        self.assertEqual(out["results"][0]["rc"], PAM_SUCCESS)
        self.assertEqual(out["messages"][-1], CODE_PROMPT)
        # sshd's PasswordAuthentication answers every prompt with the password:
        # an account without a factor still logs in; alice (a factor) does not,
        # and that answer is not counted as a wrong code.
        out = self.env.pam("carol", ["carol-pw", "carol-pw"], service="vigil-authtok")
        self.assertEqual(out["results"][0]["rc"], PAM_SUCCESS)
        out = self.env.pam("alice", ["alice-pw", "alice-pw"], service="vigil-authtok")
        self.assertEqual(out["results"][0]["rc"], PAM_AUTH_ERR)
        self.assertEqual(self.env.status("alice")["totp"]["failures"], 0)
        # The unenrolled administrator is asked the same way, and refused.
        self.assertEqual(self.login2("bob", "bob-pw", "123456"), PAM_AUTH_ERR)


class NoPromptWithoutTotp(AttackCase):
    """#5: a host that does not use TOTP asks no one."""
    totp = {}

    def test_no_one_is_asked_on_a_host_without_totp(self):
        for name, pw in (("carol", "carol-pw"), ("carol", "x"), ("no-such-user", "x")):
            out = self.env.pam(name, [pw], service="vigil-authtok")
            self.assertNotIn(CODE_PROMPT, out["messages"])



class SelfEnrolment(AttackCase):
    """#6: self-enrolment needs a fresh proof of the password, not a login."""

    def setUp(self):
        if Env.daemon_is_sanitized():
            self.skipTest("an ASan vigild cannot load pam_wrapper")
        super().setUp()
        self.env.stop()
        self.env.daemon_uses_pam()
        self.env.start()

    def enrol_as_alice(self, password=None):
        env = {"VIGIL_PASSWORD": password} if password is not None else {}
        return self.env.ctl("totp", "enroll", "--json", uid=ALICE, env=env)

    def test_malware_in_a_fresh_session_cannot_plant_its_own_factor(self):
        # alice has just logged in (sshd, a root caller): her session is fresh.
        self.assertEqual(self.env.login("alice", "alice-pw"), PAM_SUCCESS)
        p = self.enrol_as_alice()
        self.assertEqual(p.returncode, 1)
        self.assertIn("needs your password", p.stderr)
        (r,) = self.env.raw_as(ALICE, [["io.vigil.Totp.Enroll", {}]])
        self.assertEqual(r["error"], "io.vigil.Error.PermissionDenied")
        p = self.enrol_as_alice("a-guess")
        self.assertEqual(p.returncode, 4)
        self.assertIn("wrong password", p.stderr)
        st = self.env.status("alice")
        self.assertFalse(st["totp"]["pending"] or st["totp"]["enrolled"])
        self.assertEqual(st["failures"], 1, "a wrong password counts toward her own lock")
        # alice herself, with her password.
        p = self.enrol_as_alice("alice-pw")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(self.env.status("alice")["totp"]["pending"])
        self.assertNotIn("alice-pw", self.env.log())

    def test_guessing_the_password_through_enrolment_stops_at_the_lock(self):
        for i in range(3):
            self.assertEqual(self.enrol_as_alice("guess-%d" % i).returncode, 4)
        self.assertTrue(self.env.status("alice")["locked"])
        p = self.enrol_as_alice("alice-pw")
        self.assertEqual(p.returncode, 4)
        self.assertIn("locked", p.stderr, "while locked, the right password tells nothing")



class BansDoNotErode(AttackCase):
    """Low: sources aggregate, and a name is no source."""
    extra = {"throttle": {"deny": 2, "window": "10m", "ban_time": "10m"}}

    def test_rotating_through_an_ipv6_48_does_not_escape_the_throttle(self):
        # One failure from each of 40 /64s (in different /56s) of one /48:
        # never 2 from one /64, but 32 (2 x 16) from the /48.
        for i in range(40):
            rhost = "2001:db8:77:%x00::1" % i
            self.assertEqual(self.env.login("carol", "guess", rhost=rhost), PAM_AUTH_ERR)
        self.assertIn("throttled source 2001:db8:77::/48", self.env.log())
        self.assertEqual(self.env.login("bob", "bob-pw", rhost="2001:db8:77:ff00::9"), PAM_AUTH_ERR,
                         "a fresh /64 of that /48 is throttled too")
        self.assertEqual(self.env.login("bob", "bob-pw", rhost="2001:db8:78::9"), PAM_SUCCESS)

    def test_rotating_dns_names_does_not_escape_the_throttle(self):
        # sshd with UseDNS yes hands names, which whoever owns the reverse zone
        # chooses: every name-only source shares one bucket.
        for i in range(2):
            self.env.login("carol", "guess", rhost="h%d.attacker.example" % i)
        self.assertEqual(self.env.login("bob", "bob-pw", rhost="fresh.attacker.example"), PAM_AUTH_ERR)
        self.assertEqual(self.env.login("bob", "bob-pw", rhost="198.51.100.200"), PAM_SUCCESS)



class TerminalInjection(AttackCase):
    """Low: a user's text never drives an administrator's terminal."""

    def test_a_reason_with_a_c1_control_is_refused(self):
        self.assertEqual(self.ctl("block", "bob", "--reason", "x").returncode, 0)
        # carol, an active user, files a request whose reason carries a C1 CSI.
        p = self.env.ctl("request-unblock", "bob", "--reason", "help \u009b31mRED", uid=CAROL)
        self.assertEqual(p.returncode, 2)
        self.assertIn("control characters", p.stderr)
        p = self.env.ctl("request-unblock", "bob", "--reason", "swap \u202etxt.exe", uid=CAROL)
        self.assertEqual(p.returncode, 2)

    def test_vigilctl_never_prints_a_c1_control(self):
        p = subprocess.run([VIGILCTL, "--socket", self.env.socket, "--admin-socket", self.env.admin_socket,
                            "block", "evil\u009b2J", "--reason", "x"], env=self.env.nss_env(), capture_output=True,
                           stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 5)
        self.assertIn(b"evil", p.stderr)
        self.assertNotIn(b"\xc2\x9b", p.stderr + p.stdout)



class StrictUtf8(AttackCase):
    """Low: a malformed rhost never makes a failure vanish."""

    def test_an_overlong_or_surrogate_rhost_still_counts_the_failure(self):
        # Bytes as a resolver or a hostile client could hand them to sshd:
        # an overlong "/", a lone surrogate, a code point past U+10FFFF.
        for i, raw in enumerate((b"\xc0\xaf10.0.0.1", b"\xed\xa0\x80host", b"\xf4\x90\x80\x80x")):
            rhost = raw.decode("utf-8", "surrogateescape")
            self.assertEqual(self.env.login("carol", "wrong", rhost=rhost), PAM_AUTH_ERR)
            self.assertEqual(self.env.status("carol")["failures"], i + 1, raw)



class WeakIdentities(AttackCase):
    """#8: weak device identities relax nothing."""

    def setUp(self):
        super().setUp()
        self.env.stop()
        with open(self.env.conf_path, "a") as f:
            f.write('[[devices.rule]]\nmatch = { device = "known" }\naction = "skip-totp"\n')
        self.env.start()

    def devices(self, user):
        return json.loads(self.env.ctl("devices", user, "--json", check=True).stdout)["devices"]

    def test_someone_behind_the_owners_address_does_not_skip_her_code(self):
        self.enroll("alice")
        codes = self.recovery_codes("alice")
        # alice's password login from home makes the address a known device...
        self.assertEqual(self.login2("alice", "alice-pw", codes[0], rhost="198.51.100.10"), PAM_SUCCESS)
        # ...but an address is shared (NAT, a LAN): a skip-totp rule without
        # identity = "address" does not trust it. The code is still needed.
        self.assertEqual(self.login2("alice", "alice-pw", "000000", rhost="198.51.100.10"), PAM_AUTH_ERR)
        # Her key, which the client proved, is trusted.
        self.assertEqual(self.login2("alice", "alice-pw", codes[1], ssh_key=KEY), PAM_SUCCESS)
        self.assertEqual(self.login2("alice", "alice-pw", "", ssh_key=KEY), PAM_SUCCESS)

    def test_a_remote_login_without_address_or_key_never_makes_a_device_known(self):
        self.assertEqual(self.env.login("carol", "carol-pw", service="vigil", rhost=None, tty="pts/4"),
                         PAM_SUCCESS)
        self.env.add_stack("sshd", STACK, self.env.module_args)
        self.assertEqual(self.env.login("carol", "carol-pw", service="sshd", rhost=None, tty="ssh"),
                         PAM_SUCCESS)
        self.assertEqual([d["device"] for d in self.devices("carol")], ["tty:vigil@pts/4"],
                         "sshd without an address names no device; a local tty does")

    def test_a_dns_name_never_names_a_device(self):
        self.assertEqual(self.env.login("carol", "carol-pw", rhost="laptop.attacker.example"), PAM_SUCCESS)
        self.assertEqual(self.devices("carol"), [])



class StepUpPerSession(AttackCase):
    """#9: a step-up holds in the login session it was given in, and issuing
    a token always needs a fresh code."""

    def setUp(self):
        super().setUp()
        self.enroll("bob")
        self.codes = self.recovery_codes("bob")
        self.bobs_login = AuditSession(BOB)

    def tearDown(self):
        self.bobs_login.close()
        super().tearDown()

    def as_bob(self, *args, code=None, session=None):
        env = {"VIGIL_CODE": code} if code else {}
        return self.env.ctl(*args, uid=BOB, groups=(ADMIN_SOCKET_GROUP[1],), env=env, session=session)

    def test_malware_outside_the_admins_session_cannot_ride_his_step_up(self):
        p = self.as_bob("reset", "carol", code=self.codes[0], session=self.bobs_login)
        self.assertEqual(p.returncode, 0, p.stderr)
        # Within the 5 minutes, in bob's login session: no code needed again.
        p = self.as_bob("reset", "alice", session=self.bobs_login)
        self.assertEqual(p.returncode, 0, p.stderr)
        # A process of bob's uid elsewhere (a cron job, another login, malware
        # started outside his terminal) gets nothing from that step-up.
        elsewhere = AuditSession(BOB)
        try:
            p = self.as_bob("block", "carol", "--reason", "x", session=elsewhere)
        finally:
            elsewhere.close()
        self.assertEqual(p.returncode, 4)
        self.assertIn("step-up required", p.stderr)
        p = self.as_bob("block", "carol", "--reason", "x")  # no login session at all
        self.assertEqual(p.returncode, 4)
        self.assertFalse(self.env.status("carol")["blocked"])

    def test_issuing_a_token_always_needs_a_fresh_code(self):
        p = self.as_bob("reset", "carol", code=self.codes[0], session=self.bobs_login)
        self.assertEqual(p.returncode, 0, p.stderr)
        issue = ("token", "issue", "--owner", "carol", "--name", "ci", "--scope", "reports")
        p = self.as_bob(*issue, session=self.bobs_login)
        self.assertEqual(p.returncode, 4, "a held step-up does not issue tokens")
        self.assertIn("always needs your own current code", p.stderr)
        p = self.as_bob(*issue, code=self.codes[1], session=self.bobs_login)
        self.assertEqual(p.returncode, 0, p.stderr)



class ContinuousAttack(AttackCase):
    """#10: a continuous attack never resets the back-off (times scaled down:
    unlock_time 1s, max_unlock_time 4s; the source is throttled too)."""
    lockout = {"deny": 2, "fail_interval": "1h", "unlock_time": "1s", "max_unlock_time": "4s"}
    extra = {"throttle": {"deny": 3, "window": "1h", "ban_time": "1s", "max_ban_time": "4s"}}

    def test_a_continuous_attacker_meets_the_longest_lock_again_and_again(self):
        import re
        deadline = time.time() + 16
        while time.time() < deadline:
            self.env.login("carol", "guess", rhost="203.0.113.66")
            time.sleep(0.2)
        locks = re.findall(r"locked carol for (\d+)s", self.env.log())
        self.assertGreaterEqual(len(locks), 4, self.env.log())
        self.assertEqual([int(x) for x in locks[:4]], [1, 2, 4, 4],
                         "the doubling must not start over while the attack goes on")
        self.assertTrue(all(int(x) == 4 for x in locks[2:]), locks)


if __name__ == "__main__":
    unittest.main(verbosity=2)
