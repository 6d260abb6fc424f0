"""Administrators and recovery through the admin socket (issue #5).

Three administrators, alice, bob and dave (group wheel), each with a TOTP
factor; one employee, carol. Every caller is a real uid (setpriv); the
administrators get the admin socket's group as a supplementary group, as
membership of vigil-admin would give them. Codes come from oathtool.
"""
import json
import os
import re
import subprocess
import time
import unittest

from harness import (ADMIN_SOCKET_GROUP, PAM_AUTH_ERR, PAM_SUCCESS, SOURCE, VIGILD, AuditSession, Env,
                     VigilTestCase, enter_private_etc, oathtool, raw_call, wait_for_fresh_step)

UID = {"root": 0, "alice": 1001, "bob": 1002, "carol": 1003, "dave": 1004}
ADMIN_GID = ADMIN_SOCKET_GROUP[1]
NOBODY_LEFT = "no other active administrator can verify this account"


class RecoveryCase(VigilTestCase):
    admins = ("alice", "bob", "dave")
    enrol = ("alice", "bob", "dave")
    allow_root = False
    extra_conf = {}

    def setUp(self):
        self.sessions = {}
        self.env = Env(lockout=self.lockout, daemon=self.daemon)
        self.env.conf["roles"] = {"admin_groups": ["wheel"]}
        self.env.conf["recovery"] = dict({"allow_root": self.allow_root}, **self.extra_conf)
        self.env.write_conf()
        with open(self.env.group, "a") as f:
            f.write("wheel:x:1200:%s\n" % ",".join(self.admins))
        self.env.start()
        self.secrets = {}
        for user in self.enrol:
            self.secrets[user] = self.enrol_factor(user)

    def enrol_factor(self, user):
        p = self.env.ctl("totp", "enroll", user, "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        secret = json.loads(p.stdout)["secret"]
        wait_for_fresh_step()
        p = self.env.ctl("totp", "confirm", user, env={"VIGIL_CODE": oathtool(secret)})
        self.assertEqual(p.returncode, 0, p.stderr)
        return secret

    def code(self, user):
        """user's next code: the step after the one used at enrolment."""
        return oathtool(self.secrets[user], +30)

    def tearDown(self):
        for s in self.sessions.values():
            s.close()
        super().tearDown()

    def session(self, user):
        """user's login session: a step-up holds only within one (issue #15)."""
        if user not in self.sessions:
            self.sessions[user] = AuditSession(UID[user])
        return self.sessions[user]

    def admin(self, user, *args, code=None, verify=None, groups=None, elsewhere=False):
        """vigilctl as user, reaching the admin socket (its group), with a
        step-up code and a code read out by the blocked account; run in the
        user's login session, or outside it (elsewhere)."""
        env = {}
        if code:
            env["VIGIL_CODE"] = code
        if verify:
            env["VIGIL_VERIFY_CODE"] = verify
        return self.env.ctl(*args, uid=UID[user], env=env,
                            groups=(ADMIN_GID,) if groups is None else groups,
                            session=None if elsewhere else self.session(user))

    def blocked(self, user):
        return self.env.status(user)["blocked"]

    def block(self, actor, user, code=None):
        p = self.admin(actor, "block", user, "--reason", "test: suspicious", code=code)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(self.blocked(user))


class AdminSocket(RecoveryCase):
    def test_the_admin_socket_is_0660_in_its_group(self):
        st = os.stat(self.env.admin_socket)
        self.assertEqual(st.st_mode & 0o777, 0o660)
        self.assertEqual(st.st_gid, ADMIN_GID)
        self.assertEqual(st.st_uid, 0)

    def test_without_a_step_up_code_admin_commands_are_refused(self):
        p = self.admin("alice", "block", "carol", "--reason", "x")
        self.assertEqual(p.returncode, 4)
        self.assertIn("step-up required", p.stderr)
        self.assertIn("VIGIL_CODE", p.stderr)
        p = self.admin("alice", "reset", "carol", code="000000")
        self.assertEqual(p.returncode, 4)
        self.assertIn("wrong code", p.stderr)
        self.assertFalse(self.blocked("carol"))
        # bob's code is not alice's.
        p = self.admin("alice", "block", "carol", "--reason", "x", code=self.code("bob"))
        self.assertEqual(p.returncode, 4)
        self.assertFalse(self.blocked("carol"))
        # Her own code works, and the step-up then holds for her uid.
        self.block("alice", "carol", code=self.code("alice"))
        p = self.admin("alice", "unblock", "carol", "--reason", "false alarm")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertFalse(self.blocked("carol"))
        # ...but not for another admin.
        p = self.admin("dave", "block", "carol", "--reason", "x")
        self.assertIn("step-up required", p.stderr)
        log = self.env.log()
        self.assertIn("admin alice (uid 1001): io.vigil.Account.Block carol: refused", log)
        self.assertIn("admin alice (uid 1001): io.vigil.Account.Unblock carol: ok", log)
        # Codes never reach the log.
        self.assertNotIn(self.code("alice"), log)

    def test_an_admin_without_a_factor_is_told_to_enrol(self):
        self.env.ctl("totp", "disable", "dave", check=True)
        p = self.admin("dave", "reset", "carol", code="123456")
        self.assertEqual(p.returncode, 4)
        self.assertIn("enrol one first", p.stderr)

    def test_an_employee_cannot_reach_the_admin_socket_or_unblock(self):
        self.block("alice", "bob", code=self.code("alice"))
        # Without the socket's group the kernel refuses carol's connection.
        p = self.admin("carol", "unblock", "bob", "--reason", "x", groups=())
        self.assertEqual(p.returncode, 3)
        self.assertIn("admin socket is for administrators", p.stderr)
        # Even with the group (a misconfigured host), the daemon refuses her.
        p = self.admin("carol", "unblock", "bob", "--reason", "x")
        self.assertEqual(p.returncode, 4)
        self.assertIn("not an administrator", p.stderr)
        # The public socket has no unblock at all.
        (reply,) = self.env.raw_as(UID["carol"], [["io.vigil.Account.Unblock", {"user": "bob", "reason": "x"}]])
        self.assertEqual(reply["error"], "io.vigil.Error.MethodNotFound")
        self.assertTrue(self.blocked("bob"))

    def test_admins_read_any_account_and_employees_only_their_own(self):
        self.block("alice", "bob", code=self.code("alice"))
        p = self.admin("dave", "status", "bob", "--json")  # read-only: no step-up
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(json.loads(p.stdout)["blocked"])
        p = self.admin("carol", "status", "bob", groups=())
        self.assertEqual(p.returncode, 4)
        self.assertIn("only act for your own account", p.stderr)
        self.assertNotIn("BLOCKED", p.stdout)
        # Devices too (issue #17, item 4): an admin reads anyone's.
        self.assertEqual(self.env.login("carol", "carol-pw", rhost="192.0.2.33"), PAM_SUCCESS)
        p = self.admin("dave", "devices", "carol", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual([d["device"] for d in json.loads(p.stdout)["devices"]], ["net:vigil@192.0.2.33"])
        p = self.admin("bob", "devices", "carol", groups=())
        self.assertEqual(p.returncode, 4, "an employee reads only their own")
        self.assertNotIn("192.0.2.33", p.stdout)

    def test_configuration_management_acts_through_its_own_admin_account(self):
        # dave stands for the automation's account (vigild(8), "Configuration
        # management"): outside any login session, each change takes a code
        # computed from its secret, and is audited under its name.
        p = self.admin("dave", "token", "issue", "--owner", "carol", "--name", "deploy", "--scope", "reports",
                       "--json", code=self.code("dave"), elsewhere=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        accessor = json.loads(p.stdout)["accessor"]
        self.assertIn("admin dave (uid 1004): io.vigil.Token.Issue carol: ok", self.env.log())
        # Its code is used up: the next change outside a session needs the next one.
        p = self.admin("dave", "token", "revoke", accessor, "--reason", "rotated", code=self.code("dave"),
                       elsewhere=True)
        self.assertEqual(p.returncode, 4)
        self.assertIn("already used", p.stderr)

    def test_input_is_checked_before_the_step_up_code_is_asked_for(self):
        # No VIGIL_CODE: a request that reached the step-up would fail with
        # "step-up required"; these fail first, on what is wrong with them.
        for args in (("reset", "nosuchuser"), ("block", "nosuchuser", "--reason", "x"),
                     ("unblock", "nosuchuser", "--reason", "x"),
                     ("token", "issue", "--owner", "nosuchuser", "--name", "n", "--scope", "s")):
            p = self.admin("alice", *args)
            self.assertEqual(p.returncode, 5, "%s: %s" % (args, p.stderr))
            self.assertIn("no such user: nosuchuser", p.stderr)
            self.assertNotIn("step-up", p.stderr)
        p = self.admin("alice", "token", "issue", "--owner", "carol", "--name", "n", "--scope", "s", "--ttl", "forever")
        self.assertEqual(p.returncode, 2)
        self.assertIn('"ttl" must be a duration', p.stderr)
        self.assertNotIn("step-up", p.stderr)
        p = self.admin("alice", "throttle", "lift", "not-an-address")
        self.assertEqual(p.returncode, 2)
        self.assertNotIn("step-up", p.stderr)

    def test_root_is_refused_unless_allowed(self):
        p = self.env.ctl("reset", "carol")
        self.assertEqual(p.returncode, 4)
        self.assertIn("allow_root", p.stderr)

    def test_root_reads_without_allow_root_but_changes_nothing(self):
        # Without allow_root, root reads what administrators read (on the
        # public socket, no step-up), for monitoring and configuration
        # management, and is still refused every change.
        self.block("alice", "carol", code=self.code("alice"))
        for args in (("audit", "--json"), ("requests", "--json"), ("token", "list", "--json"),
                     ("throttles", "--json")):
            p = self.env.ctl(*args)
            self.assertEqual(p.returncode, 0, "%s: %s" % (args, p.stderr))
            json.loads(p.stdout)
        audit = json.loads(self.env.ctl("audit", "--json", check=True).stdout)
        self.assertEqual([b["user"] for b in audit["blocked"]], ["carol"])
        for args in (("reset", "carol"), ("unblock", "carol", "--reason", "x"),
                     ("throttle", "lift", "198.51.100.7")):
            p = self.env.ctl(*args)
            self.assertEqual(p.returncode, 4, args)
            self.assertIn("allow_root", p.stderr)
        self.assertTrue(self.blocked("carol"))
        # Only root: carol's uid is refused the same reads on the public socket.
        (r,) = self.env.raw_as(UID["carol"], [["io.vigil.Admin.Audit", {}]])
        self.assertEqual(r["error"], "io.vigil.Error.PermissionDenied")

    def test_a_step_up_does_not_outlive_a_block(self):
        codes = json.loads(self.env.ctl("totp", "recovery-codes", "bob", "--json", check=True).stdout)["codes"]
        self.block("bob", "carol", code=self.code("bob"))   # bob's step-up now holds
        self.block("alice", "bob", code=self.code("alice"))
        # bob reads out one of his recovery codes (his current step is used up).
        p = self.admin("alice", "unblock", "bob", "--reason", "x", "--verify-code", verify=codes[0])
        self.assertEqual(p.returncode, 0, p.stderr)
        # Whatever ran as bob while he was blocked cannot use his old step-up.
        p = self.admin("bob", "unblock", "carol", "--reason", "x")
        self.assertEqual(p.returncode, 4)
        self.assertIn("step-up required", p.stderr)

    def test_a_temporarily_locked_admin_can_still_act(self):
        for _ in range(3):
            self.assertEqual(self.env.login("alice", "wrong"), PAM_AUTH_ERR)
        self.assertTrue(self.env.status("alice")["locked"])
        self.block("alice", "carol", code=self.code("alice"))


class Unblock(RecoveryCase):
    def test_a_blocked_admin_cannot_unblock_himself(self):
        self.block("alice", "bob", code=self.code("alice"))
        p = self.admin("bob", "unblock", "bob", "--reason", "it was me", code=self.code("bob"),
                       verify=self.code("bob"))
        self.assertEqual(p.returncode, 4)
        self.assertIn("blocked", p.stderr)
        self.assertTrue(self.blocked("bob"))
        # Nor through an approval he files, or approves.
        p = self.admin("bob", "unblock", "bob", "--reason", "x", "--approval")
        self.assertEqual(p.returncode, 4)
        self.assertTrue(self.blocked("bob"))

    def test_an_active_admin_cannot_unblock_herself_either(self):
        # alice is not blocked: the rule is checked before anything else.
        p = self.admin("alice", "unblock", "alice", "--reason", "x", code=self.code("alice"))
        self.assertEqual(p.returncode, 4)
        self.assertIn("you cannot lift your own block", p.stderr)

    def test_unblocking_an_admin_without_verification_is_refused(self):
        self.block("alice", "bob", code=self.code("alice"))
        p = self.admin("alice", "unblock", "bob", "--reason", "he called me")
        self.assertEqual(p.returncode, 4)
        self.assertIn("bob is an administrator: unblocking needs identity verification", p.stderr)
        self.assertTrue(self.blocked("bob"))

    def test_a_current_code_of_the_blocked_admin_verifies_once(self):
        self.block("alice", "bob", code=self.code("alice"))
        # A wrong code read out is refused and counted.
        p = self.admin("alice", "unblock", "bob", "--reason", "x", "--verify-code", verify="000000")
        self.assertEqual(p.returncode, 4)
        self.assertIn("not a current code", p.stderr)
        self.assertTrue(self.blocked("bob"))
        bob_code = self.code("bob")
        p = self.admin("alice", "unblock", "bob", "--reason", "identity checked by phone",
                       "--verify-code", verify=bob_code)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("unblocked bob", p.stdout)
        self.assertFalse(self.blocked("bob"))
        self.assertEqual(self.env.pam("bob", ops="account")["results"][0]["rc"], PAM_SUCCESS)
        # The same code again: blocked again, and the replay fails.
        self.block("alice", "bob")
        p = self.admin("alice", "unblock", "bob", "--reason", "again", "--verify-code", verify=bob_code)
        self.assertEqual(p.returncode, 4)
        self.assertIn("already used", p.stderr)
        self.assertTrue(self.blocked("bob"))

    def test_approval_by_a_third_admin(self):
        self.block("alice", "bob", code=self.code("alice"))
        p = self.admin("alice", "unblock", "bob", "--reason", "bob lost his phone", "--approval", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        req = json.loads(p.stdout)
        self.assertTrue(req["pending"])
        rid = req["id"]
        self.assertTrue(self.blocked("bob"), "filing is not unblocking")
        p = self.admin("alice", "approve", rid)
        self.assertEqual(p.returncode, 4)
        self.assertIn("you filed this request", p.stderr)
        p = self.admin("bob", "approve", rid, code=self.code("bob"))
        self.assertEqual(p.returncode, 4)
        self.assertIn("blocked", p.stderr)
        self.assertTrue(self.blocked("bob"))
        p = self.admin("alice", "requests", "--json")
        self.assertEqual([a["id"] for a in json.loads(p.stdout)["approvals"]], [rid])
        p = self.admin("dave", "approve", rid, code=self.code("dave"))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("unblocked bob", p.stdout)
        self.assertFalse(self.blocked("bob"))
        self.assertTrue(self.env.status("bob")["password_change_required"], "an approval too (#15)")
        self.assertIn("alice, approved by dave", self.env.log())
        # Used up: the request is gone.
        p = self.admin("dave", "approve", rid)
        self.assertEqual(p.returncode, 4)
        self.assertIn("no pending request", p.stderr)

    def test_approval_survives_a_restart(self):
        self.block("alice", "bob", code=self.code("alice"))
        p = self.admin("alice", "unblock", "bob", "--reason", "x", "--approval", "--json")
        rid = json.loads(p.stdout)["id"]
        self.env.kill9()
        self.env.start()
        p = self.admin("dave", "approve", rid, code=self.code("dave"))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertFalse(self.blocked("bob"))

    def test_unblocking_an_employee_needs_no_verification(self):
        self.block("alice", "carol", code=self.code("alice"))
        p = self.admin("alice", "unblock", "carol", "--reason", "laptop found", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        out = json.loads(p.stdout)
        self.assertTrue(out["changed"])
        self.assertEqual(out["password"]["outcome"], "not-local", "nss_wrapper users are not in /etc/passwd")
        p = self.admin("alice", "unblock", "carol", "--reason", "x")
        self.assertIn("carol is not blocked", p.stdout)


class WhatAnUnblockDoes(RecoveryCase):
    lockout = {"deny": 3, "fail_interval": "2s"}
    enrol = ("alice",)

    def test_devices_first_seen_since_the_suspicion_are_forgotten(self):
        self.assertEqual(self.env.login("carol", "carol-pw", rhost="192.0.2.10"), PAM_SUCCESS)
        time.sleep(3)
        # The attacker's login from a new place, then the block.
        self.assertEqual(self.env.login("carol", "carol-pw", rhost="198.51.100.66"), PAM_SUCCESS)
        for _ in range(2):
            self.env.login("carol", "wrong", rhost="198.51.100.66")
        self.block("alice", "carol", code=self.code("alice"))
        p = self.admin("alice", "unblock", "carol", "--reason", "cleaned up", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["devices_forgotten"], 1)
        devices = [d["device"] for d in json.loads(self.env.ctl("devices", "carol", "--json").stdout)["devices"]]
        self.assertEqual(devices, ["net:vigil@192.0.2.10"])
        st = self.env.status("carol")
        self.assertFalse(st["blocked"])
        self.assertEqual(st["failures"], 0)

    @unittest.skipUnless(os.geteuid() == 0, "needs root to create a local account")
    def test_the_password_of_a_local_account_is_expired(self):
        user = "vigil-e2e-pw"
        subprocess.run(["userdel", user], capture_output=True)
        subprocess.run(["useradd", "--no-create-home", "--uid", "1950", user], check=True)
        try:
            subprocess.run(["chpasswd"], input="%s:Secret-1234\n" % user, text=True, check=True)
            self.env.stop()  # nss_wrapper reads its files once
            with open(self.env.passwd, "a") as f:
                f.write("%s:x:1950:1950::/nonexistent:/bin/sh\n" % user)
            self.env.start()
            self.block("alice", user, code=self.code("alice"))
            p = self.admin("alice", "unblock", user, "--reason", "recovered", "--json")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(json.loads(p.stdout)["password"]["outcome"], "expired")
            chage = subprocess.run(["chage", "-l", user], capture_output=True, text=True,
                                   env={"LC_ALL": "C", "PATH": os.environ["PATH"]}).stdout
            self.assertIn("password must be changed", chage)
        finally:
            subprocess.run(["userdel", user], capture_output=True)


class NobodyLeft(RecoveryCase):
    allow_root = True  # so that root can block all three, and try

    def test_the_last_admin_is_refused_and_break_glass_works_offline(self):
        for user in ("alice", "dave", "bob"):
            p = self.env.ctl("block", user, "--reason", "compromised")
            self.assertEqual(p.returncode, 0, p.stderr)
        # Nobody active is left to verify bob: not root, not through a request.
        p = self.env.ctl("unblock", "bob", "--reason", "x", "--verify-code",
                         env={"VIGIL_VERIFY_CODE": self.code("bob")})
        self.assertEqual(p.returncode, 4)
        self.assertIn(NOBODY_LEFT, p.stderr)
        self.assertIn("break-glass", p.stderr)
        p = self.env.ctl("request-unblock", "bob", "--reason", "he is locked out", uid=UID["carol"])
        self.assertEqual(p.returncode, 4)
        self.assertIn(NOBODY_LEFT, p.stderr)
        # The blocked admins cannot act for each other.
        p = self.admin("alice", "unblock", "bob", "--reason", "x", code=self.code("alice"),
                       verify=self.code("bob"))
        self.assertEqual(p.returncode, 4)
        self.assertIn("your account is blocked", p.stderr)
        p = self.env.ctl("audit", "--json")
        warnings = json.loads(p.stdout)["warnings"]
        self.assertTrue(any("administrator bob is blocked" in w for w in warnings), warnings)

        # Break-glass refuses while the daemon holds the state directory...
        glass = [VIGILD, "--config", self.env.conf_path, "--break-glass", "bob", "--reason",
                 "all admins blocked; identity checked in person"]
        p = subprocess.run(glass, capture_output=True, text=True, env=self.env.nss_env())
        self.assertEqual(p.returncode, 1)
        self.assertIn("vigild is running", p.stderr)
        self.env.stop()
        # ...and from an SSH session.
        env = dict(self.env.nss_env(), SSH_CONNECTION="198.51.100.1 5000 192.0.2.1 22")
        p = subprocess.run(glass, capture_output=True, text=True, env=env)
        self.assertEqual(p.returncode, 1)
        self.assertIn("only on the console", p.stderr)
        p = subprocess.run(glass, capture_output=True, text=True, env=self.env.nss_env())
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("unblocked bob", p.stdout)
        self.assertIn("password opens nothing until it is changed", p.stdout)
        # vigild(8) shows this output line for line.
        shown = man_example(os.path.join(SOURCE, "man", "vigild.8"), "It prints what it did:")
        lines = p.stdout.splitlines()
        self.assertEqual(len(lines), len(shown), p.stdout)
        for line, pattern in zip(lines, shown):
            self.assertRegex(line, pattern)
        self.env.start()
        self.assertFalse(self.blocked("bob"))
        self.assertTrue(self.env.status("bob")["password_change_required"], "break-glass too (#15)")
        self.assertTrue(self.blocked("alice"))
        self.assertTrue(self.blocked("dave"))
        self.assertIn("BREAK-GLASS: bob was unblocked offline by root on the console", self.env.log())
        # Reported once: not again at the next start.
        self.env.stop()
        mark = len(self.env.log())
        self.env.start()
        self.env.status("bob")
        self.assertNotIn("BREAK-GLASS", self.env.log()[mark:])


def man_example(page, after):
    """The .nf block that follows the sentence `after` in a manual page, one
    anchored pattern a line: an italic placeholder (\\fIUSER\\fR) stands for
    any text, the rest is literal."""
    with open(page, encoding="utf-8") as f:
        text = f.read()
    block = text[text.index(".nf\n", text.index(after)) + 4:]
    block = block[:block.index("\n.fi")]
    patterns = []
    for line in block.replace("\\-", "-").splitlines():
        parts = re.split(r"\\fI.*?\\fR", line)
        patterns.append("^" + ".+".join(re.escape(part) for part in parts) + "$")
    return patterns


class Requests(RecoveryCase):
    extra_conf = {}

    def setUp(self):
        self.notified = None
        super().setUp()

    def test_a_colleague_files_a_request_and_admins_see_it(self):
        out = os.path.join(self.env.dir, "notified.json")
        self.env.stop()
        self.env.conf["recovery"]["notify_command"] = "cat > %s" % out
        self.env.write_conf()
        self.env.start()
        self.block("alice", "bob", code=self.code("alice"))
        p = self.env.ctl("request-unblock", "bob", "--reason", "bob cannot log in", "--json", uid=UID["carol"])
        self.assertEqual(p.returncode, 0, p.stderr)
        rid = json.loads(p.stdout)["id"]
        p = self.admin("alice", "requests", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        reqs = json.loads(p.stdout)["requests"]
        self.assertEqual([(r["id"], r["user"], r["requester"], r["blocked"]) for r in reqs],
                         [(rid, "bob", "carol", True)])
        p = self.admin("alice", "requests")
        self.assertIn("bob cannot log in", p.stdout)
        # The site's notify_command got the request as JSON on stdin.
        for _ in range(100):
            if os.path.exists(out) and os.path.getsize(out):
                break
            time.sleep(0.05)
        with open(out) as f:
            note = json.loads(f.read())
        self.assertEqual((note["id"], note["user"], note["requester"]), (rid, "bob", "carol"))
        # Filing again answers with the open request: no new one, no new page.
        os.unlink(out)
        p = self.env.ctl("request-unblock", "bob", "--reason", "again", "--json", uid=UID["carol"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout), {"id": rid, "user": "bob", "repeated": True})
        time.sleep(0.5)
        self.assertFalse(os.path.exists(out), "a repeated request must not notify again")
        # An unblock closes the account's requests.
        self.admin("alice", "unblock", "bob", "--reason", "x", "--verify-code", verify=self.code("bob"))
        p = self.admin("alice", "requests", "--json")
        self.assertEqual(json.loads(p.stdout)["requests"], [])

    def test_nobody_files_a_request_for_themselves(self):
        p = self.env.ctl("request-unblock", "carol", "--reason", "please", uid=UID["carol"])
        self.assertEqual(p.returncode, 4)
        self.assertIn("you cannot file a recovery request for yourself", p.stderr)
        # Nor for someone who is not blocked (no paging the admins at will).
        p = self.env.ctl("request-unblock", "bob", "--reason", "x", uid=UID["carol"])
        self.assertEqual(p.returncode, 4)
        self.assertIn("bob is not blocked", p.stderr)
        # A reason with terminal escapes never reaches an admin's terminal.
        self.block("alice", "bob", code=self.code("alice"))
        p = self.env.ctl("request-unblock", "bob", "--reason", "hi\x1b]0;pwned\x07", uid=UID["carol"])
        self.assertEqual(p.returncode, 2)
        self.assertIn("control characters", p.stderr)
        p = self.admin("alice", "requests", "--json")
        self.assertEqual(json.loads(p.stdout)["requests"], [])


class RecoveryCodesLeft(RecoveryCase):
    def test_audit_flags_an_admin_without_recovery_codes(self):
        self.env.ctl("totp", "recovery-codes", "alice", "--json", check=True)
        self.env.ctl("totp", "recovery-codes", "dave", "--json", check=True)
        report = json.loads(self.env.ctl("audit", "--json", check=True).stdout)
        codes = {a["user"]: a["recovery_codes"] for a in report["admins"]}
        self.assertEqual(codes, {"alice": 10, "bob": 0, "dave": 10})
        self.assertIn("administrator bob has no recovery codes left: a lost phone then needs another "
                      "administrator (vigilctl totp recovery-codes bob)", report["warnings"])
        self.assertFalse(any("alice has no recovery codes" in w for w in report["warnings"]))
        text = self.env.ctl("audit", check=True).stdout
        self.assertRegex(text, r"bob +uid 1002 +second factor: yes +recovery codes: 0 +active")
        self.assertIn("WARNING: administrator bob has no recovery codes left", text)


class SingleAdmin(RecoveryCase):
    admins = ("alice",)
    enrol = ()

    def test_audit_reports_the_single_admin_case(self):
        p = self.admin("alice", "audit", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        report = json.loads(p.stdout)
        self.assertEqual([a["user"] for a in report["admins"]], ["alice"])
        self.assertFalse(report["admins"][0]["totp"])
        warnings = report["warnings"]
        self.assertTrue(any("fewer than three administrators (1)" in w for w in warnings), warnings)
        self.assertIn("administrator alice has no second factor", warnings)
        self.assertIn("carol", [u["user"] for u in report["without_totp"]])
        p = self.admin("alice", "audit")
        self.assertIn("WARNING: fewer than three administrators", p.stdout)
        # The same warnings at start.
        self.assertIn("fewer than three administrators (1)", self.env.log())


if __name__ == "__main__":
    # As root, test_the_password_of_a_local_account_is_expired adds a real
    # account (useradd, chpasswd, chage): in a private copy of /etc.
    undo_etc = enter_private_etc() if os.geteuid() == 0 else (lambda: None)
    try:
        ok = unittest.main(verbosity=2, exit=False).result.wasSuccessful()
    finally:
        undo_etc()
    raise SystemExit(0 if ok else 1)
