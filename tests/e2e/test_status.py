"""vigilctl status tells the truth (issue #17, item 1): one verdict per
account (open, locked, blocked: why, until when, which device or source) in
the list, the detail and --json; the failures on record with their source
and whether they still count; and a --json schema that vigilctl(8)
documents member by member."""
import json
import os
import re
import time
import unittest

from harness import PAM_AUTH_ERR, PAM_SUCCESS, SOURCE, VigilTestCase

HOME = "192.0.2.10"
SPRAYER = "203.0.113.50"
MAN = os.path.join(SOURCE, "man", "vigilctl.8")


def documented_members():
    """The members vigilctl(8)'s "Status JSON" lists, as dotted paths."""
    with open(MAN) as f:
        text = f.read()
    section = text.split('.SS "Status JSON"', 1)[1].split("\n.SH ", 1)[0].split("\n.PP\n", 1)[0]
    names = set()
    lines = section.splitlines()
    for tag in (lines[i + 1] for i, line in enumerate(lines[:-1]) if line == ".TP"):
        for word in re.findall(r'[a-z_]+(?:\[\])?(?:\.[a-z_]+(?:\[\])?)*', tag.split(" ", 1)[1]):
            names.add(word)
    return names


def members(obj, prefix=""):
    """Every member path of a reply, arrays as name[] (block.details is the
    recorded evidence, not the API's: its inside is not listed)."""
    out = set()
    for k, v in obj.items():
        path = prefix + k
        if isinstance(v, dict) and path != "block.details":
            out |= members(v, path + ".")
        elif isinstance(v, list):  # arrays of objects
            for item in v:
                out |= members(item, path + "[].")
        else:
            out.add(path)
    return out


class Truth(VigilTestCase):
    lockout = {"deny": 3}

    def setUp(self):
        super().setUp()
        self.env.stop()
        self.env.conf["throttle"] = {"deny": 5}
        self.env.write_conf()
        self.env.start()

    def scenario(self):
        """alice locked on her known device, bob locked from unknown
        devices, carol blocked (no failure ever), dave open behind a
        throttled source."""
        self.assertEqual(self.env.login("alice", "alice-pw", rhost=HOME), PAM_SUCCESS)
        self.fail_n("alice", 3, rhost=HOME)
        self.fail_n("bob", 3, rhost="198.51.100.9")
        self.assertEqual(self.env.ctl("block", "carol", "--reason", "laptop stolen").returncode, 0)
        self.assertEqual(self.env.login("dave", "guess", rhost=SPRAYER), PAM_AUTH_ERR)
        for i in range(4):
            self.env.login("nobody%d" % i, "Summer2026!", rhost=SPRAYER)

    def test_each_account_has_one_verdict_everywhere(self):
        self.scenario()
        alice, bob, carol, dave = (self.env.status(u) for u in ("alice", "bob", "carol", "dave"))
        # alice: her right password is refused on her known device, and
        # status says so (it said "not locked").
        self.assertEqual(self.env.login("alice", "alice-pw", rhost=HOME), PAM_AUTH_ERR)
        self.assertEqual((alice["state"], alice["locked"]), ("locked", True))
        self.assertGreater(alice["until"], time.time())
        self.assertEqual(alice["locked_until"], alice["until"])
        self.assertTrue(alice["device"])
        self.assertIn("other devices stay open", alice["why"])
        self.assertEqual(self.env.login("alice", "alice-pw", rhost="198.51.100.3"), PAM_SUCCESS)
        self.assertEqual((bob["state"], bob["locked"], bob["source"], bob["device"]),
                         ("locked", True, "198.51.100.9", ""))
        self.assertEqual(bob["why"], "3 wrong passwords from unknown devices; known devices stay open")
        self.assertEqual(bob["until"], bob["locked_until"])
        self.assertEqual(self.env.status("dave")["recent_failures"][0]["source"], SPRAYER)
        self.assertEqual((carol["state"], carol["blocked"], carol["until"]), ("blocked", True, 0))
        self.assertEqual(carol["why"], "administrator: laptop stolen")
        # dave is open, but every attempt from his failures' source is refused.
        self.assertEqual((dave["state"], dave["why"]), ("open", ""))
        self.assertEqual([t["source"] for t in dave["throttled_sources"]], [SPRAYER])
        self.assertGreater(dave["throttled_sources"][0]["until"], time.time())
        self.assertEqual(self.env.login("dave", "dave-pw", rhost=SPRAYER), PAM_AUTH_ERR)
        # The list has the same verdicts, carol included (she has no bucket).
        listed = {a["user"]: a for a in json.loads(self.env.ctl("status", "--json", check=True).stdout)["accounts"]}
        for st in (alice, bob, carol, dave):
            row = listed[st["user"]]
            self.assertEqual((row["state"], row["why"], row["until"], row["blocked"], row["locked"]),
                             (st["state"], st["why"], st["until"], st["blocked"], st["locked"]), st["user"])
        text = self.env.ctl("status", check=True).stdout
        self.assertRegex(text, r"\ncarol +1003 +0 +0 +0  BLOCKED until recovered: administrator: laptop stolen\n")
        self.assertRegex(text, r"\nalice +1001 +0 +0 +0  LOCKED until .* left\): 3 wrong passwords on known device")
        detail = self.env.ctl("status", "dave", check=True).stdout
        self.assertIn("state:         open\n", detail)
        self.assertRegex(detail, r"throttled:     source %s \(bucket %s\) is banned until .*: every attempt from there is refused" % (SPRAYER, SPRAYER))

    def test_failures_are_listed_with_their_source_and_whether_they_count(self):
        self.fail_n("bob", 2, rhost="198.51.100.7")
        self.env.pam("bob", ["wrong"], rhost=None, tty="tty2")
        st = self.env.status("bob")
        got = [(f["source"], f["service"], f["device"], f["counts"]) for f in st["recent_failures"]]
        self.assertEqual(got, [("", "vigil", "", True), ("198.51.100.7", "vigil", "", True),
                               ("198.51.100.7", "vigil", "", True)])
        self.assertTrue(all(f["at"] > time.time() - 60 for f in st["recent_failures"]))
        # After a reset they stay on record, and no longer count.
        self.assertEqual(self.env.ctl("reset", "bob").returncode, 0)
        st = self.env.status("bob")
        self.assertEqual([f["counts"] for f in st["recent_failures"]], [False] * 3)
        text = self.env.ctl("status", "bob", check=True).stdout
        self.assertRegex(text, r"\n  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC vigil +\(local\) +\(unknown device\) +no\n")
        # They survive a restart.
        self.env.kill9()
        self.env.start()
        self.assertEqual(len(self.env.status("bob")["recent_failures"]), 3)

    def test_every_member_is_documented_and_every_documented_member_is_there(self):
        self.scenario()
        self.assertEqual(self.env.ctl("unblock", "carol", "--reason", "identity checked").returncode, 0)
        self.env.login("carol", "guess", rhost=HOME)
        seen = set()
        for user in ("alice", "bob", "carol", "dave"):
            seen |= members(self.env.status(user))
        self.env.ctl("block", "bob", "--reason", "x", check=True)
        seen |= members(self.env.status("bob"))
        documented = documented_members()
        self.assertEqual(sorted(seen - documented), [], "members vigilctl(8) does not document")
        self.assertEqual(sorted(documented - seen), [], "documented members never seen")


if __name__ == "__main__":
    unittest.main()
