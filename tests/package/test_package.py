"""The Debian package (debian/), as an administrator gets it.

Built with dpkg-buildpackage -us -uc -b from a copy of the source tree in a
temporary directory (the checkout is not written to), checked by lintian,
then installed, enabled, upgraded, removed and purged with dpkg in a
throwaway root: an overlay whose lower layer is / and whose upper layer is a
tmpfs, in a private mount namespace (this file runs itself again under
unshare). Nothing on the machine changes.

No systemd runs in that root, yet "/run/systemd/system" exists there and
systemctl is a stand-in that records what it is asked, so the test sees what
the maintainer scripts ask systemd to do. pam-auth-update is wrapped to record
each call and whether pam_vigil.so was on disk at that moment; the real one
does the work.

The expected PAM stack comes from the README ("Install on a host" and "The
PAM stack"), so a README that no longer matches the profiles fails here.

Root only (mounts, chroot, dpkg). Takes a few minutes: the package build
compiles everything once more (DEB_BUILD_OPTIONS parallel=2 noopt, niced).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.abspath(os.environ.get("VIGIL_SOURCE_DIR", os.path.join(HERE, "..", "..")))
README = os.path.join(SOURCE, "README.md")
NS_MARK = "VIGIL_PACKAGE_TEST_IN_NAMESPACE"

UNITS = ["vigild.service", "vigild.socket", "vigild-admin.socket", "vigild-token.socket"]
ENABLED_SOCKETS = ["vigild.socket", "vigild-admin.socket"]
EVENTS = "/vigil-test-events.log"

# Records every call. What works without a running systemd (--root=, as
# deb-systemd-helper's "preset" on a first install) goes to the real
# systemctl; otherwise it gives deb-systemd-invoke enough answers: a unit is
# "enabled" when a .wants link names it, and nothing is active.
SYSTEMCTL_STANDIN = """#!/bin/sh
echo "systemctl $*" >> %(events)s
case " $* " in
  *" --root="*) exec /usr/bin/systemctl.real "$@" ;;
