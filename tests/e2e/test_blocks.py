"""Persistent blocks: signs of compromise, never wrong passwords alone."""
import json
import time
import unittest

from harness import PAM_AUTH_ERR, PAM_PERM_DENIED, PAM_SUCCESS, VigilTestCase

HOME = "192.0.2.10"
ATTACKERS = ["203.0.113.%d" % i for i in range(1, 5)]


class Blocks(VigilTestCase):
    lockout = {"deny": 5}

    def test_credential_stuffing_that_succeeds_blocks(self):
        self.assertEqual(self.env.login("alice", "alice-pw", rhost=HOME), PAM_SUCCESS)
        for src in ATTACKERS[:3]:
            self.assertEqual(self.env.login("alice", "guess", rhost=src), PAM_AUTH_ERR)
        self.assertFalse(self.env.status("alice")["blocked"])
        # The right password from yet another unknown address: refused, and
        # the account is blocked.
        wrong = self.env.pam("alice", ["guess"], rhost=ATTACKERS[3])
        right = self.env.pam("alice", ["alice-pw"], rhost=ATTACKERS[3])
        self.assertEqual(right["results"][0]["rc"], PAM_AUTH_ERR)
        self.assertEqual(right["messages"], wrong["messages"], "looks like a wrong password")
        st = self.env.status("alice")
        self.assertTrue(st["blocked"])
        self.assertIn("credential stuffing", st["block"]["reason"])
        self.assertEqual(st["block"]["by"], "vigild")
        self.assertEqual(sorted(st["block"]["details"]["failed_sources"]), sorted(ATTACKERS[:4]))
        self.assertEqual(st["block"]["details"]["source"], ATTACKERS[3])
        # vigilctl shows the evidence as words, not as raw JSON.
        text = self.env.ctl("status", "alice", check=True).stdout
        evidence = next(l for l in text.splitlines() if l.startswith("evidence:"))
        self.assertIn("source: %s" % ATTACKERS[3], evidence)
        self.assertIn("failed sources: ", evidence)
        self.assertNotIn("{", evidence)
        self.assertIn("BLOCKED alice", self.env.log())
        # Now even the known device is refused, and the account phase denies.
        self.assertEqual(self.env.login("alice", "alice-pw", rhost=HOME), PAM_AUTH_ERR)
        out = self.env.pam("alice", ops="account", rhost=HOME)
        self.assertEqual(out["results"][0]["rc"], PAM_PERM_DENIED)
        # The console is the way back in.
        self.assertEqual(self.env.login("alice", "alice-pw", rhost=None, tty="tty1"), PAM_SUCCESS)
        # A blocked account's factor is frozen, even for root.
        p = self.env.ctl("totp", "enroll", "alice")
        self.assertEqual(p.returncode, 4)
        self.assertIn("frozen", p.stderr)

    def test_wrong_passwords_alone_never_block(self):
        for i in range(30):
            self.env.login("bob", "guess%d" % i, rhost="198.51.100.%d" % (i % 10))
        st = self.env.status("bob")
        self.assertTrue(st["locked"])
        self.assertFalse(st["blocked"])
        out = self.env.pam("bob", ops="account")
        self.assertEqual(out["results"][0]["rc"], PAM_SUCCESS, "a key login still works")

    def test_block_survives_kill_9_and_unblock_clears_it(self):
        p = self.env.ctl("block", "carol", "--reason", "laptop stolen")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("blocked carol", p.stdout)
        self.assertIn("except a local console login", p.stdout, "the block says what stays open")
        self.env.kill9()
        self.env.start()
        st = self.env.status("carol")
        self.assertTrue(st["blocked"])
        self.assertIn("laptop stolen", st["block"]["reason"])
        self.assertEqual(st["block"]["by"], "root")
        self.assertEqual(self.env.login("carol", "carol-pw"), PAM_AUTH_ERR)
        self.assertEqual(self.env.ctl("block", "carol", "--reason", "again").stdout.strip(),
                         "carol was already blocked")
        p = self.env.ctl("unblock", "carol", "--reason", "identity checked")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertFalse(self.env.status("carol")["blocked"])
        # The recovery requires a new password (issue #15): the old one is
        # refused until carol changes it through PAM.
        self.assertEqual(self.env.login("carol", "carol-pw"), PAM_AUTH_ERR)
        out = self.env.pam("carol", ["carol-pw", "carol-new", "carol-new"], ops="chauthtok")
        self.assertEqual(out["results"][0]["rc"], PAM_SUCCESS)
        self.assertEqual(self.env.login("carol", "carol-new"), PAM_SUCCESS)

    def test_only_administrators_block_and_unblock(self):
        # alice is no administrator and not in the admin socket's group:
        # the kernel refuses her connection.
        for cmd in ("block", "unblock"):
            p = self.env.ctl(cmd, "alice", "--reason", "x", uid=1001)
            self.assertEqual(p.returncode, 3)
            self.assertIn("admin socket is for administrators", p.stderr)
        self.env.ctl("block", "bob", "--reason", "test")
        p = self.env.ctl("unblock", "bob", "--reason", "myself", uid=1002)
        self.assertEqual(p.returncode, 3, "a blocked user can never lift their own block")
        self.assertTrue(self.env.status("bob")["blocked"])
        self.assertEqual(self.env.ctl("block", "alice").returncode, 2, "--reason is required")


