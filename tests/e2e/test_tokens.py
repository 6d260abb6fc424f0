"""Service API tokens (issue #6) through a real nginx with auth_request,
configured with the shipped snippets (conf/nginx/), in front of a static
location and of a backend that echoes the identity headers it receives.

Administrators alice, bob and dave (group wheel) have TOTP; carol is an
employee. Blocks and recoveries go through the admin socket as in
test_recovery.py."""
import glob
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import time
import unittest

from harness import PY, SOURCE, raw_call
from test_recovery import UID, RecoveryCase

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Nginx:
    """nginx on loopback ports: /reports/ (static, scope "reports") and /api/
    (proxied to an echo server, scope "api"), guarded by vigil."""

    def __init__(self, root, token_socket):
        self.dir = os.path.join(root, "nginx")
        os.makedirs(os.path.join(self.dir, "www", "reports"))
        with open(os.path.join(self.dir, "www", "reports", "q3.txt"), "w") as f:
            f.write("quarterly figures\n")
        with open(os.path.join(SOURCE, "conf", "nginx", "vigil-auth.conf")) as f:
            auth = f.read().replace("/run/vigil/token-http.sock", token_socket)
        with open(os.path.join(self.dir, "vigil-auth.conf"), "w") as f:
            f.write(auth)
        guard = os.path.join(SOURCE, "conf", "nginx", "vigil-guard.conf")
        self.port, echo = free_port(), free_port()
        d = self.dir
        conf = """
daemon off;
master_process off;
user root;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {d}/tmp-body;
  proxy_temp_path {d}/tmp-proxy;
  fastcgi_temp_path {d}/tmp-fastcgi;
  uwsgi_temp_path {d}/tmp-uwsgi;
  scgi_temp_path {d}/tmp-scgi;
  server {{
    listen 127.0.0.1:{port};
    include {d}/vigil-auth.conf;
    location /reports/ {{
      set $vigil_scope "reports";
      include {guard};
      root {d}/www;
    }}
    location /api/ {{
      set $vigil_scope "api";
      include {guard};
      proxy_pass http://127.0.0.1:{echo}/;
    }}
  }}
  server {{
    listen 127.0.0.1:{echo};
    location / {{ return 200 "owner=$http_x_vigil_owner scopes=$http_x_vigil_scopes scope=$http_x_vigil_scope\\n"; }}
  }}
}}
""".format(d=d, port=self.port, echo=echo, guard=guard)
        self.conf = os.path.join(d, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        self.proc = subprocess.Popen([NGINX, "-p", d, "-c", self.conf, "-e", d + "/error.log"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("nginx exited: " + self.proc.stderr.read().decode())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not start")

    def get(self, path, token=None, headers=None):
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = "Bearer " + token
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        c.request("GET", path, headers=h)
        r = c.getresponse()
        body = r.read().decode(errors="replace")
        c.close()
        return r.status, body

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class TokenCase(RecoveryCase):
    allow_root = True  # root issues tokens (no step-up); admins block and recover
    hooks = None       # {name: script text} for [tokens] revoke_hooks_dir
    tokens_conf = {}   # more [tokens] keys

    def setUp(self):
        super().setUp()
        self.env.stop()
        self.token_socket = os.path.join(self.env.dir, "token-http.sock")
        self.hooks_dir = os.path.join(self.env.dir, "hooks")
        os.mkdir(self.hooks_dir)
        for name, text in (self.hooks or {}).items():
            self.write_hook(name, text)
        self.env.conf["tokens"] = dict({"http_socket": self.token_socket, "revoke_hooks_dir": self.hooks_dir,
                                        "hook_timeout": "5s"}, **self.tokens_conf)
        self.env.write_conf()
        self.env.start()
        self.nginx = Nginx(self.env.dir, self.token_socket)

    def tearDown(self):
        self.nginx.close()
        super().tearDown()

    def write_hook(self, name, text):
        path = os.path.join(self.hooks_dir, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o755)

    def issue(self, owner, *scopes, name="svc"):
        args = ["token", "issue", "--owner", owner, "--name", name, "--json"]
        for s in scopes:
            args += ["--scope", s]
        p = self.env.ctl(*args)
        self.assertEqual(p.returncode, 0, p.stderr)
        out = json.loads(p.stdout)
        self.assertTrue(re.fullmatch(r"vgl_[A-Za-z0-9_-]{43}", out["token"]), out["token"])
        return out["token"], out["accessor"]

    def tokens(self):
        return json.loads(self.env.ctl("token", "list", "--json", check=True).stdout)


class ThroughNginx(TokenCase):
    def test_valid_200_wrong_401_and_the_scope_comes_from_the_location(self):
        token, _ = self.issue("carol", "reports")
        self.assertEqual(self.nginx.get("/reports/q3.txt", token), (200, "quarterly figures\n"))
        wrong = token[:-1] + ("B" if token[-1] == "A" else "A")
        self.assertEqual(self.nginx.get("/reports/q3.txt", wrong)[0], 401)
        self.assertEqual(self.nginx.get("/reports/q3.txt")[0], 401)
        self.assertEqual(self.nginx.get("/reports/q3.txt", "not-a-token")[0], 401)
        # Big headers from the client do not reach the checker (nginx would
        # answer 500 if they did: the checker takes 8 KiB).
        big = {"X-Junk-1": "a" * 6000, "X-Junk-2": "b" * 6000}
        self.assertEqual(self.nginx.get("/reports/q3.txt", token, big)[0], 200)
        # The token lacks "api": a client header naming a scope changes nothing.
        self.assertEqual(self.nginx.get("/api/x", token)[0], 403)
        self.assertEqual(self.nginx.get("/api/x", token, {"X-Vigil-Scope": "reports"})[0], 403)

    def test_the_backend_sees_vigils_owner_never_the_clients(self):
        token, _ = self.issue("carol", "api", "reports")
        status, body = self.nginx.get("/api/whoami", token, {"X-Vigil-Owner": "root",
                                                             "X-Vigil-Scopes": "everything",
                                                             "X-Vigil-Scope": "admin"})
        self.assertEqual(status, 200)
        self.assertEqual(body, "owner=carol scopes=api reports scope=\n")

    def test_an_expired_token_gets_401(self):
        p = self.env.ctl("token", "issue", "--owner", "carol", "--name", "short", "--scope", "reports",
                         "--ttl", "2s", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        token = json.loads(p.stdout)["token"]
        self.assertEqual(self.nginx.get("/reports/q3.txt", token)[0], 200)
        time.sleep(2.2)
        self.assertEqual(self.nginx.get("/reports/q3.txt", token)[0], 401)
        reply = raw_call(self.env.socket, "io.vigil.Token.Check", {"token": token, "scope": "reports"})
        self.assertEqual(reply["parameters"]["verdict"], "expired")

    def test_any_local_user_may_check_over_the_public_socket(self):
        token, _ = self.issue("carol", "reports")
        (reply,) = self.env.raw_as(UID["dave"], [["io.vigil.Token.Check", {"token": token, "scope": "reports"}]])
        self.assertEqual(reply["parameters"], {"verdict": "valid", "owner": "carol", "scopes": ["reports"]})


class Blocks(TokenCase):
    def test_an_admin_block_revokes_and_freezes_until_recovery(self):
        bob_token, bob_acc = self.issue("bob", "reports", name="bob-cron")
        carol_token, _ = self.issue("carol", "reports", name="carol-sync")
        self.assertEqual(self.nginx.get("/reports/q3.txt", bob_token)[0], 200)
        self.block("alice", "bob", code=self.code("alice"))
        self.assertEqual(self.nginx.get("/reports/q3.txt", bob_token)[0], 403)
        self.assertEqual(self.nginx.get("/reports/q3.txt", carol_token)[0], 403, "the whole API is frozen")
        listing = self.tokens()
        self.assertTrue(listing["frozen"])
        self.assertEqual({t["accessor"]: t["state"] for t in listing["tokens"]}[bob_acc], "revoked")
        p = self.env.ctl("token", "issue", "--owner", "carol", "--name", "x", "--scope", "reports")
        self.assertEqual(p.returncode, 4)
        self.assertIn("frozen", p.stderr)
        log = self.env.log()
        self.assertIn("token API FROZEN", log)
        self.assertIn("revoked API token " + bob_acc, log)

        p = self.admin("alice", "unblock", "bob", "--reason", "phone call", "--verify-code",
                       verify=self.code("bob"))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("token API unfrozen", self.env.log())
        self.assertEqual(self.nginx.get("/reports/q3.txt", carol_token)[0], 200)
        self.assertEqual(self.nginx.get("/reports/q3.txt", bob_token)[0], 403, "revoked for good")
        new_token, _ = self.issue("bob", "reports", name="bob-cron-2")
        self.assertEqual(self.nginx.get("/reports/q3.txt", new_token)[0], 200)

    def test_tokens_an_admin_created_are_revoked_with_their_block(self):
        codes = json.loads(self.env.ctl("totp", "recovery-codes", "dave", "--json", check=True).stdout)["codes"]
        # dave (with the admin socket and his step-up) issues carol a token.
        p = self.admin("dave", "token", "issue", "--owner", "carol", "--name", "by-dave", "--scope",
                       "reports", "--json", code=self.code("dave"))
        self.assertEqual(p.returncode, 0, p.stderr)
        token = json.loads(p.stdout)["token"]
        self.block("alice", "dave", code=self.code("alice"))
        # His current step is used up: he reads out a recovery code.
        p = self.admin("alice", "unblock", "dave", "--reason", "x", "--verify-code", verify=codes[0])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.nginx.get("/reports/q3.txt", token)[0], 403)
        reply = raw_call(self.env.socket, "io.vigil.Token.Check", {"token": token})
        self.assertEqual(reply["parameters"]["verdict"], "revoked")

    def test_a_blocked_employees_tokens_are_suspended_then_restored(self):
        carol_token, acc = self.issue("carol", "reports")
        alice_token, _ = self.issue("alice", "reports")
        self.block("alice", "carol", code=self.code("alice"))
        self.assertEqual(self.nginx.get("/reports/q3.txt", carol_token)[0], 403)
        reply = raw_call(self.env.socket, "io.vigil.Token.Check", {"token": carol_token})
        self.assertEqual(reply["parameters"]["verdict"], "suspended")
        self.assertEqual(self.nginx.get("/reports/q3.txt", alice_token)[0], 200, "no freeze")
        self.assertFalse(self.tokens()["frozen"])
        p = self.admin("alice", "unblock", "carol", "--reason", "back")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.nginx.get("/reports/q3.txt", carol_token)[0], 200)

    def test_the_freeze_survives_a_restart(self):
        token, _ = self.issue("carol", "reports")
        self.block("alice", "bob", code=self.code("alice"))
        self.env.kill9()
        self.env.start()
        self.assertEqual(self.nginx.get("/reports/q3.txt", token)[0], 403)


class FreezeOnAny(TokenCase):
    """[tokens] freeze_on = "any" (issue #17 item 10): any block freezes the
    API until that account's recovery, as in the hosted model."""
    tokens_conf = {"freeze_on": "any"}

    def test_an_employees_block_freezes_until_every_freezing_block_is_recovered(self):
        alice_token, _ = self.issue("alice", "reports", name="alice-cron")
        carol_token, carol_acc = self.issue("carol", "reports", name="carol-sync")
        self.block("alice", "carol", code=self.code("alice"))
        self.assertEqual(self.nginx.get("/reports/q3.txt", alice_token)[0], 403, "frozen by an employee's block")
        reply = raw_call(self.env.socket, "io.vigil.Token.Check", {"token": alice_token, "scope": "reports"})
        self.assertEqual(reply["parameters"]["verdict"], "frozen")
        listing = self.tokens()
        self.assertTrue(listing["frozen"])
        self.assertEqual([f["user"] for f in listing["freezes"]], ["carol"])
        self.assertEqual({t["accessor"]: t["state"] for t in listing["tokens"]}[carol_acc], "suspended")
        self.assertIn('token API FROZEN: carol was blocked ([tokens] freeze_on = "any")', self.env.log())
        p = self.env.ctl("token", "issue", "--owner", "dave", "--name", "x", "--scope", "reports")
        self.assertEqual(p.returncode, 4)
        self.assertIn("frozen until carol is recovered", p.stderr)
        # bob (an administrator) is blocked too: carol's recovery leaves his freeze.
        self.block("alice", "bob", code=self.code("alice"))
        p = self.admin("alice", "unblock", "carol", "--reason", "back")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("carol was recovered; the token API stays frozen for 1 other blocked account(s)",
                      self.env.log())
        self.assertEqual(self.nginx.get("/reports/q3.txt", alice_token)[0], 403, "bob's block still freezes it")
        p = self.admin("alice", "unblock", "bob", "--reason", "phone call", "--verify-code", verify=self.code("bob"))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("token API unfrozen: bob was recovered", self.env.log())
        self.assertEqual(self.nginx.get("/reports/q3.txt", alice_token)[0], 200)
        self.assertEqual(self.nginx.get("/reports/q3.txt", carol_token)[0], 200, "carol's own token restored")


class Storage(TokenCase):
    def test_no_token_in_clear_in_the_database_or_the_logs(self):
        token, acc = self.issue("carol", "reports")
        self.env.ctl("token", "revoke", acc, "--reason", "rotated", check=True)
        self.env.stop()
        secret = token[len("vgl_"):]
        blobs = b""
        for path in glob.glob(os.path.join(self.env.state, "*")):
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    blobs += f.read()
        self.assertIn(acc.encode(), blobs, "the scan reads the database")
        self.assertNotIn(secret.encode(), blobs)
        self.assertNotIn(secret[:20].encode(), blobs)
        self.assertNotIn(secret, self.env.log())
        self.env.start()


COUNTING_HOOK = """#!/bin/sh
# Fails twice, then records what it was given.
n=$(cat {dir}/attempts 2>/dev/null || echo 0)
n=$((n + 1))
echo $n > {dir}/attempts
if [ $n -le 2 ]; then exit 1; fi
cat > {dir}/received.json
"""


class Hooks(TokenCase):
    def wait_for(self, path, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if os.path.exists(path) and os.path.getsize(path):
                return True
            time.sleep(0.1)
        return False

    def test_a_failing_hook_is_retried_until_it_succeeds(self):
        self.write_hook("10-count", COUNTING_HOOK.format(dir=self.env.dir))
        token, acc = self.issue("carol", "reports", name="ci-deploy")
        self.env.ctl("token", "revoke", acc, "--reason", "leaked in a log", check=True)
        received = os.path.join(self.env.dir, "received.json")
        self.assertTrue(self.wait_for(received), self.env.log())
        with open(received) as f:
            got = json.loads(f.read())
        self.assertEqual((got["accessor"], got["owner"], got["name"], got["scopes"]),
                         (acc, "carol", "ci-deploy", ["reports"]))
        self.assertIn("leaked in a log", got["reason"])
        self.assertNotIn(token[4:], json.dumps(got))
        with open(os.path.join(self.env.dir, "attempts")) as f:
            self.assertEqual(f.read().strip(), "3")
        self.assertIn("revoke hook 10-count failed (attempt 2)", self.env.log())

    def test_a_pending_hook_survives_kill_9(self):
        self.write_hook("10-down", "#!/bin/sh\nexit 1\n")
        token, acc = self.issue("carol", "reports")
        self.block("alice", "bob", code=self.code("alice"))  # nothing of bob's: no hook
        self.env.ctl("token", "revoke", acc, "--reason", "test", check=True)
        self.env.wait_log("revoke hook 10-down failed", timeout=10)
        self.env.kill9()
        os.unlink(os.path.join(self.hooks_dir, "10-down"))
        received = os.path.join(self.env.dir, "after-restart.json")
        self.write_hook("20-up", "#!/bin/sh\ncat > %s\n" % received)
        self.env.start()
        self.assertTrue(self.wait_for(received), self.env.log())
        with open(received) as f:
            self.assertEqual(json.loads(f.read())["accessor"], acc)

    def test_a_hook_others_can_write_is_never_run(self):
        ran = os.path.join(self.env.dir, "ran")
        self.write_hook("10-open", "#!/bin/sh\ntouch %s\n" % ran)
        os.chmod(os.path.join(self.hooks_dir, "10-open"), 0o777)
        token, acc = self.issue("carol", "reports")
        self.env.ctl("token", "revoke", acc, "--reason", "test", check=True)
        self.env.wait_log("10-open skipped")
        self.assertIn("must be owned by root and not writable by group or others", self.env.log())
        self.assertFalse(os.path.exists(ran))

    def test_a_hanging_hook_is_killed_and_retried(self):
        flag = os.path.join(self.env.dir, "hung-once")
        self.write_hook("10-hang", "#!/bin/sh\nif [ ! -e {f} ]; then touch {f}; sleep 60; fi\n"
                                   "cat > {d}/after-hang.json\n".format(f=flag, d=self.env.dir))
        token, acc = self.issue("carol", "reports")
        self.env.ctl("token", "revoke", acc, "--reason", "test", check=True)
        self.assertTrue(self.wait_for(os.path.join(self.env.dir, "after-hang.json"), timeout=30),
                        self.env.log())
        self.assertIn("killed after 5s", self.env.log())


if __name__ == "__main__":
    unittest.main(verbosity=2)
