"""Reliability under attack and faults (issue #9): kill -9 mid-storm, a full
or read-only state directory, hostile input, a bad daemon seen from the
module, a caller stopped or out of descriptors or forked, and 64 parallel
transactions."""
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import unittest
import uuid

from harness import (BUILD, PAM_AUTH_ERR, PAM_AUTHINFO_UNAVAIL, PAM_SUCCESS, PAMDRIVE, PY, VIGILD, FakeDaemon,
                     VigilTestCase, raw_call, raw_frame)

ALICE = 1001


def add_users(env, prefix, n, first_uid):
    """n more nss_wrapper users (prefix0..), with password "pw-NAME"."""
    with open(env.passwd, "a") as f, open(env.passdb, "a") as g:
        for i in range(n):
            name = "%s%d" % (prefix, i)
            f.write("%s:x:%d:%d::/nonexistent:/bin/sh\n" % (name, first_uid + i, first_uid + i))
            g.write("%s:pw-%s:*\n" % (name, name))
    return ["%s%d" % (prefix, i) for i in range(n)]


def report_frame(user, nonce):
    return json.dumps({"method": "io.vigil.Auth.Report",
                       "parameters": {"user": user, "outcome": "failure", "nonce": nonce,
                                      "service": "sshd", "rhost": "192.0.2.%d" % random.randint(1, 254),
                                      "tty": "ssh"}}).encode() + b"\0"


def read_frame(s):
    data = b""
    while not data.endswith(b"\0"):
        chunk = s.recv(65536)
        if not chunk:
            raise OSError("closed")
        data += chunk
    return json.loads(data[:-1])


def buckets(db_path):
    """uid -> (failures stored, locked_until) for the unknown-device buckets,
    read straight from the database (a second SQLite connection), while no
    vigild runs: vigild keeps SQLite's lock on the file while it is open."""
    db = sqlite3.connect(db_path, timeout=10)
    try:
        ok = db.execute("PRAGMA integrity_check").fetchone()[0]
        rows = db.execute("SELECT uid, failures, locked_until FROM buckets "
                          "WHERE uid IS NOT NULL AND key = 'uid:' || uid").fetchall()
    finally:
        db.close()
    return ok, {uid: (failure_count(f), locked) for uid, f, locked in rows}


def failure_count(value):
    """How many failure times a stored list holds: a BLOB of varints (each
    ends with a byte below 0x80), or decimal text written by older vigild."""
    if not value:
        return 0
    if isinstance(value, str):
        return len(value.split())
    return sum(1 for b in value if b < 0x80)


def assert_fails_closed_then_recovers(test, break_store, repair, while_broken=None):
    """alice has one failure on record. Breaks the store: a wrong password is
    still refused (and counted in memory), a right one refused too, with the
    log line; then repairs it: vigild recovers, says so, and after kill -9
    the failure made meanwhile is on disk and the database is intact."""
    env = test.env
    break_store()
    test.assertEqual(env.login("alice", "wrong"), PAM_AUTH_ERR)
    # Nothing is allowed that could not be recorded.
    test.assertEqual(env.pam("bob", ["bob-pw"])["results"][0]["rc"], PAM_AUTHINFO_UNAVAIL,
                     "a right password is refused while the store fails")
    test.assertIn("cannot commit state", env.log())
    if while_broken:
        while_broken()
    repair()
    deadline = time.time() + 10
    rc = None
    while time.time() < deadline:
        rc = env.login("bob", "bob-pw")
        if rc == PAM_SUCCESS:
            break
        time.sleep(0.2)
    test.assertEqual(rc, PAM_SUCCESS, "vigild did not recover:\n" + env.log())
    test.assertIn("works again", env.log())
    env.kill9()
    ok, _ = buckets(os.path.join(env.state, "vigil.db"))
    test.assertEqual(ok, "ok")
    env.start()
    test.assertEqual(env.status("alice")["failures"], 2, "the failure made while the store failed was kept")