class Throttle(VigilTestCase):
    def test_a_spray_across_fifty_users_is_stopped_without_locking_any(self):
        sprayer = "203.0.113.99"
        # carol's own machine shares the sprayer's address (NAT).
        self.assertEqual(self.env.login("carol", "carol-pw", rhost=sprayer), PAM_SUCCESS)
        names = ["alice", "bob"] + ["user%02d" % i for i in range(48)]
        rcs = [self.env.login(n, "Summer2026!", rhost=sprayer) for n in names]
        self.assertEqual(set(rcs), {PAM_AUTH_ERR})
        self.assertIn("throttled source " + sprayer, self.env.log())
        # Refused from there now, whoever and whatever the password...
        self.assertEqual(self.env.login("alice", "alice-pw", rhost=sprayer), PAM_AUTH_ERR)
        # ...but no account is locked: elsewhere they log in.
        for user in ("alice", "bob", "carol"):
            st = self.env.status(user)
            self.assertFalse(st["locked"], user)
            self.assertFalse(st["blocked"], user)
            self.assertEqual(self.env.login(user, self.env.password(user), rhost="192.0.2.20"), PAM_SUCCESS)
        # A known device behind the same address is not throttled.
        self.assertEqual(self.env.login("carol", "carol-pw", rhost=sprayer), PAM_SUCCESS)

    def test_administrators_see_and_lift_a_ban(self):
        sprayer = "203.0.113.98"
        for n in ["user%02d" % i for i in range(20)]:
            self.env.login(n, "Summer2026!", rhost=sprayer)
        self.assertEqual(self.env.login("alice", "alice-pw", rhost=sprayer), PAM_AUTH_ERR)
        listed = json.loads(self.env.ctl("throttles", "--json", check=True).stdout)
        row = next(s for s in listed["sources"] if s["source"] == sprayer)
        self.assertTrue(row["banned"])
        self.assertGreater(row["banned_until"], time.time())
        self.assertEqual((row["bans"], row["refused"], row["threshold"]), (1, 1, 20))
        self.assertEqual(listed["trusted_networks"], [])
        text = self.env.ctl("throttles", check=True).stdout
        self.assertRegex(text, sprayer + r" +\d+/20 +1 +1  BANNED until ")
        # Not for users: the admin socket is closed to them, and the public
        # socket serves the list to root only.
        self.assertEqual(self.env.ctl("throttles", uid=1001).returncode, 3)
        (r,) = self.env.raw_as(1001, [["io.vigil.Throttle.List", {}]])
        self.assertEqual(r["error"], "io.vigil.Error.PermissionDenied")
        # A bad source is refused before anything else, with what a source is.
        p = self.env.ctl("throttle", "lift", "attacker.example")
        self.assertEqual(p.returncode, 2)
        self.assertIn("not a source", p.stderr)
        p = self.env.ctl("throttle", "lift", sprayer)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(), "lifted %s (it was banned)" % sprayer)
        self.assertIn("lifted the throttle of %s (it was banned)" % sprayer, self.env.log())
        self.assertEqual(self.env.login("alice", "alice-pw", rhost=sprayer), PAM_SUCCESS)
        listed = json.loads(self.env.ctl("throttles", "--json", check=True).stdout)
        self.assertNotIn(sprayer, [s["source"] for s in listed["sources"]])

    def test_lifting_an_ipv6_address_lifts_its_prefixes(self):
        self.env.stop()
        self.env.conf["throttle"] = {"deny": 2}
        self.env.write_conf()
        self.env.start()
        for i in range(40):
            self.env.login("carol", "guess", rhost="2001:db8:77:%x00::1" % i)
        self.assertEqual(self.env.login("bob", "bob-pw", rhost="2001:db8:77:ff00::9"), PAM_AUTH_ERR)
        p = self.env.ctl("throttle", "lift", "2001:db8:77:ff00::9", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        out = json.loads(p.stdout)
        self.assertEqual(out["lifted"], ["2001:db8:77:ff00::/64", "2001:db8:77:ff00::/56", "2001:db8:77::/48"])
        self.assertTrue(out["was_banned"])
        self.assertEqual(self.env.login("bob", "bob-pw", rhost="2001:db8:77:ff00::9"), PAM_SUCCESS)


class TrustedNetworks(VigilTestCase):
    lockout = {"deny": 3}

    def setUp(self):
        super().setUp()
        self.env.stop()
        self.env.conf["throttle"] = {"deny": 4, "trusted_networks": ["198.51.100.0/24"]}
        self.env.write_conf()
        self.env.start()

    def test_a_trusted_network_is_never_banned_but_its_guesses_still_lock(self):
        office = "198.51.100.77"
        for n in ["user%02d" % i for i in range(10)]:
            self.assertEqual(self.env.login(n, "guess", rhost=office), PAM_AUTH_ERR)
        self.assertNotIn("throttled source", self.env.log())
        self.assertEqual(self.env.login("bob", "bob-pw", rhost=office), PAM_SUCCESS,
                         "everyone behind the office NAT still logs in")
        listed = json.loads(self.env.ctl("throttles", "--json", check=True).stdout)
        self.assertEqual(listed["sources"], [], "a trusted source is not even counted")
        self.assertEqual(listed["trusted_networks"], ["198.51.100.0/24"])
        # Guessing at one account from there still locks that account.
        self.fail_n("alice", 3, rhost=office)
        self.assertTrue(self.env.status("alice")["locked"])
        self.assertEqual(self.env.login("alice", "alice-pw", rhost=office), PAM_AUTH_ERR)
        # An untrusted source next door is banned as usual.
        for n in ["user%02d" % i for i in range(4)]:
            self.env.login(n, "guess", rhost="203.0.113.7")
        self.assertIn("throttled source 203.0.113.7", self.env.log())


class TypingErrors(VigilTestCase):
    lockout = {"deny": 3, "unlock_time": "2s", "max_unlock_time": "4s"}

    def test_typing_errors_on_one_new_device_only_lock(self):
        laptop = "198.51.100.50"
        self.fail_n("alice", 3, rhost=laptop)
        st = self.env.status("alice")
        self.assertTrue(st["locked"])
        time.sleep(max(0, st["locked_until"] - time.time()) + 1.1)
        self.assertEqual(self.env.login("alice", "alice-pw", rhost=laptop), PAM_SUCCESS)
        self.assertFalse(self.env.status("alice")["blocked"])


class Escalation(VigilTestCase):
    lockout = {"deny": 2, "unlock_time": "1s", "max_unlock_time": "10s"}

    def setUp(self):
        super().setUp()
        self.env.stop()
        self.env.conf["block"] = {"escalate_after_locks": 2, "end_sessions": False}
        self.env.write_conf()
        self.env.start()

    def test_opt_in_escalation_after_locks(self):
        self.fail_n("alice", 2)
        self.assertFalse(self.env.status("alice")["blocked"])
        time.sleep(max(0, self.env.status("alice")["locked_until"] - time.time()) + 1.1)
        self.fail_n("alice", 2)
        st = self.env.status("alice")
        self.assertTrue(st["blocked"])
        self.assertIn("escalate_after_locks", st["block"]["reason"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
