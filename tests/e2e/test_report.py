"""Report mode ([daemon] mode = "report", issue #17 item 3) through real
libpam and a real vigild: the same scenarios (a wrong-password storm, a
lock, a deny rule, a block, an administrator's block with tokens, a
missing second factor) under enforce and under report. In both modes the
state recorded is the same; in report mode the right password still logs
in, each refusal not enforced is logged with its MESSAGE_ID, and vigilctl
audit counts it. A wrong password fails in both."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from harness import (PAM_AUTH_ERR, PAM_PERM_DENIED, PAM_SUCCESS, PY, VIGILD, Env, VigilTestCase, raw_call)

NOT_ENFORCED = "0a56d156860e40c5ac244b67648d0818"
HERE = os.path.dirname(os.path.abspath(__file__))

RULES = """
[[devices.rule]]
match  = { user = "carol", network = "198.51.100.0/24" }
action = "deny"
"""


class Scenario(VigilTestCase):
    """alice (an administrator: group wheel), bob, carol, dave; a deny rule
    for carol from 198.51.100.0/24. Subclasses set the mode."""
    mode = None
    parent = None  # where the scratch world goes (Env's default)

    def setUp(self):
        self.env = Env(lockout=self.lockout, daemon={"mode": self.mode}, parent=self.parent)
        self.env.conf["roles"] = {"admin_groups": ["wheel"]}
        self.env.write_conf()
        with open(self.env.conf_path, "a") as f:
            f.write(RULES)
        with open(self.env.group, "a") as f:
            f.write("wheel:x:1200:alice\n")
        self.start()

    def start(self):
        self.env.start()

    @property
    def reporting(self):
        return self.mode == "report"

    def allowed_only_in_report_mode(self):
        return PAM_SUCCESS if self.reporting else PAM_AUTH_ERR

    def audit(self):
        p = self.env.ctl("audit", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)

    # ---- the same scenarios in both modes ----

    def test_a_lock_is_recorded_and_enforced_only_in_enforce_mode(self):
        self.fail_n("alice", 3)
        self.assertTrue(self.env.status("alice")["locked"])
        self.assertEqual(self.env.login("alice", "alice-pw"), self.allowed_only_in_report_mode())
        st = self.env.status("alice")
        self.assertTrue(st["locked"], "report mode records the lock as enforce mode does")
        self.assertEqual((st["failures"], st["refused"]), (3, 1))
        self.assertEqual(self.env.login("alice", "wrong"), PAM_AUTH_ERR, "a wrong password still fails")
        line = "REPORT MODE, not enforced: locked (alice from 203.0.113.7, vigil)"
        self.assertEqual(line in self.env.log(), self.reporting, self.env.log())
        # status shows the recorded lock, and says that it is not enforced.
        self.assertEqual(st["state"], "locked")
        self.assertEqual(st.get("report_mode", False), self.reporting)
        listed = json.loads(self.env.ctl("status", "--json", check=True).stdout)
        self.assertEqual(listed.get("report_mode", False), self.reporting)
        for args in (("status", "alice"), ("status",)):
            text = self.env.ctl(*args, check=True).stdout
            self.assertEqual(text.startswith("vigild runs in REPORT MODE: the locks and blocks below are recorded, "
                                             "not enforced"), self.reporting, text)

    def test_a_wrong_password_storm_throttles_and_is_enforced_only_in_enforce_mode(self):
        # Spraying from one source, at names nobody has: the source is throttled.
        for i in range(20):
            self.assertEqual(self.env.login("nobody%d" % i, "guess", rhost="192.0.2.66"), PAM_AUTH_ERR)
        self.assertEqual(self.env.login("dave", "dave-pw", rhost="192.0.2.66"), self.allowed_only_in_report_mode())
        self.assertEqual(self.env.login("dave", "wrong", rhost="192.0.2.66"), PAM_AUTH_ERR)
        self.assertIn("throttled source 192.0.2.66", self.env.log(), "recorded in both modes")
        self.assertEqual("not enforced: source throttled (dave" in self.env.log(), self.reporting)

    def test_a_deny_rule_is_enforced_only_in_enforce_mode(self):
        self.assertEqual(self.env.login("carol", "carol-pw", rhost="198.51.100.5"),
                         self.allowed_only_in_report_mode())
        out = self.env.pam("carol", ops="account", rhost="198.51.100.5")
        self.assertEqual(out["results"][0]["rc"], PAM_SUCCESS if self.reporting else PAM_PERM_DENIED)
        self.assertEqual(self.env.status("carol")["failures"], 0)
        log = self.env.log()
        self.assertEqual("not enforced: deny rule at line" in log, self.reporting)
        self.assertEqual("not enforced: account phase: deny rule at line" in log, self.reporting)

    def test_a_block_is_recorded_and_enforced_only_in_enforce_mode(self):
        p = self.env.ctl("block", "bob", "--reason", "laptop stolen")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(self.env.status("bob")["blocked"])
        self.assertEqual(self.env.login("bob", "bob-pw"), self.allowed_only_in_report_mode())
        out = self.env.pam("bob", ops="account")
        self.assertEqual(out["results"][0]["rc"], PAM_SUCCESS if self.reporting else PAM_PERM_DENIED)
        self.assertTrue(self.env.status("bob")["blocked"], "still recorded blocked")
        self.assertEqual(self.env.login("bob", "wrong"), PAM_AUTH_ERR)
        self.assertEqual("not enforced: blocked (bob" in self.env.log(), self.reporting)

    def test_an_admin_block_revokes_and_freezes_only_in_enforce_mode(self):
        p = self.env.ctl("token", "issue", "--owner", "alice", "--name", "cron", "--scope", "reports", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        issued = json.loads(p.stdout)
        p = self.env.ctl("block", "alice", "--reason", "phished")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(self.env.status("alice")["blocked"])
        listing = json.loads(self.env.ctl("token", "list", "--json", check=True).stdout)
        self.assertEqual(listing["frozen"], not self.reporting)
        self.assertEqual(listing["tokens"][0]["state"], "active" if self.reporting else "revoked")
        reply = raw_call(self.env.socket, "io.vigil.Token.Check", {"token": issued["token"], "scope": "reports"})
        self.assertEqual(reply["parameters"]["verdict"], "valid" if self.reporting else "frozen")
        log = self.env.log()
        self.assertEqual("revoked API token" in log, not self.reporting)
        self.assertEqual("would have revoked 1 API token(s) (%s)" % issued["accessor"] in log, self.reporting)

    def test_a_missing_required_factor_refuses_only_in_enforce_mode(self):
        self.env.stop()
        self.env.conf["totp"] = {"require": "all"}
        self.env.write_conf()
        with open(self.env.conf_path, "a") as f:
            f.write(RULES)
        self.start()
        rc = self.env.pam("dave", ["dave-pw", "123456"], service="vigil-authtok")["results"][0]["rc"]
        self.assertEqual(rc, self.allowed_only_in_report_mode())
        self.assertEqual("not enforced: second factor required, none enrolled (dave" in self.env.log(),
                         self.reporting)

    def test_audit_says_what_was_not_enforced(self):
        self.fail_n("alice", 3)
        self.env.login("alice", "alice-pw")
        self.env.ctl("block", "bob", "--reason", "x", check=True)
        self.env.login("bob", "bob-pw")
        report = self.audit().get("report_mode")
        text = self.env.ctl("audit", check=True).stdout
        if not self.reporting:
            self.assertIsNone(report)
            self.assertNotIn("REPORT MODE", text)
            self.assertNotIn("Report mode", text)
            return
        self.assertTrue(report["active"])
        counts = {c["reason"]: c["count"] for c in report["counts"]}
        self.assertEqual((counts["locked"], counts["blocked"]), (1, 1))
        newest = report["latest"][0]
        self.assertEqual((newest["user"], newest["reason"], newest["source"], newest["service"]),
                         ("bob", "blocked", "203.0.113.7", "vigil"))
        self.assertTrue(text.startswith("vigild runs in REPORT MODE"), text)
        section = text[text.index("Report mode: refusals not enforced"):]
        self.assertRegex(section, r"\n +1  locked\n")
        self.assertRegex(section, r"alice +locked from 203\.0\.113\.7 \(vigil\)")


class Enforce(Scenario):
    mode = "enforce"


class Report(Scenario):
    mode = "report"

    def test_a_reload_to_enforce_enforces_what_was_recorded(self):
        self.fail_n("alice", 3)
        self.assertEqual(self.env.login("alice", "alice-pw"), PAM_SUCCESS)
        self.env.conf["daemon"]["mode"] = "enforce"
        self.env.write_conf()
        with open(self.env.conf_path, "a") as f:
            f.write(RULES)
        self.env.reload()
        self.env.wait_log("configuration reloaded")
        self.assertIn('[daemon] mode is now "enforce"', self.env.log())
        self.assertEqual(self.env.login("alice", "alice-pw"), PAM_AUTH_ERR)
        # The audit still shows what report mode did not enforce.
        report = self.audit()["report_mode"]
        self.assertFalse(report["active"])
        self.assertEqual(report["counts"][0], {"reason": "locked", "count": 1})


@unittest.skipUnless(os.geteuid() == 0 and shutil.which("unshare"), "needs root and unshare")
class ReportJournal(Scenario):
    """vigild under journald (a stand-in at journald's socket, in a private
    mount namespace): each refusal not enforced is a journal event with its
    own MESSAGE_ID and fields."""
    mode = "report"
    # The namespace mounts a tmpfs on /run: keep the scratch world out of it.
    parent = tempfile.gettempdir()

    def start(self):
        env = self.env
        self.journal = os.path.join(env.dir, "journal.jsonl")
        env.logfile = open(env.log_path, "a")
        script = ("mount -t tmpfs tmpfs /run && exec %s %s %s %s --config %s"
                  % (PY, os.path.join(HERE, "journal_sink.py"), self.journal, VIGILD, env.conf_path))
        env.proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                                    stdout=env.logfile, stderr=env.logfile, env=env.nss_env())
        env.wait_ready()

    def entries(self, message_id, timeout=5):
        deadline = time.time() + timeout
        while True:
            found = []
            if os.path.exists(self.journal):
                with open(self.journal) as f:
                    lines = [l for l in f.read().split("\n") if l.endswith("}")]  # whole lines only
                found = [e for e in map(json.loads, lines) if e.get("MESSAGE_ID") == message_id]
            if found or time.time() > deadline:
                return found
            time.sleep(0.05)

    def test_each_refusal_not_enforced_is_a_journal_event(self):
        self.fail_n("alice", 3)
        self.assertEqual(self.env.login("alice", "alice-pw"), PAM_SUCCESS)
        events = self.entries(NOT_ENFORCED)
        self.assertEqual(len(events), 1, events)
        e = events[0]
        self.assertEqual((e["SYSLOG_IDENTIFIER"], e["VIGIL_USER"], e["VIGIL_REASON"], e["VIGIL_RHOST"],
                          e["VIGIL_SERVICE"], e["PRIORITY"]),
                         ("vigild", "alice", "locked", "203.0.113.7", "vigil", "5"))
        self.assertIn("REPORT MODE, not enforced: locked", e["MESSAGE"])
        with open(self.journal) as f:
            self.assertNotIn("alice-pw", f.read())

    # The scenarios of the base class run in Report already.
    test_a_lock_is_recorded_and_enforced_only_in_enforce_mode = None
    test_a_wrong_password_storm_throttles_and_is_enforced_only_in_enforce_mode = None
    test_a_deny_rule_is_enforced_only_in_enforce_mode = None
    test_a_block_is_recorded_and_enforced_only_in_enforce_mode = None
    test_an_admin_block_revokes_and_freezes_only_in_enforce_mode = None
    test_a_missing_required_factor_refuses_only_in_enforce_mode = None
    test_audit_says_what_was_not_enforced = None


del Scenario  # run only through its subclasses

if __name__ == "__main__":
    unittest.main(verbosity=2)
