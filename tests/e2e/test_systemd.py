"""vigild under systemd's protocols, without systemd as PID 1: socket
activation with named fds (systemd-socket-activate) and sd_notify (a
NOTIFY_SOCKET bound here)."""
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import unittest

from harness import PAM_AUTH_ERR, PAM_SUCCESS, VIGILD, Env, raw_call

ACTIVATE = shutil.which("systemd-socket-activate")


class Notify:
    """A NOTIFY_SOCKET: collects datagrams with their arrival times."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.messages = []

    def wait_for(self, prefix, timeout=10):
        deadline = time.time() + timeout
        for at, m in self.messages:
            if m.startswith(prefix):
                return at, m
        while time.time() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.time()))
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                break
            at = time.time()
            for line in data.decode().splitlines():
                self.messages.append((at, line))
                if line.startswith(prefix):
                    return at, line
        raise AssertionError("no %s among %s" % (prefix, [m for _, m in self.messages]))

    def close(self):
        self.sock.close()


class SdNotify(unittest.TestCase):
    def setUp(self):
        self.env = Env()
        self.notify = Notify(os.path.join(self.env.dir, "notify.sock"))

    def tearDown(self):
        self.notify.close()
        self.env.close()

    def test_ready_after_the_sockets_answer_then_watchdog_status_and_reload(self):
        # WATCHDOG_USEC 2 s: vigild pings every second, with room for a loaded
        # CI machine's scheduling.
        self.env.start(wait=False, extra_env={"NOTIFY_SOCKET": self.notify.path, "WATCHDOG_USEC": "2000000"})
        at, _ = self.notify.wait_for("READY=1")
        # READY=1 means served: a request right now is answered.
        reply = raw_call(self.env.socket, "io.vigil.Daemon.Ping", {})
        self.assertIn("version", reply["parameters"])
        reply = raw_call(self.env.admin_socket, "io.vigil.Status.List", {})
        self.assertIn("accounts", reply["parameters"])
        # WATCHDOG=1 within WATCHDOG_USEC (2 s), repeatedly.
        first, _ = self.notify.wait_for("WATCHDOG=1", timeout=3)
        self.assertLess(first - at, 2.0)
        self.notify.messages = [(t, m) for t, m in self.notify.messages if t > first]
        second, _ = self.notify.wait_for("WATCHDOG=1", timeout=3)
        self.assertLess(second - first, 2.0)
        _, status = self.notify.wait_for("STATUS=")
        self.assertRegex(status, r"STATUS=serving; \d+ locked, \d+ blocked accounts")
        # SIGHUP: RELOADING=1, then READY=1 again.
        self.notify.messages = []
        self.env.reload()
        r, _ = self.notify.wait_for("RELOADING=1")
        ready, _ = self.notify.wait_for("READY=1")
        self.assertGreaterEqual(ready, r)
        self.env.stop()
        self.notify.wait_for("STOPPING=1")

    def test_no_ready_when_the_store_cannot_open(self):
        os.makedirs(self.env.state, mode=0o777)
        os.chmod(self.env.state, 0o777)  # refused: writable by others
        proc = self.env.start(wait=False, extra_env={"NOTIFY_SOCKET": self.notify.path})
        self.assertNotEqual(proc.wait(10), 0)
        self.env.proc = None
        self.env.logfile.close()
        with self.assertRaises(AssertionError):
            self.notify.wait_for("READY=1", timeout=0.5)


@unittest.skipUnless(ACTIVATE, "systemd-socket-activate is not installed")
class SocketActivation(unittest.TestCase):
    def setUp(self):
        self.env = Env()
        self.env.conf["recovery"] = {"allow_root": True}
        self.env.write_conf()
        self.proc = None

    def tearDown(self):
        if self.proc:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.env.close()

    def test_named_sockets_from_systemd_serve_pam_and_admin_requests(self):
        env = self.env.nss_env()
        argv = [ACTIVATE, "-l", self.env.socket, "-l", self.env.admin_socket, "--fdname=public:admin"]
        for k in ("LD_PRELOAD", "NSS_WRAPPER_PASSWD", "NSS_WRAPPER_GROUP", "ASAN_OPTIONS", "UBSAN_OPTIONS",
                  "TSAN_OPTIONS"):
            if k in env:
                argv += ["-E", k]
        argv += [VIGILD, "--config", self.env.conf_path]
        log = open(self.env.log_path, "a")
        self.proc = subprocess.Popen(argv, env=env, stdout=log, stderr=log)
        deadline = time.time() + 10
        while not (os.path.exists(self.env.socket) and os.path.exists(self.env.admin_socket)):
            self.assertLess(time.time(), deadline, "systemd-socket-activate did not listen")
            time.sleep(0.02)
        # The first connection starts vigild with both fds (given time to
        # start); then PAM round trips are answered through the public fd.
        reply = raw_call(self.env.socket, "io.vigil.Daemon.Ping", {}, timeout=10)
        self.assertIn("version", reply["parameters"])
        for _ in range(3):
            self.assertEqual(self.env.login("alice", "wrong"), PAM_AUTH_ERR)
        self.assertTrue(self.env.status("alice")["locked"])
        self.assertEqual(self.env.login("alice", "alice-pw"), PAM_AUTH_ERR, "locked")
        # An admin command through the admin fd.
        p = self.env.ctl("reset", "alice")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertFalse(self.env.status("alice")["locked"])
        self.assertEqual(self.env.login("alice", "alice-pw"), PAM_SUCCESS)
        self.assertIn("serving on systemd sockets", self.env.log())
        # vigild bound nothing itself: the sockets are systemd's.
        self.assertNotIn("serving on " + self.env.socket, self.env.log())


if __name__ == "__main__":
    unittest.main(verbosity=2)
