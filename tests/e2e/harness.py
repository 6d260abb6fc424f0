"""End-to-end harness: a real vigild on a temporary socket and state
directory, the real pam_vigil.so driven through libpam by pamdrive
(libpamtest) under pam_wrapper, and users supplied by nss_wrapper.

Different callers are different real uids (setpriv --reuid). Nothing here
fakes the daemon, except FakeDaemon, which the fail-mode tests use on purpose.
"""
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("VIGIL_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
SOURCE = os.environ.get("VIGIL_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
# scripts/test's ASan passes run the plain build's suites against a vigild
# and vigilctl from another build (VIGIL_DAEMON_BUILD_DIR); vigilctl may
# come from a third (VIGIL_CTL_BUILD_DIR: the default pass sanitizes vigild
# alone, the process that reads hostile input).
DAEMON_BUILD = os.environ.get("VIGIL_DAEMON_BUILD_DIR", BUILD)
VIGILD = os.path.join(DAEMON_BUILD, "daemon", "vigild")
VIGILCTL = os.path.join(os.environ.get("VIGIL_CTL_BUILD_DIR", DAEMON_BUILD), "ctl", "vigilctl")
# pam_wrapper dlopens libpam with RTLD_DEEPBIND, which AddressSanitizer
# refuses: a sanitizer run takes pamdrive and the module from a plain build.
PAM_BUILD = os.environ.get("VIGIL_PAM_BUILD_DIR", BUILD)
PAMDRIVE = os.path.join(PAM_BUILD, "tests", "pamdrive")
MODULE = os.path.join(PAM_BUILD, "pam_module", "pam_vigil.so")
PAM_MATRIX = "/usr/lib/x86_64-linux-gnu/pam_wrapper/pam_matrix.so"
CHECKPW = os.path.join(HERE, "checkpw.py")
# The system's Python, for helpers run under another uid (a per-user Python
# install may not be readable by them).
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else "python3"


def _stage_for_other_uids():
    """Tests run pamdrive, the module (which pamdrive loads), vigilctl and the
    password checker as other uids (setpriv). A checkout in a directory they
    cannot traverse (root's home, a mktemp -d) would hide them: run copies
    from a directory every uid can reach, that only root can change, removed
    at exit. Does nothing when not root (no other uid is used then)."""
    global PAMDRIVE, MODULE, VIGILCTL, CHECKPW
    if os.geteuid() != 0:
        return
    import atexit
    parent = None
    # Not /run: a test mounts a tmpfs there (test_failmode.py, Journal).
    for p in ("/var/lib", "/var/cache", "/run"):
        if os.path.isdir(p) and os.stat(p).st_mode & 0o022 == 0 and os.stat(p).st_uid == 0:
            parent = p
            break
    stage = tempfile.mkdtemp(prefix="vigil-e2e-bin-", dir=parent)
    os.chmod(stage, 0o755)
    atexit.register(shutil.rmtree, stage, True)

    def copy(path):
        if not os.path.exists(path):
            return path  # not built (yet): the test that needs it says so
        dest = os.path.join(stage, os.path.basename(path))
        shutil.copy2(path, dest)
        os.chmod(dest, 0o755)
        return dest
    # The module's helper (pam_module/config_helper.h) is looked up beside
    # the module file, in pam_vigil/.
    helper = os.path.join(os.path.dirname(MODULE), "pam_vigil", "config.so")
    if os.path.exists(helper):
        os.mkdir(os.path.join(stage, "pam_vigil"), 0o755)
        shutil.copy2(helper, os.path.join(stage, "pam_vigil", "config.so"))
        os.chmod(os.path.join(stage, "pam_vigil", "config.so"), 0o755)
    PAMDRIVE, MODULE, VIGILCTL, CHECKPW = copy(PAMDRIVE), copy(MODULE), copy(VIGILCTL), copy(CHECKPW)


_stage_for_other_uids()

PAM_SUCCESS = 0
PAM_PERM_DENIED = 6
PAM_AUTH_ERR = 7
PAM_AUTHINFO_UNAVAIL = 9
PAM_USER_UNKNOWN = 10

# name: (uid, password). Aliases share a uid: NSS maps them to one account.
USERS = {
    "root": (0, "rootpw"),
    "alice": (1001, "alice-pw"),
    "Alice": (1001, "alice-pw"),
    "alice@EXAMPLE.COM": (1001, "alice-pw"),
    "bob": (1002, "bob-pw"),
    "carol": (1003, "carol-pw"),
    "dave": (1004, "dave-pw"),
}
# The admin socket's group ([daemon] admin_socket_group), by gid. Callers
# reach that socket only when setpriv gives them this group.
ADMIN_SOCKET_GROUP = ("vigil-admin", 1100)

STACK = """auth     [success=1 default=ignore]               {matrix} passdb={passdb}
auth     [default=die]                            {module} authfail {args}
auth     required                                 pam_permit.so
auth     [success=ok ignore=ignore default=die]   {module} authsucc {args}
account  required                                 {module} {args}
session  required                                 pam_permit.so
session  optional                                 {module} {args}
password [success=1 default=ignore]               {matrix} passdb={passdb}
password requisite                                pam_deny.so
password required                                 pam_permit.so
password optional                                 {module} {args}
"""

SLOW_STACK = """auth     optional                                 pam_exec.so quiet /bin/sleep {delay}
""" + STACK

# A password module that keeps PAM_AUTHTOK after the password step, as
# pam_unix does (pam_matrix wipes it): for the second-factor tests.
AUTHTOK_STACK = """auth     [success=1 default=ignore]               pam_exec.so quiet expose_authtok {python} {checkpw} {passdb}
auth     [default=die]                            {module} authfail {args}
auth     required                                 pam_permit.so
auth     [success=ok ignore=ignore default=die]   {module} authsucc {args}
account  required                                 {module} {args}
"""

# A stack that reports the failure twice in one pam_authenticate call.
DOUBLE_STACK = """auth     [success=2 default=ignore]               {matrix} passdb={passdb}
auth     [default=ignore]                         {module} authfail {args}
auth     [default=die]                            {module} authfail {args}
auth     required                                 pam_permit.so
auth     [success=ok ignore=ignore default=die]   {module} authsucc {args}
account  required                                 {module} {args}
"""


def defaults():
    return {
        "daemon": {},
        "lockout": {"deny": 3, "fail_interval": "15m", "unlock_time": "10m", "max_unlock_time": "24h"},
    }


def toml(conf):
    out = []
    for section, keys in conf.items():
        out.append("[%s]" % section)
        for k, v in keys.items():
            if isinstance(v, bool):
                out.append("%s = %s" % (k, "true" if v else "false"))
            elif isinstance(v, int):
                out.append("%s = %d" % (k, v))
            elif isinstance(v, list):
                out.append("%s = [%s]" % (k, ", ".join('"%s"' % x for x in v)))
            else:
                out.append('%s = "%s"' % (k, v))
    return "\n".join(out) + "\n"


def oathtool(secret, offset=0):
    argv = ["oathtool", "--totp", "-b", secret]
    if offset:
        argv += ["-N", "now %+d seconds" % offset]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()


def wait_for_fresh_step(margin=5):
    """Sleep past a step boundary when too close to one, so that a code
    generated now is still 'now' when the daemon checks it."""
    left = 30 - (time.time() % 30)
    if left < margin:
        time.sleep(left + 0.2)


PRIVATE_ETC_ENV = "VIGIL_PRIVATE_ETC"


def enter_private_etc():
    """For a script that adds accounts or PAM service files as root: runs it
    again in a mount namespace of its own (the first call execs `unshare`
    and does not return), where a private copy of /etc is mounted over
    /etc. The host's /etc is never written, even if the script is killed,
    and nothing else that reads it meanwhile sees the changes. Returns a
    function that undoes the mount and removes the copy."""
    if os.environ.get(PRIVATE_ETC_ENV) != "1":
        os.environ[PRIVATE_ETC_ENV] = "1"
        sys.stdout.flush()
        sys.stderr.flush()
        os.execvp("unshare", ["unshare", "--mount", "--propagation", "private", sys.executable] + sys.argv)
    copy = tempfile.mkdtemp(prefix="vigil-etc-")
    # "/etc/." also gives the copy /etc's own owner and mode (0755), which
    # every other uid needs to reach ld.so.cache and passwd through it.
    subprocess.run(["cp", "-a", "/etc/.", copy], check=True)
    subprocess.run(["mount", "--bind", copy, "/etc"], check=True)

    def undo():
        subprocess.run(["umount", "/etc"], check=False)
        shutil.rmtree(copy, ignore_errors=True)
    return undo


def chain_is_safe(path):
    """Whether only root can change path and every directory above it."""
    path = os.path.realpath(path)
    while True:
        st = os.stat(path)
        if st.st_uid != 0 or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return False
        if path == "/":
            return True
        path = os.path.dirname(path)


def scratch_parent():
    """Where scratch worlds go: a directory only root can change, all the way
    up, when there is one (vigild runs revoke hooks only from such a place,
    and /tmp is writable by anyone); else the default temporary directory."""
    if os.geteuid() == 0:
        for parent in ("/run", "/var/lib", "/var/cache"):
            if os.path.isdir(parent) and chain_is_safe(parent):
                return parent
    return None


class Env:
    """One scratch world: files, a daemon, helpers to drive PAM and vigilctl."""

    def __init__(self, lockout=None, daemon=None, module_args="", services=None, conf_text=None,
                 parent=None):
        # parent: where the scratch world goes (default: scratch_parent()).
        self.dir = tempfile.mkdtemp(prefix="vigil-e2e-", dir=parent or scratch_parent())
        os.chmod(self.dir, 0o755)
        self.socket = os.path.join(self.dir, "vigil.sock")
        self.admin_socket = os.path.join(self.dir, "admin.sock")
        self.state = os.path.join(self.dir, "state")
        self.conf_path = os.path.join(self.dir, "vigil.conf")
        self.log_path = os.path.join(self.dir, "vigild.log")
        self.conf = defaults()
        # nss_threads = 1: nss_wrapper, the tests' NSS, is not safe to call
        # from two threads at once (TSan shows races; under ASan, a getpwnam_r
        # beside the start-up report's getpwent answered "no such user").
        # vigild's option for such NSS modules makes one call at a time.
        self.conf["daemon"].update({"socket": self.socket, "state_dir": self.state,
                                    "admin_socket": self.admin_socket,
                                    "admin_socket_group": ADMIN_SOCKET_GROUP[0],
                                    "nss_threads": 1})
        # Suites other than the recovery tests administer as root; the
        # recovery tests turn this off (it is off by default).
        self.conf["recovery"] = {"allow_root": True}
        # vigild refuses to start when no admin group exists, and the tests'
        # group file has neither sudo nor wheel: the admin socket's group
        # (no member) stands in. Suites that test administrators set their own.
        self.conf["roles"] = {"admin_groups": ["sudo", "wheel", ADMIN_SOCKET_GROUP[0]]}
        self.conf["daemon"].update(daemon or {})
        self.conf["lockout"].update(lockout or {})
        if conf_text is None:
            self.write_conf()
        else:
            with open(self.conf_path, "w") as f:
                f.write(conf_text)
            os.chmod(self.conf_path, 0o644)
        self.proc = None
        self.logfile = None
        self._write_users()
        self.svc = os.path.join(self.dir, "pam.d")
        os.mkdir(self.svc)
        os.chmod(self.svc, 0o755)
        self.add_service("other", "auth required pam_deny.so\naccount required pam_deny.so\n")
        # socket= as well: the module keeps reporting even while someone
        # leaves a broken vigil.conf on disk.
        args = ("conf=%s socket=%s %s" % (self.conf_path, self.socket, module_args)).strip()
        self.module_args = args
        self.add_stack("vigil", STACK, args)
        self.add_stack("vigil-safe", STACK, args + " failmode=safe")
        self.add_stack("vigil-fast", STACK, args + " timeout=500")
        self.add_stack("vigil-fast-safe", STACK, args + " timeout=500 failmode=safe")
        self.add_stack("vigil-slow", SLOW_STACK, args, delay="0.4")
        self.add_stack("vigil-double", DOUBLE_STACK, args)
        self.add_stack("vigil-authtok", AUTHTOK_STACK, args)
        self.add_stack("vigil-noprompt", STACK, args + " prompt=no")
        for name, text in (services or {}).items():
            self.add_stack(name, text, args)

    # ---- files ----
    def write_conf(self):
        with open(self.conf_path, "w") as f:
            f.write(toml(self.conf))
        os.chmod(self.conf_path, 0o644)

    def _write_users(self):
        self.passwd = os.path.join(self.dir, "passwd")
        self.group = os.path.join(self.dir, "group")
        self.passdb = os.path.join(self.dir, "passdb")
        with open(self.passwd, "w") as f:
            for name, (uid, _) in USERS.items():
                f.write("%s:x:%d:%d:%s:/nonexistent:/bin/sh\n" % (name, uid, uid, name))
        with open(self.group, "w") as f:
            f.write("root:x:0:\nalice:x:1001:\nbob:x:1002:\ncarol:x:1003:\ndave:x:1004:\n"
                    "www-data:x:33:\n%s:x:%d:\n" % ADMIN_SOCKET_GROUP)
        with open(self.passdb, "w") as f:
            for name, (_, pw) in USERS.items():
                f.write("%s:%s:*\n" % (name, pw))
            # An unknown user with a password, to show that vigil refuses a
            # name NSS does not know even when the password module says yes.
            f.write("ghost:ghost-pw:*\n")
        for p in (self.passwd, self.group, self.passdb):
            os.chmod(p, 0o644)

    def add_service(self, name, text):
        path = os.path.join(self.svc, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)

    def add_stack(self, name, template, args, **kw):
        self.add_service(name, template.format(matrix=PAM_MATRIX, passdb=self.passdb, module=MODULE,
                                               args=args, python=PY, checkpw=CHECKPW, **kw))

    # ---- environment ----
    def nss_env(self):
        env = dict(os.environ)
        env.update({"LD_PRELOAD": "libnss_wrapper.so", "NSS_WRAPPER_PASSWD": self.passwd,
                    "NSS_WRAPPER_GROUP": self.group})
        return env

    def pam_env(self):
        env = self.nss_env()
        # pamdrive preloads these itself, after serialising pam_wrapper's
        # racy start-up (see tests/pam/pamdrive.cc).
        del env["LD_PRELOAD"]
        env.update({"PAM_WRAPPER": "1", "PAM_WRAPPER_SERVICE_DIR": self.svc,
                    "PAMDRIVE_PRELOAD": "libpam_wrapper.so libnss_wrapper.so"})
        return env

    @staticmethod
    def as_uid(uid, argv, groups=()):
        if uid is None or uid == 0:
            return argv
        grp = ["--groups=" + ",".join(str(g) for g in groups)] if groups else ["--clear-groups"]
        return ["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid] + grp + ["--"] + argv

    # ---- daemon ----
    def daemon_uses_pam(self):
        """vigild checks passwords itself (self-enrolment, [totp]
        enroll_pam_service): give it pam_wrapper and a password-only service,
        "vigil-password" (pam_matrix). Call before start()."""
        self.add_service("vigil-password", "auth required %s passdb=%s\naccount required pam_permit.so\n"
                         % (PAM_MATRIX, self.passdb))
        self.conf.setdefault("totp", {})["enroll_pam_service"] = "vigil-password"
        self.write_conf()
        self.pam_in_daemon = True

    @staticmethod
    def daemon_is_sanitized():
        """An ASan build of vigild cannot load pam_wrapper (RTLD_DEEPBIND).
        GCC links the sanitizer's runtime as a library, clang into the
        executable (which then exports its entry points)."""
        p = subprocess.run(["ldd", VIGILD], capture_output=True, text=True)
        if "libasan" in p.stdout or "libtsan" in p.stdout:
            return True
        p = subprocess.run(["nm", "-D", "--defined-only", VIGILD], capture_output=True, text=True)
        return any(line.split()[-1] in ("__asan_init", "__tsan_init") for line in p.stdout.splitlines() if line)

    def start(self, wait=True, extra_env=None):
        assert self.proc is None
        self.logfile = open(self.log_path, "a")
        env = self.nss_env()
        if getattr(self, "pam_in_daemon", False):
            env.update({"LD_PRELOAD": "libpam_wrapper.so libnss_wrapper.so", "PAM_WRAPPER": "1",
                        "PAM_WRAPPER_SERVICE_DIR": self.svc})
        env.update(extra_env or {})
        self.proc = subprocess.Popen([VIGILD, "--config", self.conf_path], stdout=self.logfile,
                                     stderr=self.logfile, env=env)
        if wait:
            self.wait_ready()
        return self.proc

    def wait_ready(self, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("vigild exited with %d:\n%s" % (self.proc.returncode, self.log()))
            try:
                if raw_call(self.socket, "io.vigil.Daemon.Ping", {}).get("parameters") is not None:
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError("vigild did not become ready:\n" + self.log())

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None:
            return None
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc = None
        self.logfile.close()
        return rc

    def kill9(self):
        return self.stop(signal.SIGKILL)

    def reload(self):
        self.proc.send_signal(signal.SIGHUP)

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_log(self, text, timeout=5):
        """Waits until vigild's log holds text; returns the log."""
        deadline = time.time() + timeout
        while text not in self.log() and time.time() < deadline:
            time.sleep(0.05)
        return self.log()

    # A sanitizer build (scripts/test --sanitize) reports here; any report fails.
    SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                         "WARNING: ThreadSanitizer")

    def close(self):
        self.stop()
        log = self.log()
        shutil.rmtree(self.dir, ignore_errors=True)
        found = [m for m in self.SANITIZER_MARKERS if m in log]
        if found:
            raise AssertionError("sanitizer report in vigild's log (%s):\n%s" % (", ".join(found), log[-6000:]))

    # ---- clients ----
    def pam(self, user, answers=(), ops="auth", service="vigil", rhost="203.0.113.7", tty="ssh",
            uid=None, timeout=30, ssh_key=None, ruser=None, session=None):
        """One PAM transaction. session: an AuditSession to run it in (as
        sudo or su run inside a login session)."""
        argv = [PAMDRIVE, "--service", service, "--user", user, "--ops", ops]
        if ruser is not None:  # as su and sudo set PAM_RUSER
            argv += ["--ruser", ruser]
        if ssh_key is not None:  # as sshd with ExposeAuthInfo yes
            argv += ["--pam-env", "SSH_AUTH_INFO_0=publickey %s\n" % ssh_key]
        for a in answers:
            argv += ["--answer", a]
        if rhost is not None:
            argv += ["--rhost", rhost]
        if tty is not None:
            argv += ["--tty", tty]
        if session is not None:
            p = session.run(self.as_uid(uid, argv), env=self.pam_env(), timeout=timeout)
        else:
            p = subprocess.run(self.as_uid(uid, argv), env=self.pam_env(), capture_output=True,
                               text=True, timeout=timeout)
        if p.returncode != 0:
            raise RuntimeError("pamdrive failed (%d): %s %s" % (p.returncode, p.stdout, p.stderr))
        out = json.loads(p.stdout.strip().splitlines()[-1])
        out["stderr"] = p.stderr
        return out

    def login(self, user, password, **kw):
        """One pam_authenticate; returns its code."""
        return self.pam(user, [password], **kw)["results"][0]["rc"]

    def password(self, user):
        return USERS[user][1]

    def pam_async(self, user, answers, **kw):
        result = {}

        def run():
            result.update(self.pam(user, answers, **kw))

        t = threading.Thread(target=run)
        t.start()
        return t, result

    def ctl(self, *args, uid=None, check=False, groups=(), env=None, session=None):
        """vigilctl as uid (root by default), with supplementary groups, and
        extra environment (VIGIL_CODE, VIGIL_VERIFY_CODE); in an
        AuditSession when given (an administrator's login session)."""
        argv = [VIGILCTL, "--socket", self.socket, "--admin-socket", self.admin_socket] + list(args)
        e = self.nss_env()
        e.update(env or {})
        if session is not None:
            p = session.run(self.as_uid(uid, argv, groups), env=e)
        else:
            p = subprocess.run(self.as_uid(uid, argv, groups), env=e, capture_output=True, text=True,
                               timeout=30, stdin=subprocess.DEVNULL, start_new_session=True)
        if check and p.returncode != 0:
            raise RuntimeError("vigilctl %s failed: %s" % (args, p.stderr))
        return p

    def raw_as(self, uid, calls, socket_path=None):
        """Speaks the protocol directly as uid (bypassing the module, as
        malware running as that user can): calls is a list of (method,
        params); returns the list of replies."""
        # Self-contained: under another uid the checkout may not be readable.
        code = ("import json, socket, sys\n"
                "def call(m, p):\n"
                "    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.settimeout(5)\n"
                "    s.connect(%r)\n"
                "    s.sendall(json.dumps({'method': m, 'parameters': p}).encode() + b'\\0')\n"
                "    out = b''\n"
                "    while not out.endswith(b'\\0'):\n"
                "        c = s.recv(65536)\n"
                "        if not c: break\n"
                "        out += c\n"
                "    s.close()\n"
                "    return json.loads(out[:-1]) if out.endswith(b'\\0') else None\n"
                "print(json.dumps([call(m, p) for m, p in json.loads(sys.stdin.read())]))\n"
                % (socket_path or self.socket))
        p = subprocess.run(self.as_uid(uid, [PY, "-c", code]), input=json.dumps(calls),
                           capture_output=True, text=True, env=self.nss_env(), timeout=60)
        if p.returncode != 0:
            raise RuntimeError("raw calls as uid %s failed: %s" % (uid, p.stderr))
        return json.loads(p.stdout)

    def status(self, user):
        p = self.ctl("status", user, "--json", check=True)
        return json.loads(p.stdout)


class AuditSession:
    """A login session as the kernel sees it: a process that set its
    loginuid (as pam_loginuid does at login) got a new audit session id, and
    every command run through it inherits that id (/proc/self/sessionid),
    as sudo and su inside a login session do. Needs root (CAP_AUDIT_CONTROL)."""

    SERVER = (
        "import json, subprocess, sys\n"
        "print(open('/proc/self/sessionid').read().strip(), flush=True)\n"
        "for line in sys.stdin:\n"
        "    req = json.loads(line)\n"
        "    p = subprocess.run(req['argv'], env=req['env'], capture_output=True, text=True,\n"
        "                       timeout=req['timeout'], stdin=subprocess.DEVNULL,\n"
        "                       start_new_session=True)\n"
        "    print(json.dumps([p.returncode, p.stdout, p.stderr]), flush=True)\n")

    def __init__(self, loginuid):
        def enter():
            with open("/proc/self/loginuid", "w") as f:
                f.write(str(loginuid))
        self.proc = subprocess.Popen([PY, "-c", self.SERVER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, preexec_fn=enter)
        self.id = int(self.proc.stdout.readline().strip())

    def run(self, argv, env, timeout=30):
        self.proc.stdin.write(json.dumps({"argv": argv, "env": env, "timeout": timeout}) + "\n")
        self.proc.stdin.flush()
        rc, out, err = json.loads(self.proc.stdout.readline())
        return subprocess.CompletedProcess(argv, rc, out, err)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(10)
        self.proc.stdout.close()


def raw_frame(path, data, timeout=2.0):
    """Sends bytes as they are; returns the reply frame without its NUL, or
    None when the daemon closed (or the timeout passed) before a whole one."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    out = b""
    try:
        s.connect(path)
        s.sendall(data)
        while not out.endswith(b"\0"):
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    finally:
        s.close()
    return out[:-1] if out.endswith(b"\0") else None


def raw_call(path, method, params, timeout=2.0):
    """One call on the wire, without vigil's client library."""
    reply = raw_frame(path, json.dumps({"method": method, "parameters": params}).encode() + b"\0", timeout)
    if reply is None:
        raise OSError("no complete reply")
    return json.loads(reply)


class FakeDaemon:
    """A misbehaving server on a socket, for the fail-mode tests only.

    mode: "silent" accepts and never answers; "garbage" answers junk;
    "half" answers half a frame and closes; "refused" leaves a socket file
    with no listener."""

    def __init__(self, path, mode):
        self.path, self.mode = path, mode
        self.stopped = threading.Event()
        self.conns = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if os.path.exists(path):
            os.unlink(path)
        self.sock.bind(path)
        os.chmod(path, 0o666)
        if mode == "refused":
            self.sock.close()
            return
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stopped.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            self.conns.append(c)
            if self.mode == "silent":
                continue
            try:
                c.settimeout(1)
                c.recv(65536)
                if self.mode == "garbage":
                    c.sendall(b"this is not a vigil reply\0")
                elif self.mode == "half":
                    c.sendall(b'{"parameters":{"verdict":"al')
                c.close()
            except OSError:
                pass

    def close(self):
        self.stopped.set()
        if self.mode != "refused":
            self.thread.join()
            self.sock.close()
        for c in self.conns:
            c.close()
        if os.path.exists(self.path):
            os.unlink(self.path)


class VigilTestCase(unittest.TestCase):
    """Gives each test a fresh Env (not started unless start=True)."""

    lockout = None
    daemon = None
    start_daemon = True

    def setUp(self):
        self.env = Env(lockout=self.lockout, daemon=self.daemon)
        if self.start_daemon:
            self.env.start()

    def tearDown(self):
        if self._outcome_failed():
            print("\n--- vigild log ---\n" + self.env.log())
        self.env.close()

    def _outcome_failed(self):
        # unittest (3.11) marks the outcome unsuccessful as soon as the test
        # body fails, before tearDown runs.
        return not getattr(getattr(self, "_outcome", None), "success", False)

    def fail_n(self, user, n, **kw):
        for _ in range(n):
            self.assertEqual(self.env.login(user, "wrong-password", **kw), PAM_AUTH_ERR)
