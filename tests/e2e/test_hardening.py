"""vigild's own hardening (the audit's five points):

1. revoke hooks: never through a symbolic link, only from a directory that
   nobody but root can change, all the way up to /; the file checked is the
   file run (fexecve);
2. children (revoke hooks, notify_command) inherit no descriptor, and every
   descriptor vigild holds is close-on-exec;
3. no core dumps, not dumpable;
4. a vigil.conf that anyone but root may write is refused (at start, on
   SIGHUP, by --check-config), and --check-config refuses all vigild would
   refuse at start;
5. a local flood (one uid, 16 connections, pipelined requests) is capped per
   uid and never delays root's logins."""
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import unittest

from harness import ADMIN_SOCKET_GROUP, PAM_SUCCESS, PY, VIGILD, VigilTestCase, chain_is_safe, toml
from test_recovery import UID, RecoveryCase


def safe_base():
    """A fresh directory only root can change, all the way up. Revoke hooks
    must live under one; the harness's scratch directories are under /tmp,
    which anyone may write."""
    for parent in ("/run", "/var/lib", "/var/cache", "/srv", "/opt"):
        if os.path.isdir(parent) and chain_is_safe(parent):
            base = tempfile.mkdtemp(prefix="vigil-hardening-", dir=parent)
            os.chmod(base, 0o755)
            return base
    raise unittest.SkipTest("no root-only directory to put revoke hooks in")


