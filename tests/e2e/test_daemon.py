"""vigild as a process: durability across kill -9, signals, the NSS pool's
size, configuration checks, help texts, and the concurrency bound under
parallel logins."""
import json
import os
import shutil
import tempfile
import signal
import subprocess
import threading
import time
import unittest

from harness import (PAM_AUTH_ERR, PAM_SUCCESS, VIGILCTL, VIGILD, Env, VigilTestCase, raw_call)


class Durability(VigilTestCase):
    def test_lock_survives_kill_9(self):
        self.fail_n("alice", 2)
        self.fail_n("bob", 3)
        before_alice = self.env.status("alice")
        before_bob = self.env.status("bob")
        self.assertTrue(before_bob["locked"])
        self.env.kill9()
        self.env.start()
        after_alice = self.env.status("alice")
        after_bob = self.env.status("bob")
        self.assertEqual(after_alice["failures"], 2)
        self.assertTrue(after_bob["locked"])
        self.assertEqual(after_bob["locked_until"], before_bob["locked_until"])
        self.assertEqual(after_bob["failures"], before_bob["failures"])
        self.assertEqual(self.env.login("bob", "bob-pw"), PAM_AUTH_ERR)
        # One more failure for alice locks her: her count was not lost.
        self.fail_n("alice", 1)
        self.assertTrue(self.env.status("alice")["locked"])

    def test_state_survives_a_clean_stop(self):
        self.fail_n("bob", 3)
        self.assertEqual(self.env.stop(), 0)
        self.assertFalse(os.path.exists(self.env.socket), "the socket is removed on stop")
        self.env.start()
        self.assertTrue(self.env.status("bob")["locked"])

    def test_database_passes_integrity_check(self):
        self.fail_n("bob", 3)
        self.env.kill9()
        p = subprocess.run(["sqlite3", self.env.state + "/vigil.db", "PRAGMA integrity_check"],
                           capture_output=True, text=True)
        if p.returncode == 127 or "not found" in p.stderr:
            self.skipTest("sqlite3 shell not installed")
        self.assertEqual(p.stdout.strip(), "ok")

    def test_second_daemon_on_the_same_state_refuses(self):
        p = subprocess.run([VIGILD, "--config", self.env.conf_path], capture_output=True, text=True,
                           env=self.env.nss_env(), timeout=10)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("in use by another vigild", p.stderr)
        self.assertEqual(self.env.login("alice", "alice-pw"), PAM_SUCCESS)


