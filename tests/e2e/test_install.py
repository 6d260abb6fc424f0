"""The install tree (meson install --destdir), the systemd units in it
(systemd-analyze verify), and the pam-auth-update profiles applied to a
scratch /etc/pam.d, then driven through libpam (pam_wrapper)."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import BUILD, MODULE, PAM_AUTH_ERR, PAM_MATRIX, PAM_SUCCESS, VigilTestCase

EXPECTED = [
    "sbin/vigild",
    "bin/vigilctl",
    "security/pam_vigil.so",
    "security/pam_vigil/config.so",
    "lib/systemd/system/vigild.service",
    "lib/systemd/system/vigild.socket",
    "lib/systemd/system/vigild-admin.socket",
    "lib/systemd/system/vigild-token.socket",
    "lib/sysusers.d/vigil.conf",
    "etc/vigil/vigil.conf",
    "etc/pam.d/vigil",
    "share/doc/vigil/vigil",
    "share/pam-configs/vigil",
    "share/pam-configs/vigil-authfail",
    "share/doc/vigil/vigil.conf",
    "share/vigil/nginx/vigil-auth.conf",
    "share/vigil/nginx/vigil-guard.conf",
    "share/man/man8/pam_vigil.8",
    "share/man/man8/vigild.8",
    "share/man/man8/vigilctl.8",
    "share/man/man5/vigil.conf.5",
]
UNITS = ["vigild.service", "vigild.socket", "vigild-admin.socket", "vigild-token.socket"]


def install(destdir):
    subprocess.run(["meson", "install", "-C", BUILD, "--destdir", destdir, "--no-rebuild", "--quiet"],
                   check=True, capture_output=True, text=True)


def installed(destdir):
    out = {}
    for root, _, files in os.walk(destdir):
        for f in files:
            path = os.path.join(root, f)
            out[os.path.relpath(path, destdir)] = path
    return out


def find(files, tail):
    hits = [rel for rel in files if rel.endswith(tail) and "/usr/lib/systemd/system/" not in "/" + rel]
    return hits


class InstallTree(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dest = tempfile.mkdtemp(prefix="vigil-destdir-")
        install(cls.dest)
        cls.files = installed(cls.dest)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dest, ignore_errors=True)

    def path(self, tail):
        hits = find(self.files, tail)
        self.assertEqual(len(hits), 1, "%s: %s" % (tail, hits))
        return self.files[hits[0]]

    def test_every_part_is_where_debian_expects_it(self):
        for tail in EXPECTED:
            self.path(tail)
        self.assertTrue(os.access(self.path("sbin/vigild"), os.X_OK))
        self.assertTrue(os.access(self.path("bin/vigilctl"), os.X_OK))
        with open(self.path("lib/sysusers.d/vigil.conf")) as f:
            self.assertIn("g vigil-admin", f.read())

    def test_an_existing_configuration_is_never_overwritten(self):
        conf = self.path("etc/vigil/vigil.conf")
        with open(conf, "a") as f:
            f.write("# edited by the administrator\n")
        install(self.dest)
        with open(conf) as f:
            self.assertIn("# edited by the administrator", f.read())

    def test_the_service_runs_the_installed_daemon_with_notify_and_hardening(self):
        with open(self.path("lib/systemd/system/vigild.service")) as f:
            unit = f.read()
        vigild = "/" + find(self.files, "sbin/vigild")[0]
        conf = "/" + find(self.files, "etc/vigil/vigil.conf")[0]
        self.assertIn("ExecStart=%s --config %s\n" % (vigild, conf), unit)
        for line in ("Type=notify", "StateDirectory=vigil", "StateDirectoryMode=0700",
                     "RuntimeDirectoryPreserve=yes", "ProtectSystem=strict", "ProtectHome=yes",
                     "PrivateTmp=yes", "NoNewPrivileges=yes", "RestrictAddressFamilies=AF_UNIX",
                     "CapabilityBoundingSet=CAP_CHOWN", "SystemCallFilter=@system-service",
                     "MemoryDenyWriteExecute=yes", "LockPersonality=yes", "WatchdogSec="):
            self.assertIn(line, unit)
        for name, fdname, mode in (("vigild.socket", "public", "0666"), ("vigild-admin.socket", "admin", "0660"),
                                   ("vigild-token.socket", "token-http", "0660")):
            with open(self.path("lib/systemd/system/" + name)) as f:
                sock = f.read()
            self.assertIn("FileDescriptorName=%s\n" % fdname, sock)
            self.assertIn("SocketMode=%s\n" % mode, sock)
            self.assertIn("Service=vigild.service\n", sock)

    @unittest.skipUnless(shutil.which("systemd-analyze"), "systemd-analyze is not installed")
    def test_systemd_analyze_verify_passes(self):
        # The tree needs systemd's own units (sysinit.target...) and the
        # commands the units name.
        sysdir = os.path.join(self.dest, "usr", "lib", "systemd", "system")
        if not os.path.exists(os.path.join(sysdir, "sysinit.target")):
            os.makedirs(sysdir, exist_ok=True)
            subprocess.run(["cp", "-a", "/usr/lib/systemd/system/.", sysdir], check=True)
        os.makedirs(os.path.join(self.dest, "bin"), exist_ok=True)
        shutil.copy("/bin/kill", os.path.join(self.dest, "bin", "kill"))
        units = [self.path("lib/systemd/system/" + u) for u in UNITS]
        p = subprocess.run(["systemd-analyze", "verify", "--man=no", "--root=" + self.dest] + units,
                           capture_output=True, text=True)
        self.assertEqual((p.returncode, p.stdout + p.stderr), (0, ""))
        # It does catch mistakes: a misspelt key is reported.
        bad = os.path.join(os.path.dirname(units[0]), "vigild-bad.service")
        with open(units[0]) as f, open(bad, "w") as g:
            g.write(f.read().replace("LockPersonality=", "LockPersonalty="))
        p = subprocess.run(["systemd-analyze", "verify", "--man=no", "--root=" + self.dest, bad],
                           capture_output=True, text=True)
        os.unlink(bad)
        self.assertIn("Unknown key", p.stdout + p.stderr)


MATRIX_PROFILE = """Name: a second primary module (pam_matrix, standing in for pam_sss)
Default: yes
Priority: 128
Auth-Type: Primary
Auth:
\t[success=end default=ignore]\tpam_matrix.so passdb={passdb}
"""


@unittest.skipUnless(os.geteuid() == 0 and shutil.which("pam-auth-update") and shutil.which("unshare"),
                     "needs root, pam-auth-update and unshare")
class PamAuthUpdate(VigilTestCase):
    def apply_profiles(self):
        """pam-auth-update --enable, in a mount namespace over scratch copies
        of /etc/pam.d, /usr/share/pam-configs and /var/lib/pam."""
        root = os.path.join(self.env.dir, "pau")
        pamd, configs, state = (os.path.join(root, d) for d in ("pam.d", "configs", "state"))
        shutil.copytree("/etc/pam.d", pamd)
        shutil.copytree("/usr/share/pam-configs", configs)
        os.makedirs(state)
        if os.path.isdir("/var/lib/pam"):
            subprocess.run(["cp", "-a", "/var/lib/pam/.", state], check=True)
        here = os.path.dirname(os.path.abspath(__file__))
        for name in ("vigil", "vigil-authfail"):
            shutil.copy(os.path.join(here, "..", "..", "conf", "pam-configs", name), configs)
        with open(os.path.join(configs, "matrix"), "w") as f:
            f.write(MATRIX_PROFILE.format(passdb=self.env.passdb))
        script = ("mount --bind {p} /etc/pam.d && mount --bind {c} /usr/share/pam-configs && "
                  "mount --bind {s} /var/lib/pam && DEBIAN_FRONTEND=noninteractive "
                  "pam-auth-update --enable matrix vigil vigil-authfail --force").format(p=pamd, c=configs, s=state)
        p = subprocess.run(["unshare", "--mount", "sh", "-c", script], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        return self.read_common(pamd, "common-auth")

    @staticmethod
    def read_common(pamd, name):
        with open(os.path.join(pamd, name)) as f:
            return [l for l in f.read().splitlines() if l.strip() and not l.startswith("#")]

    def test_the_password_line_comes_where_only_a_successful_change_reaches_it(self):
        self.apply_profiles()
        pw = self.read_common(os.path.join(self.env.dir, "pau", "pam.d"), "common-password")
        names = [next(w for w in l.split() if w.startswith("pam_")) for l in pw]
        vigil = names.index("pam_vigil.so")
        self.assertLess(names.index("pam_unix.so"), vigil)
        self.assertLess(names.index("pam_deny.so"), vigil)
        self.assertLess(names.index("pam_permit.so"), vigil)
        self.assertTrue(pw[vigil].split()[1] == "optional", pw[vigil])

    def test_the_profiles_compose_with_a_second_primary_module(self):
        auth = self.apply_profiles()
        names = [next(w for w in l.split() if w.startswith("pam_")) for l in auth]
        # authfail is the last primary: it runs only when every primary failed;
        # authsucc comes after pam_permit.
        i = names.index
        self.assertLess(i("pam_unix.so"), i("pam_vigil.so"))
        self.assertLess(i("pam_matrix.so"), i("pam_vigil.so"))
        self.assertEqual(names[i("pam_vigil.so") + 1], "pam_deny.so")
        self.assertIn("authfail", auth[i("pam_vigil.so")])
        self.assertIn("[default=die]", auth[i("pam_vigil.so")])
        permit = i("pam_permit.so")
        self.assertIn("authsucc", auth[permit + 1])
        self.assertIn("[success=ok ignore=ignore default=die]", auth[permit + 1])
        # The primaries jump over authfail on success.
        for line in auth[:i("pam_vigil.so")]:
            self.assertRegex(line, r"success=\d+")

        # Drive the resulting common-auth through libpam.
        stack = "\n".join(auth) + "\n"
        stack = stack.replace("pam_vigil.so", "%s %s" % (MODULE, self.env.module_args), 2)
        stack = stack.replace("pam_matrix.so", PAM_MATRIX)
        # "@include common-auth" is textual: the lines go into the service as
        # they are (pam_wrapper resolves includes in the real /etc/pam.d).
        self.env.add_service("pau-login", stack + "account required pam_permit.so\n")
        # A user of the second module logs in...
        # (pam_matrix asks again, as pam_sss without use_first_pass would.)
        out = self.env.pam("alice", ["alice-pw", "alice-pw"], service="pau-login")
        self.assertEqual(out["results"][0]["rc"], PAM_SUCCESS, out)
        # ...and a wrong password is counted once, though two modules refused it.
        out = self.env.pam("bob", ["wrong", "wrong"], service="pau-login")
        self.assertEqual(out["results"][0]["rc"], PAM_AUTH_ERR, out)
        self.assertEqual(self.env.status("bob")["failures"], 1)
        self.assertEqual(self.env.status("alice")["failures"], 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