def wait_for(predicate, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def nonempty(path):
    return os.path.exists(path) and os.path.getsize(path) > 0


# A child lists its descriptors with ls itself (exec: no shell keeps a
# copy of a redirected stream around it).
LIST_FDS = "exec ls -l /proc/self/fd > %s"


def fd_links(listing):
    """{fd: target} from LIST_FDS's output, less the directory ls reads."""
    out = {}
    for line in listing.splitlines():
        m = re.search(r" (\d+) -> (.*)$", line)
        if m and not re.fullmatch(r"/proc/\d+/fd", m.group(2)):
            out[int(m.group(1))] = m.group(2)
    return out


def hold_connections(*paths):
    """Open client connections, held while a child is started."""
    conns = []
    for p in paths:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(p)
        conns.append(s)
    return conns


class HookCase(VigilTestCase):
    """vigild with [tokens] revoke_hooks_dir = BASE/parent/hooks, BASE under
    a root-only directory; root revokes a token to make an outbox item."""

    start_daemon = False

    def setUp(self):
        super().setUp()
        self.base = safe_base()
        self.parent = os.path.join(self.base, "parent")
        self.hooks_dir = os.path.join(self.parent, "hooks")
        os.makedirs(self.hooks_dir)
        os.chmod(self.parent, 0o755)
        os.chmod(self.hooks_dir, 0o755)
        self.env.conf["tokens"] = {"revoke_hooks_dir": self.hooks_dir, "hook_timeout": "5s",
                                   "http_socket": os.path.join(self.env.dir, "token-http.sock")}
        self.env.write_conf()
        self.env.start()

    def tearDown(self):
        super().tearDown()
        shutil.rmtree(self.base, ignore_errors=True)

    def write_hook(self, name, text, directory=None):
        path = os.path.join(directory or self.hooks_dir, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o755)
        return path

    def revoke(self):
        p = self.env.ctl("token", "issue", "--owner", "carol", "--name", "svc", "--scope", "reports",
                         "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        acc = json.loads(p.stdout)["accessor"]
        self.env.ctl("token", "revoke", acc, "--reason", "test", check=True)
        return acc


class HookPaths(HookCase):
    def test_a_good_hook_runs_with_the_revocation(self):
        got = os.path.join(self.base, "got.json")
        self.write_hook("10-good", "#!/bin/sh\ncat > %s\n" % got)
        acc = self.revoke()
        self.assertTrue(wait_for(lambda: nonempty(got)), self.env.log())
        with open(got) as f:
            self.assertEqual(json.loads(f.read())["accessor"], acc)

    def test_a_symbolic_link_is_never_followed(self):
        ran, good = os.path.join(self.base, "ran"), os.path.join(self.base, "good")
        # The link's target itself would pass every check: root's, 0755, in a safe directory.
        target = self.write_hook("linked", "#!/bin/sh\ntouch %s\n" % ran, directory=self.base)
        os.symlink(target, os.path.join(self.hooks_dir, "10-link"))
        self.write_hook("20-good", "#!/bin/sh\ncat > %s\n" % good)
        self.revoke()
        self.assertTrue(wait_for(lambda: nonempty(good)), self.env.log())
        self.assertFalse(os.path.exists(ran), "the link was followed")
        self.assertIn("revoke hook %s/10-link skipped: it is a symbolic link" % self.hooks_dir, self.env.log())

    def refused_until_fixed(self, unsafe, fix, why):
        """With `unsafe` applied no hook runs and the item is kept; `fix`
        makes the next retry deliver it."""
        ran = os.path.join(self.base, "ran.json")
        self.write_hook("10-hook", "#!/bin/sh\ncat > %s\n" % ran)
        unsafe()
        self.revoke()
        log = self.env.wait_log("not run: " + why)
        self.assertIn("revoke hooks in [tokens] revoke_hooks_dir %s not run: %s" % (self.hooks_dir, why), log)
        self.assertIn("every directory above it must be owned by root", log)
        time.sleep(1.5)  # a retry or two
        self.assertFalse(os.path.exists(ran), "a hook ran from an unsafe directory")
        fix()
        self.assertTrue(wait_for(lambda: nonempty(ran), timeout=15), "the item was kept:\n" + self.env.log())

    def test_a_hooks_directory_others_can_write_is_refused(self):
        self.refused_until_fixed(lambda: os.chmod(self.hooks_dir, 0o777),
                                 lambda: os.chmod(self.hooks_dir, 0o755),
                                 "%s is writable by group or others (mode 0777)" % self.hooks_dir)

    def test_a_group_writable_parent_is_refused(self):
        self.refused_until_fixed(lambda: os.chmod(self.parent, 0o775),
                                 lambda: os.chmod(self.parent, 0o755),
                                 "%s is writable by group or others (mode 0775)" % self.parent)

    def test_a_sticky_parent_like_tmp_is_refused(self):
        self.refused_until_fixed(lambda: os.chmod(self.parent, 0o1777),
                                 lambda: os.chmod(self.parent, 0o755),
                                 "%s is writable by group or others (mode 1777)" % self.parent)

    def test_a_parent_owned_by_a_user_is_refused(self):
        self.refused_until_fixed(lambda: os.chown(self.parent, UID["alice"], -1),
                                 lambda: os.chown(self.parent, 0, -1),
                                 "%s is owned by uid %d" % (self.parent, UID["alice"]))


class Descriptors(HookCase):
    def test_a_hook_inherits_no_descriptor(self):
        listing = os.path.join(self.base, "fds")
        hook = self.write_hook("10-fds", "#!/bin/sh\n" + LIST_FDS % listing + "\n")
        held = hold_connections(self.env.socket, self.env.socket, self.env.admin_socket,
                                os.path.join(self.env.dir, "token-http.sock"))
        try:
            self.revoke()
            self.assertTrue(wait_for(lambda: nonempty(listing)), self.env.log())
        finally:
            for s in held:
                s.close()
        with open(listing) as f:
            links = fd_links(f.read())
        self.assertTrue({0, 1, 2} <= set(links), links)
        # The one descriptor left open on purpose: the script itself at fd 3,
        # which its interpreter opens as /dev/fd/3 (fexecve). Nothing else.
        self.assertEqual(links, {0: links[0], 1: listing, 2: links[2], 3: hook})
        self.assertTrue(links[0].startswith("pipe:") and links[2].startswith("pipe:"), links)

    def test_every_descriptor_vigild_holds_is_close_on_exec(self):
        held = hold_connections(self.env.socket, self.env.admin_socket,
                                os.path.join(self.env.dir, "token-http.sock"))
        try:
            # Each connection is accepted and answered: then vigild holds it.
            time.sleep(0.3)
            seen = {fd: (t, bool(f & os.O_CLOEXEC)) for fd, (t, f) in descriptor_flags(self.env.proc.pid).items()}
        finally:
            for s in held:
                s.close()
        sockets = [fd for fd, (t, _) in seen.items() if t.startswith("socket:")]
        self.assertGreaterEqual(len(sockets), 6, "3 listeners and 3 connections: %s" % seen)
        self.assertEqual({fd: t for fd, (t, cloexec) in seen.items() if not cloexec}, {})


def descriptor_flags(pid):
    """{fd: (target, flags)} of every descriptor of pid above 2."""
    out = {}
    for fd in os.listdir("/proc/%d/fd" % pid):
        if int(fd) <= 2:
            continue
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                out[int(fd)] = (target, int(next(l for l in f if l.startswith("flags:")).split()[1], 8))
        except FileNotFoundError:  # closed meanwhile (a finished request's connection)
            pass
    return out


def pid_running(argv):
    for pid in os.listdir("/proc"):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if f.read().split(b"\0")[:-1] == [a.encode() for a in argv]:
                    return int(pid)
        except (OSError, ValueError):
            pass
    return None


@unittest.skipUnless(shutil.which("systemd-socket-activate"), "systemd-socket-activate is not installed")
class PassedSockets(VigilTestCase):
    start_daemon = False

    def test_sockets_systemd_passes_are_close_on_exec_and_non_blocking(self):
        http = os.path.join(self.env.dir, "token-http.sock")
        argv = [shutil.which("systemd-socket-activate"), "-l", self.env.socket, "-l", self.env.admin_socket,
                "-l", http, "--fdname=public:admin:token-http"]
        for k in ("LD_PRELOAD", "NSS_WRAPPER_PASSWD", "NSS_WRAPPER_GROUP"):
            argv += ["-E", k]
        daemon = [VIGILD, "--config", self.env.conf_path]
        self.env.logfile = open(self.env.log_path, "a")
        self.env.proc = subprocess.Popen(argv + daemon, env=self.env.nss_env(), stdout=self.env.logfile,
                                         stderr=self.env.logfile)
        self.assertTrue(wait_for(lambda: os.path.exists(http)), "systemd-socket-activate did not listen")
        self.env.wait_ready()
        pid = pid_running(daemon)
        self.assertIsNotNone(pid)
        flags = descriptor_flags(pid)
        passed = {fd: f for fd, (t, f) in flags.items() if fd in (3, 4, 5)}
        self.assertEqual(len(passed), 3, flags)
        for fd, f in passed.items():
            self.assertTrue(f & os.O_CLOEXEC and f & os.O_NONBLOCK, "fd %d flags %o" % (fd, f))
        os.kill(pid, signal.SIGTERM)
        self.assertTrue(wait_for(lambda: self.env.proc.poll() is not None or pid_running(daemon) is None))


class NotifyDescriptors(RecoveryCase):
    allow_root = True
    enrol = ()

    def test_notify_command_inherits_no_descriptor(self):
        listing = os.path.join(self.env.dir, "notify-fds")
        self.env.stop()
        self.env.conf["recovery"]["notify_command"] = LIST_FDS % listing
        self.env.write_conf()
        self.env.start()
        self.env.ctl("block", "carol", "--reason", "test", check=True)
        held = hold_connections(self.env.socket, self.env.socket, self.env.admin_socket)
        try:
            p = self.env.ctl("request-unblock", "carol", "--reason", "locked out", uid=UID["dave"])
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertTrue(wait_for(lambda: nonempty(listing)), self.env.log())
        finally:
            for s in held:
                s.close()
        with open(listing) as f:
            links = fd_links(f.read())
        self.assertEqual(sorted(links), [0, 1, 2], links)


class ProcessLimits(VigilTestCase):
    start_daemon = False

    def test_no_core_file(self):
        self.env.start()
        with open("/proc/%d/limits" % self.env.proc.pid) as f:
            line = next(l for l in f if l.startswith("Max core file size"))
        self.assertEqual(line.split()[4:6], ["0", "0"], line)

    def test_not_dumpable(self):
        # The kernel gives the /proc/PID files of a process that is not
        # dumpable to root:root; a dumpable one's are in its own group. So
        # vigild runs here with group vigil-admin.
        self.env.logfile = open(self.env.log_path, "a")
        gid = ADMIN_SOCKET_GROUP[1]
        self.env.proc = subprocess.Popen(
            ["setpriv", "--regid=%d" % gid, "--clear-groups", "--", VIGILD, "--config", self.env.conf_path],
            stdout=self.env.logfile, stderr=self.env.logfile, env=self.env.nss_env())
        self.env.wait_ready()
        with open("/proc/%d/status" % self.env.proc.pid) as f:
            egid = int(next(l for l in f if l.startswith("Gid:")).split()[2])
        self.assertEqual(egid, gid, "vigild runs with group %d" % gid)
        self.assertEqual(os.stat("/proc/%d/status" % self.env.proc.pid).st_gid, 0,
                         "vigild is dumpable: its /proc files are in its group")


class ConfigFile(VigilTestCase):
    """Each file vigild would refuse at start: --check-config refuses it with
    the same message and exit 1; vigild itself exits non-zero."""

    start_daemon = False

    def check(self, path=None, env=None):
        argv = [VIGILD, "--check-config"] + (["--config", path] if path else [])
        return subprocess.run(argv, capture_output=True, text=True, env=env or self.env.nss_env(), timeout=10)

    def start(self, path):
        return subprocess.run([VIGILD, "--config", path], capture_output=True, text=True,
                              env=self.env.nss_env(), timeout=10)

    def refused(self, message, path=None, start_rc=2):
        path = path or self.env.conf_path
        p = self.check(path)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn(message, p.stderr)
        s = self.start(path)
        self.assertEqual(s.returncode, start_rc, s.stderr)
        self.assertIn(message, s.stderr, "vigild gives the same message")

    def test_the_harness_file_root_0644_is_accepted(self):
        p = self.check(self.env.conf_path)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("OK", p.stdout)

    def test_a_file_owned_by_a_user_is_refused(self):
        os.chown(self.env.conf_path, UID["alice"], UID["alice"])
        self.refused("%s is owned by uid 1001 with mode 0644: it names commands vigild runs as root, so it "
                     "must be owned by root and writable by nobody else; run: chown root:root %s && "
                     "chmod go-w %s" % ((self.env.conf_path,) * 3))

    def test_a_file_group_or_others_can_write_is_refused(self):
        for mode in (0o664, 0o646, 0o666):
            os.chmod(self.env.conf_path, mode)
            self.refused("%s is owned by uid 0 with mode %04o" % (self.env.conf_path, mode))

    def test_a_link_is_judged_by_its_target(self):
        link = os.path.join(self.env.dir, "link.conf")
        os.symlink(self.env.conf_path, link)
        self.assertEqual(self.check(link).returncode, 0)
        os.chmod(self.env.conf_path, 0o666)
        self.refused("%s is owned by uid 0 with mode 0666" % link, path=link)

    def test_a_directory_is_refused(self):
        self.refused("%s is a directory, not a configuration file" % self.env.dir, path=self.env.dir)

    def test_a_missing_file_is_refused(self):
        missing = os.path.join(self.env.dir, "missing.conf")
        self.refused("%s: cannot open: No such file or directory" % missing, path=missing)

    def test_the_missing_default_file_means_the_defaults(self):
        if os.path.exists("/etc/vigil/vigil.conf"):
            self.skipTest("/etc/vigil/vigil.conf exists here")
        with open(self.env.group, "a") as f:  # a Debian host's sudo group: [roles] admin_groups
            f.write("sudo:x:27:\n")
        p = self.check()  # nss_wrapper's groups: vigil-admin exists
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("/etc/vigil/vigil.conf: OK", p.stdout)

    def test_an_unknown_admin_socket_group_is_refused(self):
        self.env.conf["daemon"]["admin_socket_group"] = "no-such-group"
        self.env.write_conf()
        self.refused('the admin socket\'s group "no-such-group" does not exist', start_rc=1)

    def test_an_unknown_http_socket_group_is_refused_when_the_socket_is_on(self):
        self.env.conf["tokens"] = {"http_socket_group": "no-such-group"}
        self.env.write_conf()
        self.assertEqual(self.check(self.env.conf_path).returncode, 0, "no http_socket: no group needed")
        self.env.conf["tokens"]["http_socket"] = os.path.join(self.env.dir, "token-http.sock")
        self.env.write_conf()
        self.refused('the token HTTP socket\'s group "no-such-group" does not exist', start_rc=1)

    def test_no_admin_group_at_all_is_refused(self):
        self.env.conf["roles"] = {"admin_groups": ["wheeel"]}
        self.env.write_conf()
        self.refused("no group of [roles] admin_groups (wheeel) exists on this host", start_rc=1)
        # One that exists beside one that does not: accepted (Debian's sudo, Red Hat's wheel).
        self.env.conf["roles"] = {"admin_groups": ["wheeel", ADMIN_SOCKET_GROUP[0]]}
        self.env.write_conf()
        p = self.check(self.env.conf_path)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_a_failed_start_leaves_no_socket(self):
        # The public socket is bound before the admin socket's group is
        # looked up; the failed start removes it again.
        self.env.conf["daemon"]["admin_socket_group"] = "no-such-group"
        self.env.write_conf()
        s = self.start(self.env.conf_path)
        self.assertEqual(s.returncode, 1, s.stderr)
        self.assertIn("does not exist", s.stderr)
        self.assertFalse(os.path.exists(self.env.socket), "a stale public socket was left")
        self.assertFalse(os.path.exists(self.env.admin_socket))

    def test_unknown_keys_and_sections_are_warnings_naming_the_line(self):
        with open(self.env.conf_path, "a") as f:
            f.write("\n[future]\nknob = 1\n")
        with open(self.env.conf_path) as f:
            lines = f.read().splitlines()
        section_line = lines.index("[future]") + 1
        p = self.check(self.env.conf_path)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("OK", p.stdout)
        self.assertIn("vigild: warning: %s:%d: unknown section [future], ignored"
                      % (self.env.conf_path, section_line), p.stderr)
        self.env.conf["lockout"]["deny_typo"] = 3
        self.env.write_conf()
        p = self.check(self.env.conf_path)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stderr, r'vigild: warning: %s:\d+: unknown key "deny_typo" in \[lockout\], ignored'
                         % re.escape(self.env.conf_path))
        # vigild starts, and logs the warning.
        self.env.start()
        self.assertIn('unknown key "deny_typo" in [lockout], ignored', self.env.log())

    def test_drop_ins_apply_in_order_and_are_guarded_like_the_file(self):
        dropins = self.env.conf_path + ".d"
        os.mkdir(dropins, 0o755)
        first, second = os.path.join(dropins, "10-first.conf"), os.path.join(dropins, "20-second.conf")
        with open(first, "w") as f:
            f.write('[daemon]\nadmin_socket_group = "no-such-group"\n')
        os.chmod(first, 0o644)
        self.refused('the admin socket\'s group "no-such-group" does not exist', start_rc=1)
        # A later drop-in wins; an error there names that file and line.
        with open(second, "w") as f:
            f.write('[daemon]\nadmin_socket_group = "%s"\n\n[lockout]\ndeny = 0\n' % ADMIN_SOCKET_GROUP[0])
        os.chmod(second, 0o644)
        self.refused("%s:5: lockout.deny: must be between" % second)
        with open(second, "w") as f:
            f.write('[daemon]\nadmin_socket_group = "%s"\n' % ADMIN_SOCKET_GROUP[0])
        p = self.check(self.env.conf_path)
        self.assertEqual(p.returncode, 0, p.stderr)
        # Files not named *.conf are not read.
        with open(os.path.join(dropins, "30-x.conf.dpkg-old"), "w") as f:
            f.write("[broken\n")
        self.assertEqual(self.check(self.env.conf_path).returncode, 0)
        # Whoever may write a drop-in or add one may run commands as root.
        os.chmod(second, 0o664)
        self.refused("%s is owned by uid 0 with mode 0664" % second)
        os.chmod(second, 0o644)
        os.chmod(dropins, 0o777)
        self.refused("%s is owned by uid 0 with mode 0777: a file added there names commands vigild runs "
                     "as root" % dropins)

    def test_a_rule_without_match_is_refused(self):
        with open(self.env.conf_path, "a") as f:
            f.write('\n[[devices.rule]]\naction = "deny"\n')
        self.refused("devices.rule: the rule has no match")

    def test_sighup_refuses_an_unsafe_file_and_keeps_the_running_one(self):
        self.env.start()
        os.chmod(self.env.conf_path, 0o666)
        self.env.conf["lockout"]["deny"] = 99
        with open(self.env.conf_path, "w") as f:  # mode kept: 0666
            f.write(toml(self.env.conf))
        self.env.reload()
        log = self.env.wait_log("reload refused")
        self.assertIn("reload refused, keeping the running configuration: %s is owned by uid 0 with mode "
                      "0666" % self.env.conf_path, log)
        self.assertNotIn("configuration reloaded", log)
        os.chmod(self.env.conf_path, 0o644)
        self.env.reload()
        self.assertIn("configuration reloaded", self.env.wait_log("configuration reloaded"))


# One uid's flood: 16 connections, each pipelining requests (a window of 64
# in flight), for SECONDS; prints what came back.
FLOOD = r"""
import json, socket, sys, threading, time
path, seconds = sys.argv[1], float(sys.argv[2])
stop = time.time() + seconds
counts = {"sent": 0, "replies": 0, "errors": {}}
lock = threading.Lock()

def frame(i, n):
    kind = n % 3
    if kind == 0:
        method, params = "io.vigil.Status.Get", {}
    else:
        user = "alice" if kind == 1 else "nobody-%d-%d" % (i, n)  # the second: an NSS miss each
        method, params = "io.vigil.Auth.Report", {"user": user, "outcome": "failure",
                                                  "nonce": "flood-%d-%d" % (i, n), "service": "flood"}
    return json.dumps({"method": method, "parameters": params}).encode() + b"\0"

def reader(s, window):
    buf = b""
    while True:
        try:
            chunk = s.recv(65536)
        except OSError:
            return
        if not chunk:
            return
        buf += chunk
        while b"\0" in buf:
            one, buf = buf.split(b"\0", 1)
            window.release()
            err = json.loads(one).get("error")
            with lock:
                counts["replies"] += 1
                if err:
                    counts["errors"][err] = counts["errors"].get(err, 0) + 1

def connection(i):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    window = threading.Semaphore(64)
    t = threading.Thread(target=reader, args=(s, window), daemon=True)
    t.start()
    n = 0
    while time.time() < stop:
        if not window.acquire(timeout=0.2):
            continue
        try:
            s.sendall(frame(i, n))
        except OSError:
            break
        n += 1
        with lock:
            counts["sent"] += 1
    time.sleep(0.5)
    s.close()

threads = [threading.Thread(target=connection, args=(i,)) for i in range(16)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps(counts))
"""


class Flood(VigilTestCase):
    def test_a_local_flood_never_delays_roots_logins(self):
        flood = subprocess.Popen(self.env.as_uid(UID["alice"], [PY, "-c", FLOOD, self.env.socket, "8"]),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env=self.env.nss_env())
        time.sleep(1.0)  # the flood is on
        times = []
        for _ in range(20):
            t0 = time.monotonic()
            rc = self.env.login("bob", self.env.password("bob"))
            times.append(time.monotonic() - t0)
            self.assertEqual(rc, PAM_SUCCESS)
        out, err = flood.communicate(timeout=60)
        self.assertEqual(flood.returncode, 0, err)
        counts = json.loads(out)
        if os.environ.get("VIGIL_VERBOSE"):
            print("\nflood: %s\nroot's logins: %s" % (counts, ", ".join("%.3f" % t for t in times)))
        self.assertLess(max(times), 0.5, "root's logins under the flood took %s" %
                        ", ".join("%.3f" % t for t in times))
        refused = counts["errors"].get("io.vigil.Error.Unavailable", 0)
        self.assertGreater(refused, 0, counts)
        # The budget: about 50 a second got through (plus the first second's worth).
        served = counts["replies"] - refused
        self.assertLess(served, 50 * 8 + 50 + 50, counts)
        self.assertIn("uid 1001 makes more than 50 requests a second", self.env.log())


if __name__ == "__main__":
    unittest.main(verbosity=2)