class Signals(VigilTestCase):
    def test_sighup_reloads_and_a_bad_config_keeps_the_old_one(self):
        self.env.conf["lockout"]["deny"] = 2
        self.env.write_conf()
        self.env.reload()
        self.env.wait_log("configuration reloaded")
        self.assertIn("configuration reloaded", self.env.log())
        self.fail_n("alice", 2)
        self.assertTrue(self.env.status("alice")["locked"], "deny=2 applies after the reload")

        with open(self.env.conf_path, "a") as f:
            f.write("[lockout]\nbogus = 1\n")
        self.env.reload()
        self.env.wait_log("reload refused")
        self.assertIn("reload refused", self.env.log())
        # The module keeps reporting (it has socket= in its arguments), and the
        # daemon keeps deny=2.
        self.fail_n("bob", 2)
        self.assertTrue(self.env.status("bob")["locked"], "the old configuration stays in force")

    def test_a_bad_live_edit_keeps_the_module_and_vigilctl_on_the_last_good_settings(self):
        # vigild publishes what its clients read, beside its socket.
        last_good = os.path.join(os.path.dirname(self.env.socket), "client.conf")
        st = os.stat(last_good)
        self.assertEqual((st.st_uid, st.st_mode & 0o777), (0, 0o644))
        with open(last_good) as f:
            text = f.read()
        self.assertIn('admin_socket = "%s"' % self.env.admin_socket, text)
        self.assertIn("console_exempt = true", text)
        with open(self.env.conf_path, "a") as f:
            f.write("[lockout]\nbogus = 1\n")
        self.env.reload()
        self.env.wait_log("reload refused")
        # vigilctl finds the admin socket there, and says why.
        p = subprocess.run([VIGILCTL, "--config", self.env.conf_path, "--socket", self.env.socket, "block", "carol",
                            "--reason", "x"], env=self.env.nss_env(), capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("using the last good settings vigild published in " + last_good, p.stderr)
        # The module keeps the console exemption vigild ran with: with vigild
        # down, root's console login is still let through to the password...
        self.env.stop()
        self.assertEqual(self.env.login("root", "rootpw", rhost=None, tty="tty1"), PAM_SUCCESS)
        # ...which the strict reading (no last good settings) refuses.
        os.unlink(last_good)
        self.assertNotEqual(self.env.login("root", "rootpw", rhost=None, tty="tty1"), PAM_SUCCESS)
        p = subprocess.run([VIGILCTL, "--config", self.env.conf_path, "--socket", self.env.socket, "audit"],
                           env=self.env.nss_env(), capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1, "without them vigilctl refuses a config that fails to parse")

    def test_the_module_without_its_config_helper_keeps_to_the_published_settings(self):
        # pam_vigil.so parses vigil.conf through its helper pam_vigil/config.so
        # (toml++), beside the module file, only when client.conf does not
        # stand for the files. A module whose helper is missing takes that as
        # a config that fails to parse: the last good settings, else the
        # strict reading; never a guess.
        import harness
        bare = tempfile.mkdtemp(prefix="vigil-nohelper-", dir=os.path.dirname(os.path.dirname(harness.MODULE)))
        self.addCleanup(shutil.rmtree, bare, True)
        os.chmod(bare, 0o755)
        module = os.path.join(bare, "pam_vigil.so")
        shutil.copy2(harness.MODULE, module)
        self.assertFalse(os.path.exists(os.path.join(bare, "pam_vigil", "config.so")))
        self.env.add_service("vigil-nohelper", harness.STACK.format(
            matrix=harness.PAM_MATRIX, passdb=self.env.passdb, module=module, args=self.env.module_args))
        # An edit vigild has not read: client.conf no longer stands for the file.
        with open(self.env.conf_path, "a") as f:
            f.write("# edited\n")
        r = self.env.pam("alice", ["wrong"], service="vigil-nohelper")
        self.assertEqual(r["results"][0]["rc"], PAM_AUTH_ERR)
        self.assertIn("cannot load the module's config reader", r["stderr"])
        self.assertIn("using the last good settings vigild published", r["stderr"])
        self.assertEqual(self.env.status("alice")["failures"], 1, "the failure still reached vigild")
        # The same module with its helper parses the edited file itself,
        # also when the stack names it through a symlink elsewhere (the
        # helper is found beside the file the link points to).
        r = self.env.pam("bob", ["wrong"])
        self.assertNotIn("config reader", r["stderr"])
        self.assertEqual(self.env.status("bob")["failures"], 1)
        link = os.path.join(bare, "linked.so")
        os.symlink(harness.MODULE, link)
        self.env.add_service("vigil-linked", harness.STACK.format(
            matrix=harness.PAM_MATRIX, passdb=self.env.passdb, module=link, args=self.env.module_args))
        r = self.env.pam("carol", ["wrong"], service="vigil-linked")
        self.assertNotIn("config reader", r["stderr"])
        self.assertEqual(self.env.status("carol")["failures"], 1)
        # Without the last good settings either: the strict reading. With
        # vigild down, root's console login is refused (no exemption), where
        # the module with its helper reads console_exempt = true and lets it
        # through to the password.
        self.env.stop()
        os.unlink(os.path.join(os.path.dirname(self.env.socket), "client.conf"))
        self.assertEqual(self.env.login("root", "rootpw", rhost=None, tty="tty1"), PAM_SUCCESS)
        self.assertNotEqual(self.env.login("root", "rootpw", rhost=None, tty="tty1", service="vigil-nohelper"),
                            PAM_SUCCESS)

    def test_one_login_looks_at_the_config_files_once(self):
        # The account line takes the files' answer the auth line got in the
        # same transaction (pam_vigil.cc, files_for): one look at client.conf
        # per login, not one per module line. Each new transaction looks
        # again, so an edit still applies from the next login on.
        import harness
        trace = os.path.join(self.env.dir, "login.strace")
        argv = ["strace", "-f", "-e", "trace=openat", "-o", trace, harness.PAMDRIVE, "--service", "vigil",
                "--user", "alice", "--ops", "auth,account", "--answer", self.env.password("alice"),
                "--rhost", "203.0.113.7", "--tty", "ssh"]
        p = subprocess.run(argv, env=self.env.pam_env(), capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        out = json.loads(p.stdout.strip().splitlines()[-1])
        self.assertEqual([r["rc"] for r in out["results"]], [PAM_SUCCESS, PAM_SUCCESS])
        with open(trace) as f:
            opens = [line for line in f if "client.conf" in line]
        self.assertEqual(len(opens), 1, "".join(opens))

    def test_client_conf_is_published_again_once_the_config_has_settled(self):
        # The module takes client.conf's settings instead of parsing
        # vigil.conf only when no config file changed within 2 s before
        # client.conf was written (file times have a granularity). setUp
        # wrote vigil.conf just before vigild started: vigild publishes
        # again once the window has passed, if the file still holds the text
        # it runs with.
        last_good = os.path.join(os.path.dirname(self.env.socket), "client.conf")

        def published():
            st = os.stat(last_good)
            with open(last_good) as f:
                return st.st_mtime_ns, f.read()

        def newest_change():
            st = os.stat(self.env.conf_path)
            return max(st.st_mtime_ns, st.st_ctime_ns)

        first, text = published()
        self.assertRegex(text, r'(?m)^stamp = "v1:[0-9a-f]{16}"$')
        if first > newest_change() + 2 * 10**9:
            self.skipTest("this machine took over 2 s to start vigild: nothing was racy")
        deadline = time.time() + 8
        while published()[0] == first and time.time() < deadline:
            time.sleep(0.1)
        again, text2 = published()
        self.assertGreater(again, newest_change() + 2 * 10**9, "published again after the window")
        self.assertEqual(text2.split("[daemon]")[1], text.split("[daemon]")[1], "the same settings")
        # An edit after a reload: the running text is no longer the file's,
        # so nothing is published again (the edit waits for its reload).
        with open(self.env.conf_path, "a") as f:
            f.write("# first edit\n")
        self.env.reload()
        self.env.wait_log("configuration reloaded")
        time.sleep(0.2)
        with open(self.env.conf_path, "a") as f:
            f.write("# second edit, not reloaded\n")
        after_reload = published()[0]
        time.sleep(3.5)
        self.assertEqual(published()[0], after_reload, "not published for a text vigild does not run")

    def test_sigterm_stops_cleanly(self):
        # With connections still open: their sessions end after the server.
        import socket
        idle = []
        for _ in range(3):
            s = socket.socket(socket.AF_UNIX)
            s.connect(self.env.socket)
            idle.append(s)
        half = socket.socket(socket.AF_UNIX)
        half.connect(self.env.socket)
        half.sendall(b'{"method":"io.vigil.Daemon.Ping"')
        time.sleep(0.1)
        self.assertEqual(self.env.stop(signal.SIGTERM), 0)
        self.assertIn("vigild stopped", self.env.log())
        for s in idle + [half]:
            s.close()


class NssThreads(VigilTestCase):
    """[daemon] nss_threads sizes the pool that calls NSS (read at start)."""
    start_daemon = False

    def threads_with(self, n):
        self.env.conf["daemon"]["nss_threads"] = n
        self.env.write_conf()
        self.env.start()
        try:
            self.assertFalse(self.env.status("alice")["locked"])  # a lookup went through the pool
            return len(os.listdir("/proc/%d/task" % self.env.proc.pid))
        finally:
            self.env.stop()

    def test_the_pool_has_the_configured_size(self):
        one, four = self.threads_with(1), self.threads_with(4)
        self.assertEqual(four - one, 3, "vigild with nss_threads = 4 has 3 more threads than with 1")

    def test_a_change_waits_for_the_next_start(self):
        self.env.start()
        self.env.conf["daemon"]["nss_threads"] = 3
        self.env.write_conf()
        self.env.reload()
        self.env.wait_log("configuration reloaded")
        self.assertIn("nss_threads changes take effect at the next start", self.env.log())


class ConfigCheck(VigilTestCase):
    start_daemon = False

    def test_check_config_accepts_the_shipped_example(self):
        with open(self.env.group, "a") as f:  # a Debian host's sudo group: [roles] admin_groups
            f.write("sudo:x:27:\n")
        p = subprocess.run([VIGILD, "--check-config", "--config",
                            os.path.join(os.path.dirname(__file__), "..", "..", "conf", "vigil.conf")],
                           capture_output=True, text=True, env=self.env.nss_env())  # its groups exist
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("OK", p.stdout)
        self.assertNotIn("warning", p.stderr, "the example sets only keys vigild knows")

    def test_check_config_names_the_line(self):
        self.env.conf["lockout"]["unlock_time"] = "ten minutes"
        self.env.write_conf()
        p = subprocess.run([VIGILD, "--check-config", "--config", self.env.conf_path],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 1)
        with open(self.env.conf_path) as f:
            lines = f.read().splitlines()
        lineno = next(i + 1 for i, l in enumerate(lines) if "ten minutes" in l)
        self.assertIn("%s:%d:" % (self.env.conf_path, lineno), p.stderr)
        self.assertIn("invalid duration", p.stderr)
        # And the daemon refuses to start with it.
        p = subprocess.run([VIGILD, "--config", self.env.conf_path], capture_output=True, text=True,
                           timeout=10)
        self.assertNotEqual(p.returncode, 0)

    def test_missing_explicit_config_is_an_error(self):
        p = subprocess.run([VIGILD, "--check-config", "--config", "/nonexistent.conf"],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 1)
        self.assertIn("/nonexistent.conf", p.stderr)

    def test_help_describes_every_command_and_option(self):
        h = subprocess.run([VIGILD, "--help"], capture_output=True, text=True).stdout
        for word in ("--config", "--check-config", "--debug", "--version"):
            self.assertIn(word, h)
        h = subprocess.run([VIGILCTL, "--help"], capture_output=True, text=True).stdout
        for word in ("status", "reset", "--socket", "--config", "--timeout", "--version"):
            self.assertIn(word, h)
        h = subprocess.run([VIGILCTL, "status", "--help"], capture_output=True, text=True).stdout
        self.assertIn("--json", h)
        self.assertIn("USER", h)
        h = subprocess.run([VIGILCTL, "reset", "--help"], capture_output=True, text=True).stdout
        self.assertIn("USER", h)


class Concurrency(VigilTestCase):
    def test_sixteen_parallel_attempts_honour_at_most_deny(self):
        # 16 overlapping attempts (each stack sleeps 0.4 s before its
        # password step, so they reach the daemon together): 15 wrong
        # passwords, and the right one sent while the others are in flight,
        # as soon as the lock holds. pam_faillock lets the right password
        # through here; vigil honours exactly deny outcomes and refuses every
        # later one, right password or not.
        threads = [self.env.pam_async("alice", ["wrong"], service="vigil-slow") for _ in range(15)]
        deadline = time.time() + 20
        while not self.env.status("alice")["locked"] and time.time() < deadline:
            time.sleep(0.01)
        right = self.env.pam_async("alice", ["alice-pw"])
        threads.append(right)
        for t, _ in threads:
            t.join()
        rcs = [r["results"][0]["rc"] for _, r in threads]
        self.assertEqual(rcs.count(PAM_AUTH_ERR), 16, rcs)
        st = self.env.status("alice")
        self.assertTrue(st["locked"])
        self.assertEqual(st["lock_count"], 1)
        self.assertEqual(st["failures"], 3, "exactly deny outcomes were honoured")
        self.assertEqual(st["refused"], 13, "every later attempt was refused, the right one too")

    def test_parallel_logins_across_users_lose_no_count(self):
        threads = []
        for user in ("alice", "bob", "carol"):
            for _ in range(2):
                threads.append(self.env.pam_async(user, ["wrong"], service="vigil-slow"))
        for t, _ in threads:
            t.join()
        for user in ("alice", "bob", "carol"):
            self.assertEqual(self.env.status(user)["failures"], 2, user)


class SanitizerReports(unittest.TestCase):
    def test_a_sanitizer_report_in_the_daemon_log_fails_the_test(self):
        # scripts/test --sanitize relies on this: the harness fails a test
        # whose daemon reported anything.
        env = Env()
        with open(env.log_path, "a") as f:
            f.write("==1==ERROR: LeakSanitizer: detected memory leaks\n")
        with self.assertRaises(AssertionError):
            env.close()
        clean = Env()
        clean.close()  # no report: no error


if __name__ == "__main__":
    unittest.main(verbosity=2)