esac
for last in "$@"; do :; done
case " $* " in
  *" is-enabled "*)
    if ls /etc/systemd/system/*.wants/"$last" >/dev/null 2>&1; then echo enabled; exit 0; fi
    echo disabled; exit 1 ;;
  *" is-active "*) exit 3 ;;
esac
exit 0
"""

PAM_AUTH_UPDATE_WRAPPER = """#!/bin/sh
if [ -e %(module)s ]; then m=present; else m=absent; fi
echo "pam-auth-update $* (pam_vigil.so $m)" >> %(events)s
/usr/sbin/pam-auth-update.real "$@"
rc=$?
n=$(grep -ls '^[[:space:]]*[^#[:space:]].*pam_vigil[.]so' /etc/pam.d/common-* | wc -l)
echo "pam-auth-update exit $rc; common files naming pam_vigil.so: $n" >> %(events)s
exit $rc
"""


def run(cmd, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    return subprocess.run(cmd, **kw)


def must(cmd, **kw):
    p = run(cmd, **kw)
    if p.returncode != 0:
        raise AssertionError("%s: exit %d\n%s%s" % (" ".join(cmd), p.returncode, p.stdout, p.stderr))
    return p


def parse_pam_lines(text):
    """(type, control, module, args) for each line of a PAM stack; comments
    and blank lines dropped, "[...]" kept whole."""
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("@"):
            continue
        m = re.match(r"(\S+)\s+(\[[^\]]*\]|\S+)\s+(\S+)\s*(.*)$", line)
        if not m:
            raise AssertionError("not a PAM line: %r" % line)
        typ, control, module, args = m.groups()
        out.append((typ, " ".join(control.split()), module, " ".join(args.split())))
    return out


def readme_section(text, title):
    start = text.index("\n## " + title)
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else len(text)]


def readme_blocks(section):
    return re.findall(r"```[a-z]*\n(.*?)```", section, re.S)


def readme_expectations():
    """The common-auth block of "Install on a host" and the account, session
    and password lines of "The PAM stack"."""
    with open(README) as f:
        text = f.read()
    install = readme_section(text, "Install on a host")
    auth = [b for b in readme_blocks(install) if "pam_vigil.so authfail" in b and "pam_deny.so" in b]
    if len(auth) != 1:
        raise AssertionError("README, Install on a host: expected one common-auth block, found %d" % len(auth))
    stack = readme_section(text, "The PAM stack")
    blocks = readme_blocks(stack)
    if not blocks:
        raise AssertionError("README, The PAM stack: no code block")
    others = [l for l in parse_pam_lines(blocks[0]) if l[0] in ("account", "session", "password")]
    return parse_pam_lines(auth[0]), others


def normalise(line):
    typ, control, module, args = line
    return (typ, re.sub(r"success=\d+", "success=N", control), module, args)


def copy_source(dest):
    """The tree without build directories, git metadata or old package output."""
    top_skip = {".git"}

    def ignore(directory, names):
        rel = os.path.relpath(directory, SOURCE)
        skip = set()
        for n in names:
            if rel == "." and (n in top_skip or n.startswith("build") or n.startswith("obj-")):
                skip.add(n)
            elif rel == "debian" and (n in ("vigil", "tmp", ".debhelper", "files") or n.endswith(".substvars")
                                      or n.endswith(".debhelper.log") or n.endswith(".debhelper")
                                      or n == "debhelper-build-stamp"):
                skip.add(n)
            elif n == "__pycache__":
                skip.add(n)
        return skip
    shutil.copytree(SOURCE, dest, ignore=ignore, symlinks=True)


def reexec_in_private_mount_namespace():
    if os.environ.get(NS_MARK):
        return
    os.environ[NS_MARK] = "1"
    sys.stdout.flush()
    os.execvp("unshare", ["unshare", "--mount", "--propagation", "private",
                          sys.executable, os.path.abspath(__file__)] + sys.argv[1:])


class Overlay:
    """/ as the lower layer of an overlay on a tmpfs, with /proc, /dev and a
    fresh /run. Only in this process's private mount namespace."""

    def __init__(self, base):
        self.base = base
        must(["mount", "-t", "tmpfs", "vigil-pkg-test", base])
        for d in ("upper", "work", "root"):
            os.mkdir(os.path.join(base, d))
        self.root = os.path.join(base, "root")
        must(["mount", "-t", "overlay", "overlay", "-o",
              "lowerdir=/,upperdir=%s/upper,workdir=%s/work" % (base, base), self.root])
        must(["mount", "-t", "proc", "proc", self.path("/proc")])
        must(["mount", "--rbind", "/dev", self.path("/dev")])
        must(["mount", "-t", "tmpfs", "run", self.path("/run")])
        os.makedirs(self.path("/run/lock"))
        # "systemd runs": the maintainer scripts then talk to systemctl.
        os.makedirs(self.path("/run/systemd/system"))

    def path(self, p):
        return os.path.join(self.root, p.lstrip("/"))

    def run(self, *cmd, check=True):
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8", "HOME": "/root",
               "DEBIAN_FRONTEND": "noninteractive"}
        p = run(["chroot", self.root] + list(cmd), env=env)
        if check and p.returncode != 0:
            raise AssertionError("in the overlay, %s: exit %d\n%s%s" % (" ".join(cmd), p.returncode,
                                                                         p.stdout, p.stderr))
        return p

    def write(self, p, text, mode=0o644):
        with open(self.path(p), "w") as f:
            f.write(text)
        os.chmod(self.path(p), mode)

    def read(self, p):
        with open(self.path(p)) as f:
            return f.read()

    def pamd(self):
        out = {}
        d = self.path("/etc/pam.d")
        for n in sorted(os.listdir(d)):
            p = os.path.join(d, n)
            if os.path.isfile(p):
                with open(p, "rb") as f:
                    out[n] = f.read()
        return out

    def events(self):
        """The record since the last call."""
        p = self.path(EVENTS)
        if not os.path.exists(p):
            return []
        with open(p) as f:
            lines = f.read().splitlines()
        os.unlink(p)
        return lines


def pamd_diff(before, after):
    changed = sorted(n for n in set(before) | set(after) if before.get(n) != after.get(n))
    return changed


@unittest.skipUnless(os.geteuid() == 0, "needs root (mounts, chroot, dpkg)")
class DebianPackage(unittest.TestCase):
    """One life of the package, step by step in setUpClass; each test checks
    one promise against what was recorded."""

    @classmethod
    def setUpClass(cls):
        if run(["dpkg-query", "-W", "-f=${Status}", "vigil"]).stdout.endswith(" installed"):
            raise unittest.SkipTest("a vigil package is installed on this machine: the test needs one without it")
        cls.tmp = tempfile.mkdtemp(prefix="vigil-package-")
        try:
            cls.build()
            cls.run_lintian()
            cls.live()
        except BaseException:
            cls.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.cleanup()

    @classmethod
    def cleanup(cls):
        # Never a recursive delete through the overlay: /dev in it is the
        # machine's own. Its mounts go with this mount namespace anyway.
        for n in os.listdir(cls.tmp):
            if n != "overlay":
                p = os.path.join(cls.tmp, n)
                shutil.rmtree(p, ignore_errors=True) if os.path.isdir(p) else os.unlink(p)
        overlay = os.path.join(cls.tmp, "overlay")
        if os.path.isdir(overlay):
            run(["umount", "-R", overlay])
            cls.overlay = None
            if os.path.ismount(overlay) or os.listdir(overlay):
                return
            os.rmdir(overlay)
        os.rmdir(cls.tmp)

    # --- the build -------------------------------------------------------

    @classmethod
    def build(cls):
        src = os.path.join(cls.tmp, "vigil")
        copy_source(src)
        opts = os.environ.get("DEB_BUILD_OPTIONS", "").split()
        if not any(o.startswith("parallel=") for o in opts):
            opts.append("parallel=2")
        # The debug-symbol package is not what this test is about. Without
        # it the debug information is stripped and thrown away, so it is not
        # generated at all (-g0 last): a third less compile time, and the
        # same code (GCC's code generation does not depend on -g).
        # Nor is the optimiser: noopt (-O0) halves the compile again, and
        # the suite's own build already compiles the same sources at -O2.
        # What this test checks (the files, the maintainer scripts, lintian
        # and the hardening flags it looks for) does not depend on it;
        # lintian only loses the fortified calls, an informational tag.
        opts.append("noautodbgsym")
        if "noopt" not in opts:
            opts.append("noopt")
        env = dict(os.environ, DEB_BUILD_OPTIONS=" ".join(opts), LC_ALL="C.UTF-8",
                   DEB_CFLAGS_APPEND="-g0", DEB_CXXFLAGS_APPEND="-g0")
        env.pop(NS_MARK, None)
        log = os.path.join(cls.tmp, "build.log")
        start = time.monotonic()
        with open(log, "w") as f:
            p = subprocess.run(["nice", "-n", "10", "dpkg-buildpackage", "-us", "-uc", "-b"],
                               cwd=src, env=env, stdout=f, stderr=subprocess.STDOUT)
        cls.build_seconds = time.monotonic() - start
        print("package build: %.0f s (DEB_BUILD_OPTIONS=%s)" % (cls.build_seconds, env["DEB_BUILD_OPTIONS"]))
        if p.returncode != 0:
            with open(log) as f:
                tail = f.read()[-6000:]
            raise AssertionError("dpkg-buildpackage failed (%d):\n%s" % (p.returncode, tail))
        version = must(["dpkg-parsechangelog", "-l", os.path.join(src, "debian", "changelog"),
                        "-S", "Version"]).stdout.strip()
        arch = must(["dpkg-architecture", "-qDEB_HOST_ARCH"]).stdout.strip()
        cls.multiarch = must(["dpkg-architecture", "-qDEB_HOST_MULTIARCH"]).stdout.strip()
        # dpkg-buildpackage writes next to the source directory.
        cls.deb = os.path.join(cls.tmp, "vigil_%s_%s.deb" % (version, arch))
        cls.changes = os.path.join(cls.tmp, "vigil_%s_%s.changes" % (version, arch))
        assert os.path.exists(cls.deb), os.listdir(cls.tmp)
        cls.version = version

    @classmethod
    def run_lintian(cls):
        # Not --show-overrides: lintian 2.116 then counts an overridden
        # warning towards --fail-on.
        p = run(["lintian", "--display-info", "--fail-on", "error,warning", cls.changes])
        cls.lintian = p
        print("lintian %s (exit %d):\n%s%s" % (os.path.basename(cls.changes), p.returncode, p.stdout,
                                               p.stderr))

    # --- install, enable, upgrade, remove, purge in the overlay -----------

    @classmethod
    def live(cls):
        os.mkdir(os.path.join(cls.tmp, "overlay"))
        o = cls.overlay = Overlay(os.path.join(cls.tmp, "overlay"))
        cls.module = "/usr/lib/%s/security/pam_vigil.so" % cls.multiarch
        # Stand-ins (in the overlay only): systemctl records, policy-rc.d
        # lets deb-systemd-invoke through, pam-auth-update is wrapped.
        os.rename(o.path("/usr/bin/systemctl"), o.path("/usr/bin/systemctl.real"))
        o.write("/usr/bin/systemctl", SYSTEMCTL_STANDIN % {"events": EVENTS}, 0o755)
        o.write("/usr/sbin/policy-rc.d", "#!/bin/sh\nexit 0\n", 0o755)
        os.rename(o.path("/usr/sbin/pam-auth-update"), o.path("/usr/sbin/pam-auth-update.real"))
        o.write("/usr/sbin/pam-auth-update",
                PAM_AUTH_UPDATE_WRAPPER % {"events": EVENTS, "module": cls.module}, 0o755)
        shutil.copy(cls.deb, o.path("/tmp/vigil.deb"))
        cls.group_before = o.run("getent", "group", "vigil-admin", check=False).returncode
        cls.pamd_before = o.pamd()
        cls.wants_before = cls.wants_in(o)
        o.events()

        cls.install = o.run("dpkg", "-i", "/tmp/vigil.deb")
        cls.install_events = o.events()
        cls.pamd_installed = o.pamd()
        cls.files = set(o.run("dpkg", "-L", "vigil").stdout.splitlines())
        cls.conffiles = o.run("dpkg-query", "-W", "-f=${Conffiles}", "vigil").stdout
        cls.group = o.run("getent", "group", "vigil-admin", check=False)
        cls.wants = cls.wants_in(o)
        cls.shipped = {}
        for p in ("/usr/share/pam-configs/vigil", "/usr/share/pam-configs/vigil-authfail",
                  "/usr/share/vigil/nginx/vigil-auth.conf", "/usr/share/vigil/nginx/vigil-guard.conf"):
            cls.shipped[p] = o.read(p) if os.path.exists(o.path(p)) else None

        # What the administrator does once vigild is configured.
        o.run("pam-auth-update", "--enable", "vigil", "vigil-authfail")
        o.events()
        cls.pamd_enabled = o.pamd()
        cls.has_module = {m: os.path.exists(o.path("/usr/lib/%s/security/%s" % (cls.multiarch, m)))
                          for m in ("pam_unix.so", "pam_sss.so", "pam_deny.so", "pam_permit.so",
                                    "pam_vigil.so")}

        # An upgrade (the same version again: prerm upgrade, postinst
        # configure with the old version).
        cls.upgrade = o.run("dpkg", "-i", "/tmp/vigil.deb")
        cls.upgrade_events = o.events()
        cls.pamd_upgraded = o.pamd()

        # A hand-written line naming the module: removal is refused.
        o.write("/etc/pam.d/vigil-test-by-hand", "auth required pam_vigil.so\n")
        cls.refused = o.run("dpkg", "-r", "vigil", check=False)
        cls.refused_events = o.events()
        cls.refused_module = os.path.exists(o.path(cls.module))
        cls.refused_pamd = o.pamd()
        os.unlink(o.path("/etc/pam.d/vigil-test-by-hand"))

        # State the daemon would have written.
        os.makedirs(o.path("/var/lib/vigil"), exist_ok=True)
        o.write("/var/lib/vigil/vigil.db", "state\n")

        cls.remove = o.run("dpkg", "-r", "vigil")
        cls.remove_events = o.events()
        cls.pamd_removed = o.pamd()
        cls.removed_module = os.path.exists(o.path(cls.module))
        cls.removed_conf = os.path.exists(o.path("/etc/vigil/vigil.conf"))

        cls.purge = o.run("dpkg", "--purge", "vigil")
        cls.purge_events = o.events()
        cls.pamd_purged = o.pamd()
        cls.wants_purged = cls.wants_in(o)
        cls.purged = {p: os.path.lexists(o.path(p)) for p in (
            "/etc/vigil", "/etc/pam.d/vigil", "/var/lib/vigil/vigil.db")}

    @staticmethod
    def wants_in(o):
        """The enabled units: (target.wants, unit) pairs under /etc/systemd/system."""
        out = set()
        base = o.path("/etc/systemd/system")
        for d in os.listdir(base) if os.path.isdir(base) else []:
            if d.endswith(".wants") and os.path.isdir(os.path.join(base, d)):
                out.update((d, u) for u in os.listdir(os.path.join(base, d)))
        return out

    # --- the checks ------------------------------------------------------

    def test_lintian_reports_no_error_and_no_unjustified_warning(self):
        # Every accepted tag has an override in debian/vigil.lintian-overrides
        # with its reason.
        self.assertEqual(self.lintian.returncode, 0, self.lintian.stdout + self.lintian.stderr)
        self.assertNotRegex(self.lintian.stdout, r"(?m)^[EW]: ")

    def test_every_part_lands_where_debian_expects_it(self):
        ma = self.multiarch
        expected = [
            "/usr/sbin/vigild", "/usr/bin/vigilctl",
            "/usr/lib/%s/security/pam_vigil.so" % ma,
            "/usr/lib/%s/security/pam_vigil/config.so" % ma,
            "/usr/lib/sysusers.d/vigil.conf",
            "/etc/vigil/vigil.conf", "/etc/pam.d/vigil",
            "/usr/share/pam-configs/vigil", "/usr/share/pam-configs/vigil-authfail",
            "/usr/share/vigil/nginx/vigil-auth.conf", "/usr/share/vigil/nginx/vigil-guard.conf",
            "/usr/share/man/man8/pam_vigil.8.gz", "/usr/share/man/man8/vigild.8.gz",
            "/usr/share/man/man8/vigilctl.8.gz", "/usr/share/man/man5/vigil.conf.5.gz",
            "/usr/share/doc/vigil/vigil.conf", "/usr/share/doc/vigil/vigil-auth",
        ]
        for p in expected:
            self.assertIn(p, self.files)
        # Units: where dh_installsystemd and systemd look on Debian 12.
        for u in UNITS:
            self.assertIn("/lib/systemd/system/" + u, self.files)
        self.assertFalse([p for p in self.files if "nginx" in p and p.startswith("/usr/share/doc")])
        for name in ("vigil", "vigil-authfail"):
            with open(os.path.join(SOURCE, "conf", "pam-configs", name)) as f:
                self.assertEqual(self.shipped["/usr/share/pam-configs/" + name], f.read())
        for name in ("vigil-auth.conf", "vigil-guard.conf"):
            with open(os.path.join(SOURCE, "conf", "nginx", name)) as f:
                self.assertEqual(self.shipped["/usr/share/vigil/nginx/" + name], f.read())

    def test_the_configuration_is_a_conffile(self):
        names = [l.split()[0] for l in self.conffiles.splitlines() if l.strip()]
        self.assertIn("/etc/vigil/vigil.conf", names)
        self.assertIn("/etc/pam.d/vigil", names)

    def test_sysusers_creates_the_admin_group(self):
        if self.group_before == 0:
            self.skipTest("vigil-admin exists on this machine already")
        self.assertEqual(self.group.returncode, 0, self.group.stderr)
        self.assertTrue(self.group.stdout.startswith("vigil-admin:"), self.group.stdout)

    def test_the_sockets_are_enabled_and_started_and_nothing_else(self):
        self.assertEqual(sorted(self.wants - self.wants_before),
                         sorted(("sockets.target.wants", u) for u in ENABLED_SOCKETS))
        starts = [e for e in self.install_events if e.startswith("systemctl") and
                  re.search(r" (start|restart|try-restart|reload-or-restart) ", e)]
        self.assertEqual(len(starts), 1, self.install_events)
        self.assertEqual(sorted(starts[0].split()[-2:]), sorted(ENABLED_SOCKETS), starts)
        self.assertNotIn("vigild-token.socket", starts[0])

    def test_install_enables_no_profile(self):
        # Both profiles say "Default: no": pam-auth-update --package ran and
        # /etc/pam.d is as it was, but for vigild's own service file.
        self.assertTrue([e for e in self.install_events if e.startswith("pam-auth-update --package")],
                        self.install_events)
        self.assertEqual(pamd_diff(self.pamd_before, self.pamd_installed), ["vigil"])
        self.assertNotIn("vigil", self.pamd_before)

    def test_common_auth_matches_the_readme(self):
        readme_auth, readme_others = readme_expectations()
        host = parse_pam_lines(self.pamd_enabled["common-auth"].decode())
        named = {l[2] for l in readme_auth}
        # The README shows pam_unix and pam_sss; this host's stack has the
        # modules that are installed here.
        want = [normalise(l) for l in readme_auth if self.has_module.get(l[2], True)]
        got = [normalise(l) for l in host if l[2] in named]
        self.assertEqual(got, want, "common-auth:\n" + self.pamd_enabled["common-auth"].decode())
        # The jump counts: each primary's success lands on pam_permit, past
        # authfail and pam_deny.
        for i, (typ, control, module, _) in enumerate(host):
            m = re.search(r"success=(\d+)", control)
            if m and module != "pam_vigil.so":
                self.assertEqual(host[i + int(m.group(1)) + 1][2], "pam_permit.so", host)
        # The other phases, as "The PAM stack" shows them.
        for typ, control, module, args in readme_others:
            name = {"account": "common-account", "session": "common-session",
                    "password": "common-password"}[typ]
            lines = parse_pam_lines(self.pamd_enabled[name].decode())
            self.assertIn((typ, control, module, args), lines, "%s:\n%s" % (name, self.pamd_enabled[name].decode()))

    def test_an_upgrade_keeps_the_profiles_and_restarts_a_running_vigild(self):
        self.assertEqual(self.pamd_upgraded, self.pamd_enabled)
        self.assertFalse([e for e in self.upgrade_events if "--remove" in e], self.upgrade_events)
        self.assertIn("systemctl try-restart vigild.service", self.upgrade_events)
        # Nothing is stopped: an enabled token checker keeps serving nginx.
        self.assertFalse([e for e in self.upgrade_events if re.search(r"\bstop\b", e)], self.upgrade_events)
        # The sockets are not restarted under a running vigild.
        self.assertFalse([e for e in self.upgrade_events if re.search(r" restart .*socket", e)],
                         self.upgrade_events)

    def test_a_hand_written_line_stops_the_removal(self):
        self.assertNotEqual(self.refused.returncode, 0)
        self.assertIn("vigil-test-by-hand", self.refused.stderr)
        self.assertTrue(self.refused_module)
        self.assertEqual({k: v for k, v in self.refused_pamd.items() if k != "vigil-test-by-hand"},
                         self.pamd_enabled)

    def test_remove_disables_the_profiles_while_the_module_is_there(self):
        ev = self.remove_events
        calls = [i for i, e in enumerate(ev) if e.startswith("pam-auth-update ")]
        self.assertTrue(calls, ev)
        first = ev[calls[0]]
        self.assertIn("--remove vigil vigil-authfail", first)
        self.assertIn("(pam_vigil.so present)", first)
        self.assertIn("pam-auth-update exit 0; common files naming pam_vigil.so: 0", ev[calls[0] + 1])
        # Then the units stop, all four.
        stops = [i for i, e in enumerate(ev) if re.search(r"^systemctl .*\bstop\b", e)]
        self.assertTrue(stops and stops[0] > calls[0], ev)
        stopped = set(" ".join(ev[i] for i in stops).split())
        self.assertTrue(set(UNITS) <= stopped, ev)
        self.assertFalse(self.removed_module)
        self.assertTrue(self.removed_conf, "a conffile stays until purge")
        # /etc/pam.d is as before install, but for the conffile /etc/pam.d/vigil.
        self.assertEqual(pamd_diff(self.pamd_before, self.pamd_removed), ["vigil"])

    def test_purge_leaves_etc_pam_d_as_it_was_and_keeps_the_state(self):
        self.assertEqual(self.pamd_purged, self.pamd_before)
        self.assertFalse(self.purged["/etc/vigil"])
        self.assertFalse(self.purged["/etc/pam.d/vigil"])
        self.assertEqual(self.wants_purged, self.wants_before)
        # Security state is never removed, and the purge says so.
        self.assertTrue(self.purged["/var/lib/vigil/vigil.db"])
        self.assertIn("/var/lib/vigil", self.purge.stderr + self.purge.stdout)


if __name__ == "__main__":
    if os.geteuid() == 0:
        reexec_in_private_mount_namespace()
    unittest.main(verbosity=2)