class KilledMidStorm(VigilTestCase):
    """8 clients send failures as fast as they can; vigild is killed with
    SIGKILL at random moments, 20 times, and restarted. After each restart,
    every failure answered is in the store (or its account is locked: past
    the lock, attempts are refused, not counted), every account answered
    into a lock is locked, and the database passes integrity_check."""
    start_daemon = False
    DENY = 150
    lockout = {"deny": DENY, "fail_interval": "1h", "unlock_time": "1h", "max_unlock_time": "2h"}

    def test_nothing_answered_is_lost_over_20_kills(self):
        env = self.env
        env.conf["throttle"] = {"deny": 0}
        env.write_conf()
        # Hot users lock during the run; cold ones stay below the threshold.
        hot = add_users(env, "hot", 6, 3000)
        cold = add_users(env, "cold", 30, 3100)
        uid_of = {u: 3000 + i for i, u in enumerate(hot)}
        uid_of.update({u: 3100 + i for i, u in enumerate(cold)})
        def start():
            # The harness runs vigild with nss_threads = 1 (nss_wrapper is
            # not thread-safe). Wait for the start-up report, then look each
            # user up once, so the storm after each restart meets vigild's
            # cache rather than a queue of lookups on that one thread.
            reports = env.log().count("administrators (")
            env.start()
            deadline = time.time() + 10
            while env.log().count("administrators (") <= reports and time.time() < deadline:
                time.sleep(0.01)
            for u in hot + cold:
                raw_call(env.socket, "io.vigil.Status.Get", {"user": u})

        start()
        answered = {u: 0 for u in hot + cold}
        lock = threading.Lock()
        stop = threading.Event()
        paused = threading.Event()
        idle = [threading.Event() for _ in range(8)]

        def client(k):
            rng = random.Random(k)
            s = None
            while not stop.is_set():
                if paused.is_set():
                    if s:
                        s.close()
                        s = None
                    idle[k].set()
                    time.sleep(0.005)
                    continue
                idle[k].clear()
                try:
                    if s is None:
                        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                        s.settimeout(5)
                        s.connect(env.socket)
                    user = rng.choice(hot) if rng.random() < 0.98 else rng.choice(cold)
                    s.sendall(report_frame(user, uuid.uuid4().hex))
                    reply = read_frame(s)
                    if "error" not in reply:
                        with lock:
                            answered[user] += 1
                except OSError:
                    if s:
                        s.close()
                    s = None
                    time.sleep(0.005)
            if s:
                s.close()

        threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        db_path = os.path.join(env.state, "vigil.db")
        try:
            for cycle in range(20):
                time.sleep(random.uniform(0.15, 0.6))
                env.kill9()
                paused.set()
                for e in idle:
                    self.assertTrue(e.wait(10), "a client did not pause")
                with lock:
                    snapshot = dict(answered)
                # The file as the killed vigild left it, before a new one opens it.
                ok, stored = buckets(db_path)
                start()
                self.assertEqual(ok, "ok", "integrity_check after kill %d" % (cycle + 1))
                now = time.time()
                for user, n in snapshot.items():
                    failures, locked_until = stored.get(uid_of[user], (0, 0))
                    locked = locked_until > now
                    if n >= self.DENY:
                        self.assertTrue(locked, "kill %d: %s answered %d failures (deny %d) but is not "
                                        "locked" % (cycle + 1, user, n, self.DENY))
                    elif not locked:
                        self.assertGreaterEqual(failures, n, "kill %d: %s: %d failures answered, %d "
                                                "stored" % (cycle + 1, user, n, failures))
                paused.clear()
        finally:
            stop.set()
            paused.clear()
            for t in threads:
                t.join()
        total = sum(answered.values())
        self.assertGreater(total, 1000, "the storm sent too little to mean anything")
        self.assertTrue(any(answered[u] >= self.DENY for u in hot), "no account locked")
        self.assertTrue(any(0 < answered[u] < self.DENY for u in cold), "no account stayed below deny")


