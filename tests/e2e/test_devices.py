"""Known devices: trust after a complete login, separate buckets, listing and
forgetting, and device identity (SSH keys, IPv6 /64, IPv4-mapped)."""
import json
import unittest

from harness import PAM_AUTH_ERR, PAM_SUCCESS, PY, VigilTestCase, raw_call

HOME = "192.0.2.10"          # alice's usual machine
ELSEWHERE = ["203.0.113.%d" % i for i in range(1, 11)]
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


class Devices(VigilTestCase):
    def devices(self, user):
        p = self.env.ctl("devices", user, "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)["devices"]

    def test_a_known_device_logs_in_while_unknown_devices_are_locked(self):
        self.assertEqual(self.env.login("alice", "alice-pw", rhost=HOME), PAM_SUCCESS)
        self.assertEqual([d["device"] for d in self.devices("alice")], ["net:vigil@" + HOME])
        # 30 wrong passwords from 10 unknown addresses: locked, for them.
        for i in range(30):
            self.assertEqual(self.env.login("alice", "guess%d" % i, rhost=ELSEWHERE[i % 10]), PAM_AUTH_ERR)
        st = self.env.status("alice")
        self.assertTrue(st["locked"])
        self.assertFalse(st["known_devices"]["locked"])
        self.assertFalse(st["blocked"], "wrong passwords alone never block")
        # The owner still logs in from the known device...
        self.assertEqual(self.env.login("alice", "alice-pw", rhost=HOME), PAM_SUCCESS)
        # ...and the account phase still allows a key login.
        out = self.env.pam("alice", ops="account", rhost=ELSEWHERE[3])
        self.assertEqual(out["results"][0]["rc"], PAM_SUCCESS)

    def test_known_devices_have_their_own_deny(self):
        self.assertEqual(self.env.login("bob", "bob-pw", rhost=HOME), PAM_SUCCESS)
        self.fail_n("bob", 3, rhost=HOME)
        st = self.env.status("bob")
        self.assertTrue(st["known_devices"]["locked"])
        # The account's verdict says so (issue #17: it said "not locked").
        self.assertTrue(st["locked"])
        self.assertEqual(st["state"], "locked")
        (dev,) = self.devices("bob")
        self.assertEqual(st["device"], dev["device"])
        self.assertEqual(st["until"], st["known_devices"]["locked_until"])
        self.assertIn("on known device %s; other devices stay open" % dev["device"], st["why"])
        self.assertEqual(st["failures"], 0, "the unknown-device bucket is untouched")
        self.assertEqual(self.env.login("bob", "bob-pw", rhost=ELSEWHERE[0]), PAM_SUCCESS)

    def test_only_root_reported_complete_logins_make_a_device_known(self):
        self.env.pam("alice", ["alice-pw"], uid=1001, rhost=HOME)
        self.assertEqual(self.devices("alice"), [])
        self.env.login("alice", "wrong", rhost=HOME)
        self.assertEqual(self.devices("alice"), [])

    def test_ssh_key_fingerprint_is_the_device(self):
        out = self.env.pam("alice", ["alice-pw"], rhost=ELSEWHERE[0], ssh_key=KEY)
        self.assertEqual(out["results"][0]["rc"], PAM_SUCCESS)
        (dev,) = self.devices("alice")
        self.assertTrue(dev["device"].startswith("ssh:SHA256:"), dev)
        # The same key from another address is the same, known device.
        self.fail_n("alice", 3, rhost=ELSEWHERE[5], ssh_key=KEY)
        st = self.env.status("alice")
        self.assertTrue(st["known_devices"]["locked"])
        self.assertEqual((st["state"], st["device"]), ("locked", dev["device"]))
        self.assertEqual(st["failures"], 0, "the unknown-device bucket is untouched")

    def test_ipv6_counts_per_64_and_mapped_ipv4_is_ipv4(self):
        self.assertEqual(self.env.login("alice", "alice-pw", rhost="2001:db8:1:2::10"), PAM_SUCCESS)
        self.assertEqual(self.env.login("alice", "alice-pw", rhost="::ffff:192.0.2.77"), PAM_SUCCESS)
        devices = sorted(d["device"] for d in self.devices("alice"))
        self.assertEqual(devices, ["net:vigil@192.0.2.77", "net:vigil@2001:db8:1:2::/64"])
        # Another address in the same /64 is the same device.
        self.fail_n("alice", 3, rhost="2001:db8:1:2:ffff::1")
        self.assertTrue(self.env.status("alice")["known_devices"]["locked"])

    def test_forget_devices(self):
        self.env.login("alice", "alice-pw", rhost=HOME)
        self.env.login("alice", "alice-pw", rhost=ELSEWHERE[0])
        p = self.env.ctl("devices", "forget", "alice", "net:vigil@" + HOME)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual([d["device"] for d in self.devices("alice")], ["net:vigil@" + ELSEWHERE[0]])
        p = self.env.ctl("devices", "forget", "alice", "no-such-device")
        self.assertEqual(p.returncode, 5)
        p = self.env.ctl("devices", "forget", "alice", "--all")
        self.assertEqual(p.returncode, 0)
        self.assertEqual(self.devices("alice"), [])
        self.assertEqual(self.env.ctl("devices", "forget", "alice").returncode, 2)
        table = self.env.ctl("devices", "alice")
        self.assertIn("no known device", table.stdout)

    def test_a_user_sees_only_their_own_devices(self):
        self.env.login("bob", "bob-pw", rhost=HOME)
        p = self.env.ctl("devices", "bob", uid=1001)
        self.assertEqual(p.returncode, 4)
        self.assertEqual(self.env.ctl("devices", uid=1001).returncode, 0)

    def test_sudo_and_su_belong_to_the_device_of_their_login_session(self):
        # sshd (root) reports the login, then opens the session: its audit
        # session (42) now names alice's device. (This sandbox has no audit
        # sessions, so the module's part -- reading /proc/self/sessionid --
        # is driven here by speaking the protocol as the module does.)
        self.assertEqual(self.env.login("alice", "alice-pw", rhost=HOME), PAM_SUCCESS)
        raw_call(self.env.socket, "io.vigil.Session.Open",
                 {"user": "alice", "service": "vigil", "rhost": HOME, "tty": "ssh", "audit_session": 42})
        # sudo inside that session: the known device's bucket.
        for i in range(3):
            reply = raw_call(self.env.socket, "io.vigil.Auth.Report",
                             {"user": "alice", "outcome": "failure", "service": "sudo", "tty": "/dev/pts/3",
                              "audit_session": 42, "nonce": "s%d" % i})
            self.assertEqual(reply["parameters"]["verdict"], "deny")
        st = self.env.status("alice")
        self.assertEqual(st["known_devices"]["failures"], 3)
        self.assertEqual(st["failures"], 0)
        # sudo in a session vigil never saw: an unknown device, never trusted.
        reply = raw_call(self.env.socket, "io.vigil.Auth.Report",
                         {"user": "bob", "outcome": "success", "service": "sudo", "tty": "/dev/pts/4",
                          "audit_session": 77, "nonce": "t1"})
        self.assertEqual(reply["parameters"]["verdict"], "allow")
        self.assertEqual(self.devices("bob"), [])
        # A non-root caller cannot open sessions.
        (reply,) = self.env.raw_as(1001, [["io.vigil.Session.Open", {"user": "alice", "audit_session": 42}]])
        self.assertEqual(reply["error"], "io.vigil.Error.PermissionDenied")

    def test_devices_survive_kill_9(self):
        self.env.login("alice", "alice-pw", rhost=HOME)
        self.env.kill9()
        self.env.start()
        self.assertEqual(len(self.devices("alice")), 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