class StorageFaults(VigilTestCase):
    """The state directory on a small tmpfs that fills up or turns
    read-only: decisions fail closed with a clear log line, nothing is
    corrupted, and vigild recovers when the space returns."""
    start_daemon = False

    def setUp(self):
        super().setUp()
        os.makedirs(self.env.state, mode=0o700)
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", self.env.state],
                           capture_output=True, text=True)
        if p.returncode != 0:
            self.skipTest("cannot mount a tmpfs here: " + p.stderr.strip())
        self.mounted = True

    def tearDown(self):
        try:
            self.env.stop()
        finally:
            if getattr(self, "mounted", False):
                subprocess.run(["umount", "-l", self.env.state], capture_output=True)
            super().tearDown()

    def fill(self):
        """Takes every free block of the tmpfs (unbuffered writes, so that
        nothing fails later, at a close)."""
        for i in range(64):
            fd = os.open(os.path.join(self.env.state, "filler%d" % i), os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                chunk = b"\0" * (65536 if i == 0 else 4096)
                while True:
                    os.write(fd, chunk)
            except OSError:
                pass
            finally:
                os.close(fd)

    def check_fails_closed_then_recovers(self, break_store, repair):
        env = self.env
        env.start()
        self.fail_n("alice", 1)
        self.assertEqual(env.status("alice")["failures"], 1)
        # Enough history that the next commit needs new pages.
        for i in range(40):
            raw_call(env.socket, "io.vigil.Auth.Report",
                     {"user": "ghost%d" % i, "outcome": "failure", "rhost": "198.51.100.%d" % (i + 1)})
        assert_fails_closed_then_recovers(self, break_store, repair)

    def test_full_state_directory(self):
        def break_store():
            self.fill()

        def repair():
            for name in os.listdir(self.env.state):
                if name.startswith("filler"):
                    os.unlink(os.path.join(self.env.state, name))

        self.check_fails_closed_then_recovers(break_store, repair)

    def test_read_only_state_directory_at_start(self):
        # A state directory read-only at start (turning read-only under a
        # running vigild: TurnsReadOnly): vigild refuses to start (the
        # module then fails closed), says why, and starts with everything
        # intact once it is writable again.
        env = self.env
        env.start()
        self.fail_n("alice", 2)
        env.stop()
        subprocess.run(["mount", "-o", "remount,ro", env.state], check=True)
        p = subprocess.run([VIGILD, "--config", env.conf_path], env=env.nss_env(),
                           capture_output=True, text=True, timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertRegex(p.stderr, "(?i)read-only")
        self.assertEqual(env.pam("bob", ["bob-pw"])["results"][0]["rc"], PAM_AUTHINFO_UNAVAIL)
        subprocess.run(["mount", "-o", "remount,rw", env.state], check=True)
        env.start()
        self.assertEqual(env.status("alice")["failures"], 2)
        self.assertEqual(env.login("bob", "bob-pw"), PAM_SUCCESS)


class TurnsReadOnly(VigilTestCase):
    """The state directory turns read-only under a running vigild: with an
    injected fault (tests/fault/fsfault.c: EROFS for every write and sync
    under the state directory while a flag file exists), since Linux will
    not remount a file system read-only under an open writer."""
    start_daemon = False

    def test_state_directory_turning_read_only_fails_closed_then_recovers(self):
        env = self.env
        flag = os.path.join(env.dir, "read-only")
        shim = os.path.join(BUILD, "tests", "libfsfault.so")
        self.assertTrue(os.path.exists(shim), shim)
        env.start(extra_env={"LD_PRELOAD": "libnss_wrapper.so " + shim, "FSFAULT_DIR": env.state,
                             "FSFAULT_FLAG": flag})
        self.fail_n("alice", 1)

        def while_read_only():
            # The account's state is still readable, and stricter in memory.
            self.assertEqual(env.status("alice")["failures"], 2)

        assert_fails_closed_then_recovers(self, lambda: open(flag, "w").close(), lambda: os.unlink(flag),
                                          while_read_only)


class HostileInput(VigilTestCase):
    """Each gets a clear error (or, for a failure report, the failure is
    counted against an unknown name and the source), no crash, and vigild
    keeps serving everyone else."""

    def raw(self, data, timeout=3):
        reply = raw_frame(self.env.socket, data, timeout)
        return json.loads(reply) if reply is not None else None

    def assert_still_serving(self):
        self.assertIn("version", raw_call(self.env.socket, "io.vigil.Daemon.Ping", {})["parameters"])
        self.assertEqual(self.env.login("bob", "bob-pw"), PAM_SUCCESS)

    def test_hostile_user_names(self):
        names = ["al\u0000ice", "alice\n", "../../etc/passwd", "a" * 300, "alice\u202e", ""]
        for name in names:
            r = raw_call(self.env.socket, "io.vigil.Status.Get", {"user": name})
            self.assertIn("error", r, repr(name))
            self.assertTrue(r["parameters"]["message"], repr(name))
            # A failure report is never lost: counted as an unknown name.
            r = raw_call(self.env.socket, "io.vigil.Auth.Report",
                         {"user": name, "outcome": "failure", "rhost": "192.0.2.9"})
            self.assertEqual(r.get("parameters", {}).get("verdict"), "deny", repr(name))
            # A right "password" for it never allows.
            r = raw_call(self.env.socket, "io.vigil.Auth.Report", {"user": name, "outcome": "success"})
            self.assertEqual(r.get("parameters", {}).get("verdict"), "deny", repr(name))
        # None of them counted against alice.
        self.assertEqual(self.env.status("alice")["failures"], 0)
        # vigilctl says so plainly.
        p = self.env.ctl("status", "alice\n")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("invalid user name", p.stderr)
        self.assert_still_serving()

    def test_invalid_utf8(self):
        r = self.raw(b'{"method":"io.vigil.Auth.Report","parameters":{"user":"al\xffice","outcome":"failure"}}\0')
        self.assertEqual(r["error"], "io.vigil.Error.InvalidRequest")
        self.assertIn("malformed JSON", r["parameters"]["message"])
        self.assert_still_serving()

    def test_unknown_methods_and_wrong_types(self):
        cases = [
            (b'{"method":"io.vigil.Nope","parameters":{}}', "io.vigil.Error.MethodNotFound"),
            (b'{"method":"io.vigil.Auth.Report","parameters":{"user":5,"outcome":"failure"}}',
             "io.vigil.Error.InvalidParameter"),
            (b'{"method":"io.vigil.Auth.Report","parameters":{"user":"alice","outcome":["failure"]}}',
             "io.vigil.Error.InvalidParameter"),
            (b'{"method":"io.vigil.Auth.Report","parameters":[]}', "io.vigil.Error.InvalidRequest"),
            (b'{"method":7,"parameters":{}}', "io.vigil.Error.InvalidRequest"),
            (b'[1,2]', "io.vigil.Error.InvalidRequest"),
            (b'{"method":"io.vigil.Auth.Report","parameters":{"user":"alice","outcome":"failure",'
             b'"rhost":{"x":1}}}', "io.vigil.Error.InvalidParameter"),
        ]
        for frame, error in cases:
            r = self.raw(frame + b"\0")
            self.assertEqual(r["error"], error, frame)
            self.assertTrue(r["parameters"]["message"], frame)
        self.assert_still_serving()

    def test_oversized_frame(self):
        r = self.raw(b"x" * 70000 + b"\0")
        self.assertEqual(r["error"], "io.vigil.Error.InvalidRequest")
        self.assertIn("64 KiB", r["parameters"]["message"])
        self.assert_still_serving()

    def test_frame_without_terminator_is_closed_at_the_deadline(self):
        self.env.conf["daemon"]["request_timeout"] = "1s"
        self.env.write_conf()
        self.env.reload()
        time.sleep(0.3)
        t0 = time.monotonic()
        r = self.raw(b'{"method":"io.vigil.Daemon.Ping","parameters":{}}', timeout=5)
        self.assertIsNone(r, "no frame, no answer")
        self.assertLess(time.monotonic() - t0, 3, "closed at the 1 s deadline")
        self.assert_still_serving()


class HalfClose(VigilTestCase):
    """A client that sends its requests and half-closes (as the module's
    transport does) is answered, frame by frame, and closed at once, however
    its bytes arrive: all before vigild looks (read without waiting), or in
    parts (vigild then waits for them under the deadline)."""

    PING = b'{"method":"io.vigil.Daemon.Ping","parameters":{}}\0'

    @staticmethod
    def frames_to_end(s):
        """Reads s until vigild closes it; closes it; the frames read."""
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        return [json.loads(f) for f in data.split(b"\0") if f]

    def exchange(self, parts, pause=0.0):
        """Sends parts (pausing between them), half-closes; returns the
        frames read until vigild closed, and the seconds that took."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(self.env.socket)
        t0 = time.monotonic()
        for i, part in enumerate(parts):
            if i:
                time.sleep(pause)
            s.sendall(part)
        s.shutdown(socket.SHUT_WR)
        return self.frames_to_end(s), time.monotonic() - t0

    def setUp(self):
        super().setUp()
        self.env.conf["daemon"]["request_timeout"] = "4s"
        self.env.write_conf()
        self.env.reload()
        self.env.wait_log("configuration reloaded")

    def test_one_request_is_answered_and_the_connection_closed_at_once(self):
        frames, took = self.exchange([self.PING])
        self.assertEqual(len(frames), 1)
        self.assertIn("version", frames[0]["parameters"])
        self.assertLess(took, 2, "closed after the answer, not at the 4 s deadline")

    def test_requests_sent_together_are_each_answered_in_order(self):
        report = (b'{"method":"io.vigil.Auth.Report","parameters":{"user":"nobody-here","outcome":"failure",'
                  b'"rhost":"192.0.2.7"}}\0')
        frames, took = self.exchange([self.PING + report + self.PING])
        self.assertEqual(len(frames), 3)
        self.assertIn("version", frames[0]["parameters"])
        self.assertEqual(frames[1]["parameters"]["verdict"], "deny")
        self.assertIn("version", frames[2]["parameters"])
        self.assertLess(took, 2)

    def test_a_request_in_parts_is_answered_once_whole(self):
        frames, took = self.exchange([self.PING[:20], self.PING[20:]], pause=0.3)
        self.assertEqual(len(frames), 1)
        self.assertIn("version", frames[0]["parameters"])
        self.assertLess(took, 2)

    def test_answers_that_outgrow_the_socket_wait_for_the_reader(self):
        # 3,000 requests already there when vigild looks (it is stopped while
        # they are sent), and nothing read for a while: the answers overflow
        # the socket's buffer, and the rest goes out as it drains.
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        self.env.proc.send_signal(signal.SIGSTOP)
        try:
            s.connect(self.env.socket)
            s.sendall(self.PING * 3000)
            s.shutdown(socket.SHUT_WR)
        finally:
            self.env.proc.send_signal(signal.SIGCONT)
        time.sleep(0.5)
        frames = self.frames_to_end(s)
        self.assertEqual(len(frames), 3000)
        self.assertIn("version", frames[-1]["parameters"])
        self.assertIn("version", raw_call(self.env.socket, "io.vigil.Daemon.Ping", {})["parameters"])

    def test_half_a_request_then_the_end_gets_no_answer(self):
        frames, took = self.exchange([self.PING[:20]])
        self.assertEqual(frames, [])
        self.assertLess(took, 2, "the end of the stream closes it, not the deadline")
        self.assertIn("version", raw_call(self.env.socket, "io.vigil.Daemon.Ping", {})["parameters"])


class IdleFlood(VigilTestCase):
    def test_1000_idle_connections_of_one_uid_leave_root_answered_within_50ms(self):
        code = ("import resource, socket, sys, time\n"
                "resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))\n"
                "held = []\n"
                "for i in range(1000):\n"
                "    s = socket.socket(socket.AF_UNIX); s.connect(%r); held.append(s)\n"
                "time.sleep(0.5)\n"
                "alive = 0\n"
                "for s in held:\n"
                "    s.setblocking(False)\n"
                "    try:\n"
                "        alive += s.recv(1) != b''\n"
                "    except BlockingIOError:\n"
                "        alive += 1\n"
                "    except OSError:\n"
                "        pass\n"
                "print('ready', alive, flush=True)\n"
                "time.sleep(60)\n" % self.env.socket)
        p = subprocess.Popen(self.env.as_uid(ALICE, [PY, "-c", code]), stdout=subprocess.PIPE, text=True)
        try:
            line = p.stdout.readline().split()
            self.assertEqual(line[0], "ready")
            self.assertLessEqual(int(line[1]), 16, "the per-uid cap (16) closes the rest")
            worst = 0.0
            for i in range(20):
                t0 = time.monotonic()
                r = raw_call(self.env.socket, "io.vigil.Auth.Report",
                             {"user": "bob", "outcome": "success", "rhost": "192.0.2.1", "tty": "ssh"})
                worst = max(worst, time.monotonic() - t0)
                self.assertEqual(r["parameters"]["verdict"], "allow")
            self.assertLess(worst, 0.050, "root's slowest login decision took %.1f ms" % (worst * 1000))
            self.assertEqual(self.env.login("bob", "bob-pw"), PAM_SUCCESS)
        finally:
            p.kill()
            p.wait()
            p.stdout.close()


class StreamingFlood(VigilTestCase):
    def test_a_caller_that_never_stops_sending_leaves_root_answered_within_50ms(self):
        # One connection of alice's that always has requests waiting and
        # always reads its answers: vigild must still serve everyone else
        # between two of them.
        code = ("import socket, sys, threading, time\n"
                "s = socket.socket(socket.AF_UNIX); s.connect(%r)\n"
                "ping = b'{\"method\":\"io.vigil.Daemon.Ping\",\"parameters\":{}}\\0' * 200\n"
                "s.sendall(ping * 10)\n"
                "def drain():\n"
                "    while s.recv(1 << 16):\n"
                "        pass\n"
                "threading.Thread(target=drain, daemon=True).start()\n"
                "print('ready', flush=True)\n"
                "end = time.time() + 30\n"
                "while time.time() < end:\n"
                "    s.sendall(ping)\n" % self.env.socket)
        # vigild stopped while the first 2,000 requests go in: they are all
        # there when it accepts the connection.
        self.env.proc.send_signal(signal.SIGSTOP)
        try:
            p = subprocess.Popen(self.env.as_uid(ALICE, [PY, "-c", code]), stdout=subprocess.PIPE, text=True)
            line = p.stdout.readline().split()
        finally:
            self.env.proc.send_signal(signal.SIGCONT)
        try:
            self.assertEqual(line, ["ready"])
            time.sleep(0.3)
            worst = 0.0
            for i in range(20):
                t0 = time.monotonic()
                r = raw_call(self.env.socket, "io.vigil.Auth.Report",
                             {"user": "bob", "outcome": "success", "rhost": "192.0.2.1", "tty": "ssh"})
                worst = max(worst, time.monotonic() - t0)
                self.assertEqual(r["parameters"]["verdict"], "allow")
            self.assertIsNone(p.poll(), "the flood stopped early: it tested nothing")
            self.assertLess(worst, 0.050, "root's slowest login decision took %.1f ms" % (worst * 1000))
        finally:
            p.kill()
            p.wait()
            p.stdout.close()


class BadDaemon(VigilTestCase):
    """The module against a daemon that is absent, silent, garbled or cut
    short: within timeout + 50 ms per call, never success with
    failmode=secure, and with failmode=safe only the absent daemon lets the
    password module decide."""
    start_daemon = False

    def test_each_call_returns_within_timeout_plus_50ms(self):
        for mode in ("absent", "silent", "garbage", "half"):
            fake = None if mode == "absent" else FakeDaemon(self.env.socket, mode)
            try:
                for service in ("vigil-fast", "vigil-fast-safe"):
                    out = self.env.pam("alice", ["alice-pw"], service=service, ops="auth,account")
                    for r, ms in zip(out["results"], out["timings_ms"]):
                        self.assertLess(ms, 500 + 50, "%s, %s, %s: %.1f ms" % (mode, service, r["op"], ms))
                    rc = out["results"][0]["rc"]
                    if service == "vigil-fast" or mode != "absent":
                        self.assertEqual(rc, PAM_AUTHINFO_UNAVAIL, "%s, %s" % (mode, service))
                    else:
                        self.assertEqual(rc, PAM_SUCCESS, "safe, absent: the password module decides")
            finally:
                if fake:
                    fake.close()

    def test_a_caller_stopped_mid_transaction_never_fails_open(self):
        # The daemon never answers; the caller is stopped past its deadline
        # and continued: the module must not take the stop for an answer.
        fake = FakeDaemon(self.env.socket, "silent")
        try:
            p = subprocess.Popen([PAMDRIVE, "--service", "vigil-fast", "--user", "alice", "--answer", "alice-pw",
                                  "--ops", "auth,account", "--rhost", "203.0.113.7", "--tty", "ssh"],
                                 env=self.env.pam_env(), stdout=subprocess.PIPE, text=True)
            time.sleep(0.2)
            p.send_signal(signal.SIGSTOP)
            time.sleep(1.0)
            p.send_signal(signal.SIGCONT)
            out, _ = p.communicate(timeout=20)
            res = json.loads(out.strip().splitlines()[-1])["results"]
            self.assertEqual([r["rc"] for r in res], [PAM_AUTHINFO_UNAVAIL, PAM_AUTHINFO_UNAVAIL])
        finally:
            fake.close()

    def test_a_stopped_caller_with_a_live_daemon_is_still_counted(self):
        self.env.start()
        p = subprocess.Popen([PAMDRIVE, "--service", "vigil-slow", "--user", "alice", "--answer", "wrong",
                              "--ops", "auth", "--rhost", "203.0.113.7", "--tty", "ssh"],
                             env=self.env.pam_env(), stdout=subprocess.PIPE, text=True)
        time.sleep(0.2)
        p.send_signal(signal.SIGSTOP)
        time.sleep(1.0)
        p.send_signal(signal.SIGCONT)
        out, _ = p.communicate(timeout=20)
        self.assertEqual(json.loads(out.strip().splitlines()[-1])["results"][0]["rc"], PAM_AUTH_ERR)
        self.assertEqual(self.env.status("alice")["failures"], 1)

    def test_a_caller_out_of_descriptors_never_fails_open(self):
        self.env.start()
        for service in ("vigil", "vigil-safe"):
            out = self.env.pam("alice", ["alice-pw"], service=service, ops="auth,account")
            # pamdrive takes every descriptor: the module cannot even open
            # its socket, which is not "absent", so safe refuses too.
            starved = subprocess.run(
                [PAMDRIVE, "--service", service, "--user", "alice", "--answer",
                 "alice-pw", "--ops", "auth,account", "--rhost", "203.0.113.7", "--tty", "ssh",
                 "--exhaust-fds"], env=self.env.pam_env(), capture_output=True, text=True, timeout=30)
            res = json.loads(starved.stdout.strip().splitlines()[-1])["results"]
            self.assertNotEqual(res[0]["rc"], PAM_SUCCESS, service)
            self.assertNotEqual(res[1]["rc"], PAM_SUCCESS, service)
            self.assertEqual(out["results"][0]["rc"], PAM_SUCCESS, "with descriptors it works")

    def test_the_module_works_after_fork_in_the_caller(self):
        self.env.start()
        for password, want in (("wrong", PAM_AUTH_ERR), ("alice-pw", PAM_SUCCESS)):
            p = subprocess.run([PAMDRIVE, "--service", "vigil", "--user", "alice", "--answer", password,
                                "--answer", password, "--ops", "auth", "--rhost", "203.0.113.7", "--tty",
                                "ssh", "--fork"], env=self.env.pam_env(), capture_output=True, text=True,
                               timeout=60)
            out = json.loads(p.stdout.strip().splitlines()[-1])
            self.assertEqual(out["results"][0]["rc"], want)
            self.assertIsInstance(out["child_results"], list, "the child hung or failed: %r" % out["child_results"])
            self.assertEqual(out["child_results"][0]["rc"], want, "after fork")
            if want == PAM_AUTH_ERR:
                self.assertEqual(self.env.status("alice")["failures"], 2, "the child's failure counted too")


class Parallel64(VigilTestCase):
    lockout = {"deny": 3}

    def setUp(self):
        super().setUp()
        # Every attempt comes from one address: keep the source throttle out
        # of the way, so that the account alone decides.
        self.env.conf["throttle"] = {"deny": 0}
        self.env.write_conf()
        self.env.reload()
        time.sleep(0.3)

    def test_64_parallel_transactions_for_one_user_decide_at_most_deny(self):
        threads = [self.env.pam_async("alice", ["wrong"], service="vigil-slow") for _ in range(64)]
        for t, _ in threads:
            t.join()
        rcs = [r["results"][0]["rc"] for _, r in threads]
        self.assertEqual(rcs.count(PAM_AUTH_ERR), 64)
        st = self.env.status("alice")
        self.assertTrue(st["locked"])
        self.assertEqual(st["failures"], 3, "at most deny were decided as failures")
        self.assertEqual(st["refused"], 61, "every other one was refused")

    def test_64_parallel_transactions_across_64_users_lose_no_count(self):
        users = add_users(self.env, "p", 64, 4000)
        # A fresh start, so that vigild's NSS sees the new users at once.
        self.env.stop()
        self.env.start()
        threads = [self.env.pam_async(u, ["wrong"], service="vigil-slow") for u in users]
        for t, _ in threads:
            t.join()
        self.env.kill9()  # what was answered is on disk
        ok, stored = buckets(os.path.join(self.env.state, "vigil.db"))
        self.assertEqual(ok, "ok")
        counts = [stored.get(4000 + i, (0, 0))[0] for i in range(64)]
        self.assertEqual(counts, [1] * 64, "one failure sent per user, one stored per user")


if __name__ == "__main__":
    unittest.main(verbosity=2)
