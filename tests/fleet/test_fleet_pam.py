#!/usr/bin/env python3
"""Fleet mode end to end: four real vigild hosts, each with its own state
directory, sockets and database role, in front of one real PostgreSQL
server (pgserver.py), driven through real libpam (pam_wrapper, pamdrive)
exactly as the single-host e2e suites drive one vigild.

Each test plays an attacker against the fleet:
  * a guesser who spreads guesses over every host at once;
  * a credential stuffer who succeeds on one host after failing from many
    sources, expecting the others not to have heard;
  * a network fault that makes the database unreachable, expecting vigild
    to let logins through.
"""
import os
import socket
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

import json  # noqa: E402

import shutil  # noqa: E402

import harness  # noqa: E402
from harness import Env, PAM_AUTH_ERR, PAM_AUTHINFO_UNAVAIL, PAM_PERM_DENIED, PAM_SUCCESS  # noqa: E402
from pgserver import PG_BIN, PgServer, wait_until  # noqa: E402

SOURCE = os.environ.get("VIGIL_SOURCE_DIR", os.path.join(HERE, "..", ".."))
HOSTS = ["h1", "h2", "h3", "h4"]
LATEST = str(len([f for f in os.listdir(os.path.join(SOURCE, "daemon", "fleet", "sql")) if f.endswith(".sql")]))


def fleet_conf(pg, host, **extra):
    # The test server has no TLS: vigild's default is verify-full.
    conf = {"url": pg.url(host), "host_name": host, "db_timeout": "2s", "sslmode": "disable",
            "propagation": "1s"}
    conf.update(extra)
    return conf


class NotifySocket:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET: collects
    what vigild sends with sd_notify (READY=1, STATUS=...)."""

    def __init__(self, parent):
        self.path = os.path.join(parent, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o666)
        self.sock.settimeout(0.2)
        self.lines = []

    def wait_for(self, text, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                data = self.sock.recv(4096).decode(errors="replace")
                self.lines.extend(data.splitlines())
            except socket.timeout:
                pass
            if any(text in line for line in self.lines):
                return [line for line in self.lines if text in line]
        return []

    def close(self):
        self.sock.close()


class FleetCase(unittest.TestCase):
    """One PostgreSQL server for the class, set up by `vigild --fleet-setup`;
    each test gets a fresh database state and fresh hosts."""

    @classmethod
    def setUpClass(cls):
        cls.pg = PgServer()
        out = harness.subprocess.run([harness.VIGILD, "--fleet-setup", cls.pg.url("postgres")],
                                     capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            cls.pg.stop()
            raise RuntimeError("vigild --fleet-setup failed: " + out.stdout + out.stderr)
        cls.setup_output = out.stdout
        for i, h in enumerate(HOSTS):
            cls.pg.add_host(h, trust_group="A" if i < 2 else "B")

    @classmethod
    def tearDownClass(cls):
        cls.pg.stop()

    def setUp(self):
        self.envs = []
        # A clean fleet state per test (the roles and hosts stay).
        self.pg.psql("TRUNCATE vigil.bucket, vigil.device, vigil.block, vigil.failure, vigil.event, vigil.approval; "
                     "UPDATE vigil.seq SET n = 0; UPDATE vigil.host SET auto_blocks = 0, quarantined = false, applied_seq = 0, last_seen = NULL; "
                     "UPDATE vigil.policy SET deny = 3, attack_sources = 3, max_auto_blocks_per_host = 10")

    def tearDown(self):
        for e in self.envs:
            e.close()

    def host(self, name, fleet=None, start=True, **kw):
        env = Env(**kw)
        env.conf["fleet"] = fleet if fleet is not None else fleet_conf(self.pg, name)
        env.write_conf()
        self.envs.append(env)
        if start:
            env.start()
            # Caught up: the journal replayed, the events applied, out of
            # degraded mode (until then a host decides alone).
            log = env.wait_log("fleet: caught up as host", timeout=10)
            self.assertIn("fleet: caught up as host " + name, log)
        return env

    def fleet(self, n=4):
        return [self.host(h) for h in HOSTS[:n]]

    def wait_for(self, what, timeout=10.0):
        return wait_until(what, timeout)

    def failures(self, account):
        return int(self.pg.psql("SELECT count(*) FROM vigil.failure WHERE account = '%s'" % account))

    def blocked(self, account):
        return self.pg.psql("SELECT host FROM vigil.block WHERE account = '%s'" % account).strip()


class SetupTest(FleetCase):
    def test_setup_is_versioned_and_idempotent(self):
        self.assertIn("applying 001_base.sql (schema version 1)", self.setup_output)
        self.assertIn("applying 002_admin.sql (schema version 2)", self.setup_output)
        self.assertIn("applying 003_hosts.sql (schema version 3)", self.setup_output)
        self.assertEqual(self.pg.psql("SELECT version FROM vigil.schema_version").strip(), LATEST)
        again = harness.subprocess.run([harness.VIGILD, "--fleet-setup", self.pg.url("postgres")],
                                       capture_output=True, text=True, timeout=60)
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertIn("up to date, nothing to do", again.stdout)

    def test_setup_as_a_host_role_is_refused(self):
        # A host's role cannot create or change the schema.
        out = harness.subprocess.run([harness.VIGILD, "--fleet-setup", self.pg.url("h1")],
                                     capture_output=True, text=True, timeout=60)
        # Already at the latest version: nothing to do, nothing written.
        self.assertEqual(out.returncode, 0, out.stderr)
        self.pg.psql("UPDATE vigil.schema_version SET version = 0")
        try:
            out = harness.subprocess.run([harness.VIGILD, "--fleet-setup", self.pg.url("h1")],
                                         capture_output=True, text=True, timeout=60)
            self.assertNotEqual(out.returncode, 0)
            self.assertIn("fleet setup: 001_base.sql:", out.stderr)
        finally:
            self.pg.psql("UPDATE vigil.schema_version SET version = " + LATEST)

    def test_bad_url_is_a_clear_error(self):
        out = harness.subprocess.run([harness.VIGILD, "--fleet-setup", "postgresql://nobody@127.0.0.1:1/vigil"],
                                     capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 1)
        self.assertIn("vigild: fleet setup: cannot connect:", out.stderr)


class AttemptBoundTest(FleetCase):
    def test_parallel_guesses_over_four_hosts_count_exactly_deny(self):
        """deny=3, 16 wrong passwords at once, 4 per host: exactly 3 are
        honoured fleet-wide, and every later attempt is refused everywhere,
        the right password included."""
        hosts = self.fleet(4)
        threads = []
        for i in range(16):
            env = hosts[i % 4]
            # One source: a right password from a new one after failures
            # from several would be credential stuffing (BlockTest).
            threads.append(env.pam_async("alice", ["wrong-%d" % i], rhost="198.51.100.1"))
        for t, _ in threads:
            t.join(60)
        rcs = [r["results"][0]["rc"] for _, r in threads]
        self.assertEqual(rcs, [PAM_AUTH_ERR] * 16)
        self.assertEqual(self.failures("alice"), 3)
        locked = self.pg.psql("SELECT locked_until > now() FROM vigil.bucket WHERE key = 'acct:alice'").strip()
        self.assertEqual(locked, "t")
        for env in hosts:
            self.assertEqual(env.login("alice", env.password("alice"), rhost="198.51.100.1"), PAM_AUTH_ERR)
        self.assertEqual(self.failures("alice"), 3)
        # The lock was logged by the host that made it, and only once.
        locks = sum(e.log().count("warning: locked alice fleet-wide") for e in hosts)
        self.assertEqual(locks, 1)
        self.assertEqual(self.blocked("alice"), "")

    def test_kill9_mid_storm_loses_nothing_committed(self):
        """A host killed in the middle of a storm: every failure a client was
        answered for is in the database, none is counted twice, and the
        restarted host enforces the locks the others made meanwhile."""
        h1, h2 = self.fleet(2)
        # Every report a counted failure: no lock, no source throttle.
        self.pg.psql("UPDATE vigil.policy SET deny = 1000, throttle_deny = 0")
        answered = []
        lock = threading.Lock()

        def storm(k):
            for n in range(300):
                try:
                    reply = harness.raw_call(h1.socket, "io.vigil.Auth.Report",
                                             {"user": ["alice", "bob", "carol", "dave"][n % 4], "outcome": "failure",
                                              "nonce": "k9-%d-%d" % (k, n), "service": "sshd",
                                              "rhost": "198.51.100.%d" % (k + 1), "tty": "ssh"}, timeout=5)
                except OSError:
                    return  # the host is gone
                if reply.get("parameters", {}).get("verdict") == "deny":
                    with lock:
                        answered.append(reply)

        threads = [threading.Thread(target=storm, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        time.sleep(0.4)
        h1.kill9()
        for t in threads:
            t.join(30)
        committed = int(self.pg.psql("SELECT count(*) FROM vigil.failure"))
        self.assertGreater(len(answered), 0)
        self.assertGreaterEqual(committed, len(answered))
        self.assertLess(committed, 8 * 300, "the storm ended before the kill: nothing tested")
        # Meanwhile h2 locks dave; h1, restarted, enforces it.
        self.pg.psql("UPDATE vigil.policy SET deny = 3, throttle_deny = 20; "
                     "DELETE FROM vigil.bucket WHERE key = 'acct:dave'")
        for i in range(3):
            h2.login("dave", "wrong", rhost="203.0.113.77")
        h1.start()
        # The log is appended to: wait for the second connection's line.
        self.assertTrue(PropagationTest.wait_for(self, lambda: h1.log().count("caught up as host h1") >= 2, 10))
        self.assertEqual(h1.login("dave", h1.password("dave"), rhost="203.0.113.77"), PAM_AUTH_ERR)
        self.assertEqual(int(self.pg.psql("SELECT count(*) FROM vigil.failure")), committed + 3)

    def test_other_accounts_and_hosts_stay_open(self):
        hosts = self.fleet(2)
        for i in range(3):
            hosts[0].login("alice", "wrong", rhost="198.51.100.%d" % (i + 1))
        self.assertEqual(hosts[1].login("bob", hosts[1].password("bob"), rhost="198.51.100.9"), PAM_SUCCESS)

    def test_a_repeated_report_is_counted_once(self):
        # The double stack reports one failure twice in one pam_authenticate.
        (h1,) = self.fleet(1)
        h1.pam("alice", ["wrong"], service="vigil-double")
        self.assertEqual(self.failures("alice"), 1)

    def test_system_accounts_stay_local(self):
        # root (uid 0) is below uid_min: decided by this host's engine only.
        (h1,) = self.fleet(1)
        h1.login("root", "wrong")
        self.assertEqual(self.failures("root"), 0)
        self.assertEqual(self.pg.psql("SELECT count(*) FROM vigil.bucket WHERE account = 'root'").strip(), "0")


class BlockTest(FleetCase):
    def test_stuffing_on_one_host_blocks_on_every_host(self):
        """Failures from three sources, then the right password from a
        fourth on h2: blocked fleet-wide at once, attributed to h2; every
        host refuses the right password and the account phase."""
        hosts = self.fleet(4)
        for i in range(3):
            self.assertEqual(hosts[i].login("carol", "guess", rhost="203.0.113.%d" % (i + 1)), PAM_AUTH_ERR)
        self.assertEqual(hosts[1].login("carol", hosts[1].password("carol"), rhost="203.0.113.99"), PAM_AUTH_ERR)
        self.assertEqual(self.blocked("carol"), "h2")
        self.assertIn("blocked carol fleet-wide", hosts[1].log())
        for env in hosts:
            self.assertEqual(env.login("carol", env.password("carol"), rhost="192.0.2.50"), PAM_AUTH_ERR)
            r = env.pam("carol", [], ops="account")
            self.assertEqual(r["results"][0]["rc"], PAM_PERM_DENIED)
        # Another account is untouched.
        self.assertEqual(hosts[3].login("dave", hosts[3].password("dave"), rhost="192.0.2.50"), PAM_SUCCESS)
        self.assertEqual(hosts[3].pam("dave", [], ops="account")["results"][0]["rc"], PAM_SUCCESS)


class PropagationTest(FleetCase):
    """A change made on one host is applied by every host's replica (its
    own store): the block's effects on tokens and the token API happen on
    every host, and a restarted host resumes from its position."""

    def admin_hosts(self, n=4):
        # alice is an administrator (her primary group), as on every host.
        envs = []
        for h in HOSTS[:n]:
            env = self.host(h, start=False)
            env.conf["roles"] = {"admin_groups": ["alice", harness.ADMIN_SOCKET_GROUP[0]]}
            env.write_conf()
            env.start()
            env.wait_log("fleet: caught up as host")
            envs.append(env)
        return envs

    def token_verdict(self, env, token):
        reply = harness.raw_call(env.socket, "io.vigil.Token.Check", {"token": token, "scope": "deploy"})
        return reply["parameters"]["verdict"]

    def test_admin_block_on_h2_revokes_and_freezes_on_every_host(self):
        hosts = self.admin_hosts(4)
        tokens = []
        for env in hosts:
            p = env.ctl("token", "issue", "--owner", "alice", "--name", "ci", "--scope", "deploy", "--json")
            self.assertEqual(p.returncode, 0, p.stderr)
            tokens.append(json.loads(p.stdout)["token"])
            self.assertEqual(self.token_verdict(env, tokens[-1]), "valid")
        t0 = time.monotonic()
        p = hosts[1].ctl("block", "alice", "--reason", "laptop stolen")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.blocked("alice"), "h2")
        event = self.pg.psql("SELECT kind, host, actor FROM vigil.event ORDER BY seq").strip()
        self.assertEqual(event, "block|h2|root")
        # Every host applies it within propagation (1s here; LISTEN makes it sooner).
        for env, tok in zip(hosts, tokens):
            self.assertTrue(self.wait_for(lambda: self.token_verdict(env, tok) != "valid", timeout=2.0),
                            env.log()[-2000:])
        took = time.monotonic() - t0
        self.assertLess(took, 3.0)
        for env, tok in zip(hosts, tokens):
            self.assertIn(self.token_verdict(env, tok), ("revoked", "frozen"))
            listing = json.loads(env.ctl("token", "list", "--json", check=True).stdout)
            self.assertTrue(listing["frozen"], listing)
            st = json.loads(env.ctl("status", "alice", "--json", check=True).stdout)
            self.assertEqual(st["state"], "blocked", st)
            self.assertEqual(env.login("alice", env.password("alice"), rhost="192.0.2.1"), PAM_AUTH_ERR)
        # Every host reported its position.
        deadline = time.time() + 5
        while time.time() < deadline:
            rows = self.pg.psql("SELECT name, applied_seq FROM vigil.host WHERE name LIKE 'h%' ORDER BY name")
            if all(line.endswith("|1") for line in rows.split()):
                break
            time.sleep(0.1)
        self.assertEqual(rows.split(), ["h1|1", "h2|1", "h3|1", "h4|1"])

    def test_a_host_started_later_applies_the_blocks_in_force_only(self):
        (h1,) = self.fleet(1)
        self.assertEqual(h1.ctl("block", "bob", "--reason", "one").returncode, 0)
        self.assertEqual(h1.ctl("block", "carol", "--reason", "two").returncode, 0)
        # carol is recovered directly in the database, as if on another host.
        self.pg.psql("DELETE FROM vigil.block WHERE account = 'carol'; "
                     "SELECT vigil.emit('unblock', 'carol', 'dave', '{\"reason\": \"test\"}')")
        h4 = self.host("h4")
        self.assertTrue(self.wait_for(lambda: json.loads(h4.ctl("status", "bob", "--json", check=True).stdout)
                                      ["state"] == "blocked"))
        self.assertEqual(json.loads(h4.ctl("status", "carol", "--json", check=True).stdout)["state"], "open")
        # The replay of old history (carol's block, then unblock) never happened here.
        self.assertNotIn("carol", h4.log())
        self.assertTrue(self.wait_for(lambda: json.loads(h1.ctl("status", "carol", "--json", check=True).stdout)
                                      ["state"] == "open"))

    def test_restart_resumes_from_its_position(self):
        (h1,) = self.fleet(1)
        self.assertEqual(h1.ctl("block", "bob", "--reason", "x").returncode, 0)
        position = os.path.join(h1.state, "fleet-position")

        def at():
            try:
                with open(position) as f:
                    return f.readline().strip()  # the applied seq; then the event's fingerprint
            except FileNotFoundError:
                return ""
        self.assertTrue(self.wait_for(lambda: at() == "1"))
        h1.kill9()
        self.pg.psql("SELECT vigil.block_account('dave', 'while h1 was down', 'carol')", user="h2")
        h1.start()
        self.assertTrue(self.wait_for(lambda: h1.log().count("caught up as host h1") >= 2, 10))
        self.assertTrue(self.wait_for(lambda: json.loads(h1.ctl("status", "dave", "--json", check=True).stdout)
                                      ["state"] == "blocked"))
        self.assertTrue(self.wait_for(lambda: at() == "2"), at())
        # bob's block was not applied twice.
        self.assertEqual(h1.log().count("BLOCKED bob"), 1, h1.log()[-3000:])

    def test_fleet_status(self):
        hosts = self.fleet(2)
        self.assertEqual(hosts[0].ctl("block", "bob", "--reason", "x").returncode, 0)
        self.assertTrue(self.wait_for(lambda: json.loads(hosts[1].ctl("fleet", "status", "--json", check=True)
                                                         .stdout)["applied"] == 1))
        st = json.loads(hosts[1].ctl("fleet", "status", "--json", check=True).stdout)
        self.assertEqual(st["host"], "h2")
        self.assertTrue(st["connected"])
        self.assertEqual(st["lag"], 0)
        names = [h["name"] for h in st["hosts"]]
        self.assertEqual(names, HOSTS)
        h1 = st["hosts"][0]
        self.assertEqual(h1["trust_group"], "A")
        self.assertFalse(h1["stale"])
        # h3 and h4 run no vigild here: never seen, so stale.
        self.assertEqual([h["stale"] for h in st["hosts"]], [False, False, True, True])
        self.assertEqual(st["hosts"][3]["last_seen"], 0)
        # vigil.conf's trust group differs from the database's record: said once.
        self.assertEqual(hosts[0].log().count('the fleet records host h1 in trust group "A"'), 1)
        text = hosts[1].ctl("fleet", "status", check=True).stdout
        self.assertIn("database:   connected", text)
        self.assertIn("replica:    applied 1 of 1 (lag 0)", text)
        # A user may not read it; a host without [fleet] says fleet mode is off.
        p = hosts[1].ctl("fleet", "status", uid=1002)
        self.assertNotEqual(p.returncode, 0)
        single = Env()
        self.envs.append(single)
        single.start()
        p = single.ctl("fleet", "status")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("fleet mode is off", p.stderr)


class RecoveryTest(FleetCase):
    """Second factors live in the database: an administrator's step-up and a
    recovery's codes are checked there, so a code used on one host is
    refused on every other, and a recovery made on h3 lifts the block on
    every host while the tokens the block revoked stay revoked."""

    ADMIN = 1100  # the admin socket's group (harness.ADMIN_SOCKET_GROUP)

    def setUp(self):
        super().setUp()
        self.pg.psql("DELETE FROM vigil.totp; DELETE FROM vigil.recovery_code; DELETE FROM vigil.admin; "
                     "SELECT vigil.add_admin('bob'); SELECT vigil.add_admin('dave')")
        self.secrets = {}
        harness.wait_for_fresh_step(margin=8)
        for user in ("alice", "bob", "dave"):
            # Enrolled by the fleet's owner (bootstrapping), confirmed with
            # an independent generator.
            secret = self.pg.psql("SELECT vigil.totp_enroll('%s', NULL, NULL)" % user).strip()
            ok = self.pg.psql("SELECT vigil.totp_confirm('%s', '%s')" % (user, harness.oathtool(secret))).strip()
            self.assertEqual(ok, "t")
            self.secrets[user] = secret

    def admin_hosts(self, n=4):
        envs = []
        for h in HOSTS[:n]:
            env = self.host(h, start=False)
            env.conf["roles"] = {"admin_groups": ["alice", "bob", "dave", "carol"]}
            env.write_conf()
            env.start()
            env.wait_log("fleet: caught up as host")
            envs.append(env)
        return envs

    def code(self, user, offset=30):
        # The next step: the current one was used to confirm.
        return harness.oathtool(self.secrets[user], offset)

    def as_admin(self, env, user, *args, code=None, verify=None):
        extra = {}
        if code is not None:
            extra["VIGIL_CODE"] = code
        if verify is not None:
            extra["VIGIL_VERIFY_CODE"] = verify
        return env.ctl(*args, uid=harness.USERS[user][0], groups=(self.ADMIN,), env=extra)

    def test_a_step_up_code_used_on_h1_is_refused_on_h2(self):
        h1, h2 = self.admin_hosts(2)
        code = self.code("bob")
        p = self.as_admin(h1, "bob", "token", "issue", "--owner", "carol", "--name", "a", "--scope", "x", code=code)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.as_admin(h2, "bob", "token", "issue", "--owner", "carol", "--name", "b", "--scope", "x", code=code)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("already used", p.stderr)
        # Both at once on two hosts: exactly one is accepted.
        code = self.code("dave")
        results = {}

        def issue(env, name):
            results[name] = self.as_admin(env, "dave", "token", "issue", "--owner", "carol", "--name", name,
                                          "--scope", "x", code=code).returncode
        threads = [threading.Thread(target=issue, args=(h, n)) for h, n in ((h1, "c"), (h2, "d"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(sorted(results.values())[0], 0, results)
        self.assertNotEqual(sorted(results.values())[1], 0, results)

    def test_recovery_on_h3_lifts_the_block_everywhere_and_tokens_stay_revoked(self):
        hosts = self.admin_hosts(4)
        tokens = []
        for env in hosts:
            p = env.ctl("token", "issue", "--owner", "alice", "--name", "ci", "--scope", "deploy", "--json")
            self.assertEqual(p.returncode, 0, p.stderr)
            tokens.append(json.loads(p.stdout)["token"])
        self.assertEqual(hosts[1].ctl("block", "alice", "--reason", "phished").returncode, 0)
        check = PropagationTest.token_verdict
        for env, tok in zip(hosts, tokens):
            self.assertTrue(PropagationTest.wait_for(self, lambda: check(self, env, tok) != "valid"))
        # Never self-service, never without the admin's own code.
        p = self.as_admin(hosts[2], "alice", "unblock", "alice", "--reason", "me", "--verify-code",
                          code=self.code("alice"), verify=self.code("alice"))
        self.assertNotEqual(p.returncode, 0)
        p = self.as_admin(hosts[2], "bob", "unblock", "alice", "--reason", "x", "--verify-code",
                          verify=self.code("alice"))
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("step-up", p.stderr)
        # carol is an administrator on the hosts, but not in the fleet's database.
        p = self.as_admin(hosts[2], "carol", "unblock", "alice", "--reason", "x", "--verify-code",
                          code="123456", verify=self.code("alice"))
        self.assertNotEqual(p.returncode, 0)
        self.assertEqual(self.blocked("alice"), "h2")
        # bob, with his code and alice's read out, on h3.
        p = self.as_admin(hosts[2], "bob", "unblock", "alice", "--reason", "identity checked by phone",
                          "--verify-code", code=self.code("bob"), verify=self.code("alice"))
        self.assertEqual(p.returncode, 0, p.stderr + p.stdout + hosts[2].log()[-3000:])
        self.assertEqual(self.blocked("alice"), "")
        kinds = self.pg.psql("SELECT kind || '|' || host FROM vigil.event ORDER BY seq").split()
        self.assertEqual(kinds, ["block|h2", "unblock|h3"])
        for env, tok in zip(hosts, tokens):
            self.assertTrue(PropagationTest.wait_for(
                self, lambda: json.loads(env.ctl("status", "alice", "--json", check=True).stdout)["state"] == "open"))
            self.assertEqual(check(self, env, tok), "revoked")
            listing = json.loads(env.ctl("token", "list", "--json", check=True).stdout)
            self.assertFalse(listing["frozen"], listing)

    def test_recovery_by_approval_of_two_administrators(self):
        hosts = self.admin_hosts(2)
        self.assertEqual(hosts[0].ctl("block", "carol", "--reason", "x").returncode, 0)
        p = self.as_admin(hosts[0], "bob", "unblock", "carol", "--reason", "no phone", "--approval",
                          code=self.code("bob"))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.blocked("carol"), "h1")
        p = self.as_admin(hosts[1], "dave", "unblock", "carol", "--reason", "agreed", "--approval",
                          code=self.code("dave"))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.blocked("carol"), "")


class QuarantineTest(RecoveryTest):
    """vigilctl fleet quarantine: an administrator's fresh code, checked by
    the database, makes it refuse every call of a (compromised) host."""

    def test_quarantine_and_lift(self):
        h1, h2, h3 = self.admin_hosts(3)
        p = self.as_admin(h1, "bob", "fleet", "quarantine", "h3", "--reason", "rootkit found", code=self.code("bob"))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("quarantined h3", p.stdout)
        self.assertEqual(self.pg.psql("SELECT quarantined FROM vigil.host WHERE name = 'h3'").strip(), "t")
        # The quarantined host's fleet logins get the failmode; the others work.
        # (carol has no factor: any answer to the code prompt will do.)
        self.assertEqual(h3.login("carol", "carol-pw", rhost="192.0.2.30"), PAM_AUTHINFO_UNAVAIL)
        self.assertEqual(h2.login("carol", "carol-pw", rhost="192.0.2.30"), PAM_SUCCESS)
        st = json.loads(h1.ctl("fleet", "status", "--json", check=True).stdout)
        self.assertEqual([h["quarantined"] for h in st["hosts"]], [False, False, True, False])
        self.assertIn("QUARANTINED", h1.ctl("fleet", "status", check=True).stdout)
        # It cannot lift its own quarantine; a code is needed; one code once.
        p = self.as_admin(h3, "dave", "fleet", "quarantine", "h3", "--lift", "--reason", "me", code=self.code("dave"))
        self.assertNotEqual(p.returncode, 0)
        p = self.as_admin(h2, "dave", "fleet", "quarantine", "h3", "--lift", "--reason", "x")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("step-up", p.stderr)
        p = self.as_admin(h2, "bob", "fleet", "quarantine", "h3", "--lift", "--reason", "x", code=self.code("bob"))
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("already used", p.stderr)
        p = self.as_admin(h2, "carol", "fleet", "quarantine", "h3", "--lift", "--reason", "x", code="123456")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("not an administrator in the fleet", p.stderr)
        p = self.as_admin(h2, "dave", "fleet", "quarantine", "h3", "--lift", "--reason", "reinstalled",
                          code=self.code("dave"))
        self.assertEqual(p.returncode, 0, p.stderr)
        # A recovery code serves as a step-up too (once).
        spare = self.pg.psql("SELECT vigil.recovery_codes('dave', NULL, NULL)").split()[0]
        p = self.as_admin(h2, "dave", "fleet", "quarantine", "h9", "--reason", "x", code=spare)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("no host h9", p.stderr)
        kinds = self.pg.psql("SELECT kind || '|' || host FROM vigil.event ORDER BY seq").split()
        self.assertEqual(kinds, ["quarantine|h1", "unquarantine|h2"])
        self.assertEqual(h3.login("carol", "carol-pw", rhost="192.0.2.30"), PAM_SUCCESS)


class LoginFactorTest(FleetCase):
    """[totp] require on fleet hosts: the code of a right password is checked
    in the database, so a code used on one host is refused on every other,
    and the prompt never tells a right password from a wrong one."""

    def setUp(self):
        super().setUp()
        self.pg.psql("DELETE FROM vigil.totp; DELETE FROM vigil.recovery_code")
        harness.wait_for_fresh_step(margin=8)
        self.secret = self.pg.psql("SELECT vigil.totp_enroll('alice', NULL, NULL)").strip()
        ok = self.pg.psql("SELECT vigil.totp_confirm('alice', '%s')" % harness.oathtool(self.secret)).strip()
        self.assertEqual(ok, "t")

    def factor_hosts(self, n=2):
        envs = []
        for h in HOSTS[:n]:
            env = self.host(h, start=False)
            # Required of administrators: alice (enrolled) and carol (not).
            env.conf["roles"] = {"admin_groups": ["alice", "carol"]}
            env.conf["totp"] = {"require": "admins"}
            env.write_conf()
            env.start()
            env.wait_log("fleet: caught up as host")
            envs.append(env)
        return envs

    def login(self, env, user, password, code):
        return env.pam(user, [password, code], service="vigil-authtok", rhost="192.0.2.20")

    def test_a_code_used_on_h1_is_refused_on_h2(self):
        h1, h2 = self.factor_hosts(2)
        code = harness.oathtool(self.secret, 30)
        self.assertEqual(self.login(h1, "alice", "alice-pw", code)["results"][0]["rc"], PAM_SUCCESS)
        self.assertEqual(self.login(h2, "alice", "alice-pw", code)["results"][0]["rc"], PAM_AUTH_ERR)
        # Wrong codes are counted in the database, whichever host saw them.
        self.assertEqual(self.login(h2, "alice", "alice-pw", "000000")["results"][0]["rc"], PAM_AUTH_ERR)
        failures = self.pg.psql("SELECT cardinality(failures) FROM vigil.totp WHERE account = 'alice'").strip()
        self.assertEqual(failures, "2")

    def test_both_at_once_on_two_hosts_exactly_one_wins(self):
        h1, h2 = self.factor_hosts(2)
        code = harness.oathtool(self.secret, 30)
        runs = [h.pam_async("alice", ["alice-pw", code], service="vigil-authtok", rhost="192.0.2.21")
                for h in (h1, h2)]
        for t, _ in runs:
            t.join(30)
        rcs = sorted(r["results"][0]["rc"] for _, r in runs)
        self.assertEqual(rcs, [PAM_SUCCESS, PAM_AUTH_ERR])

    def test_enrolment_on_h1_works_on_h4(self):
        envs = []
        for h in ("h1", "h4"):
            env = self.host(h, start=False)
            env.conf["totp"] = {"require": "admins"}
            env.conf["roles"] = {"admin_groups": ["alice"]}
            env.daemon_uses_pam()  # self-enrolment checks the password through PAM
            env.start()
            env.wait_log("fleet: caught up as host")
            envs.append(env)
        h1, h4 = envs
        p = h1.ctl("totp", "enroll", "--json", uid=1004, env={"VIGIL_PASSWORD": "dave-pw"})
        self.assertEqual(p.returncode, 0, p.stderr)
        secret = json.loads(p.stdout)["secret"]
        # Generated in the database, shown once, never on a host's disk.
        for env in envs:
            with open(os.path.join(env.state, "vigil.db"), "rb") as f:
                self.assertNotIn(secret, f.read().decode("latin-1"))
        harness.wait_for_fresh_step()
        p = h1.ctl("totp", "confirm", uid=1004, env={"VIGIL_CODE": harness.oathtool(secret)})
        self.assertEqual(p.returncode, 0, p.stderr)
        # The factor is dave's on every host: h4 asks it and checks it.
        self.assertEqual(self.login(h4, "dave", "dave-pw", harness.oathtool(secret, 30))["results"][0]["rc"],
                         PAM_SUCCESS)
        self.assertEqual(self.login(h4, "dave", "dave-pw", "000000")["results"][0]["rc"], PAM_AUTH_ERR)
        # Replacing it needs its current code; root of a host may not enrol a fleet account.
        p = h4.ctl("totp", "enroll", "--json", uid=1004, env={"VIGIL_PASSWORD": "dave-pw", "VIGIL_CODE": "000000"})
        self.assertNotEqual(p.returncode, 0)
        p = h4.ctl("totp", "enroll", "dave", "--json")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("fleet account", p.stderr)

    def test_prompts_and_accounts_without_a_factor(self):
        (h1,) = self.factor_hosts(1)
        right = self.login(h1, "alice", "alice-pw", "123456")
        wrong = self.login(h1, "alice", "nope", "123456")
        self.assertEqual(right["messages"], wrong["messages"])
        self.assertEqual(len(right["messages"]), 2, right["messages"])
        # bob: no factor, none required: his right password takes any answer.
        self.assertEqual(self.login(h1, "bob", "bob-pw", "x")["results"][0]["rc"], PAM_SUCCESS)
        # carol: required (an administrator) and none enrolled: refused.
        self.assertEqual(self.login(h1, "carol", "carol-pw", "123456")["results"][0]["rc"], PAM_AUTH_ERR)
        self.assertIn("refused carol: a second factor is required", h1.log())


class MigrationTest(FleetCase):
    """vigild --migrate-to: two hosts' SQLite states, with conflicting locks
    and blocks, merge conservatively and idempotently into the fleet."""

    def migrate(self, env, host, *extra):
        env.conf["fleet"] = fleet_conf(self.pg, host)
        env.write_conf()
        return harness.subprocess.run([harness.VIGILD, "--config", env.conf_path, "--migrate-to",
                                       self.pg.url("postgres")] + list(extra),
                                      capture_output=True, text=True, timeout=60, env=env.nss_env())

    def local(self, env, user):
        return json.loads(env.ctl("status", user, "--json", check=True).stdout)

    def test_two_hosts_merge(self):
        self.pg.psql("DELETE FROM vigil.totp; DELETE FROM vigil.migration")
        a, b = Env(), Env()
        self.envs += [a, b]
        a.start()
        for i in range(3):
            a.login("alice", "wrong", rhost="198.51.100.%d" % (i + 1))
        self.assertEqual(a.ctl("block", "bob", "--reason", "first, on a").returncode, 0)
        # carol's device becomes known on a (her account keeps no bucket).
        self.assertEqual(a.login("carol", "carol-pw", rhost="192.0.2.99"), PAM_SUCCESS)
        p = a.ctl("totp", "enroll", "dave", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        secret = json.loads(p.stdout)["secret"]
        harness.wait_for_fresh_step()
        self.assertEqual(a.ctl("totp", "confirm", "dave", env={"VIGIL_CODE": harness.oathtool(secret)}).returncode, 0)
        a_alice = self.local(a, "alice")
        time.sleep(1.1)
        b.start()
        for i in range(3):
            b.login("alice", "wrong", rhost="203.0.113.%d" % (i + 1))
        self.assertEqual(b.ctl("block", "bob", "--reason", "later, on b").returncode, 0)
        b_alice = self.local(b, "alice")
        self.assertTrue(a_alice["locked"] and b_alice["locked"])
        # Refused while vigild runs: it holds the state directory.
        out = self.migrate(a, "h1")
        self.assertEqual(out.returncode, 1)
        self.assertIn("vigild is running", out.stderr)
        a.stop()
        b.stop()
        # --check writes nothing.
        out = self.migrate(a, "h1", "--check")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("--check: nothing written", out.stdout)
        self.assertEqual(self.pg.psql("SELECT count(*) FROM vigil.bucket").strip(), "0")
        for env, host in ((a, "h1"), (b, "h2")):
            out = self.migrate(env, host)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            self.assertIn("migrate: done", out.stdout)
        # The latest lock wins; the earliest block wins (a conflict, said).
        until = int(self.pg.psql("SELECT extract(epoch FROM locked_until)::bigint FROM vigil.bucket "
                                 "WHERE key = 'acct:alice'"))
        self.assertEqual(until, max(a_alice["until"], b_alice["until"]))
        devices = self.pg.psql("SELECT device FROM vigil.device WHERE account = 'carol'").split()
        self.assertEqual(devices, ["net:vigil@192.0.2.99"])
        reason = self.pg.psql("SELECT reason FROM vigil.block WHERE account = 'bob'").strip()
        self.assertIn("first, on a", reason)
        self.assertIn("conflict", out.stdout)
        # dave's factor moved, sealed again: a code from the app works in the fleet.
        ok = self.pg.psql("SELECT ok FROM vigil.verify('dave', '%s')" % harness.oathtool(secret, 30),
                          user="h1").strip()
        self.assertEqual(ok, "t")
        # Idempotent: a second run imports nothing.
        before = self.pg.psql("SELECT key, locked_until, lock_count, failures FROM vigil.bucket ORDER BY key")
        out = self.migrate(a, "h1")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("buckets: 0 imported", out.stdout)
        self.assertEqual(self.pg.psql("SELECT key, locked_until, lock_count, failures FROM vigil.bucket "
                                      "ORDER BY key"), before)


class TlsTest(FleetCase):
    """Each host logs in as its own role with a client certificate (CN = its
    name) over TLS with the server's name verified; no password anywhere."""

    def openssl(self, *args):
        harness.subprocess.run(["openssl"] + list(args), check=True, capture_output=True, cwd=self.certs)

    def setUp(self):
        super().setUp()
        self.certs = tempfile.mkdtemp(prefix="vigil-certs-", dir="/tmp")
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        self.openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=fleet-ca", "-days", "2")
        for name in ("server", "tlsh", "other"):
            cn = "localhost" if name == "server" else name
            self.openssl("req", "-new", *ec, "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn)
            self.openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                         "-CAcreateserial", "-out", name + ".crt", "-days", "2")
        # A second CA that signed nothing the server uses.
        self.openssl("req", "-x509", *ec, "-keyout", "bad.key", "-out", "bad.crt", "-subj", "/CN=bad", "-days", "2")
        data = os.path.join(self.pg.dir, "data")
        import pwd
        pw = pwd.getpwnam("postgres")
        for f in ("server.crt", "server.key", "ca.crt"):
            dst = os.path.join(data, "tls-" + f)
            shutil.copy(os.path.join(self.certs, f), dst)
            os.chown(dst, pw.pw_uid, pw.pw_gid)
            os.chmod(dst, 0o600)
        with open(os.path.join(data, "pg_hba.conf")) as f:
            hba = f.read()
        if "tlsh" not in hba:
            # Before the trust lines: the TLS host only with its certificate.
            with open(os.path.join(data, "pg_hba.conf"), "w") as f:
                f.write("hostssl vigil tlsh 127.0.0.1/32 cert\nhost vigil tlsh 127.0.0.1/32 reject\n" + hba)
        self.pg.psql("ALTER SYSTEM SET ssl = on; ALTER SYSTEM SET ssl_cert_file = 'tls-server.crt'; "
                     "ALTER SYSTEM SET ssl_key_file = 'tls-server.key'; ALTER SYSTEM SET ssl_ca_file = 'tls-ca.crt'; "
                     "SELECT pg_reload_conf()")
        if "tlsh" not in self.pg.psql("SELECT name FROM vigil.host"):
            self.pg.add_host("tlsh")

    def tearDown(self):
        super().tearDown()
        shutil.rmtree(self.certs, ignore_errors=True)

    def tls_conf(self, cert="tlsh", ca="ca.crt"):
        conf = {"hostaddr": "127.0.0.1", "host": "localhost", "port": self.pg.port, "dbname": "vigil",
                "host_name": "tlsh", "db_timeout": "2s", "sslmode": "verify-full",
                "sslrootcert": os.path.join(self.certs, ca)}
        if cert:
            conf["sslcert"] = os.path.join(self.certs, cert + ".crt")
            conf["sslkey"] = os.path.join(self.certs, cert + ".key")
        return conf

    def test_client_certificate_login(self):
        env = self.host("tlsh", fleet=self.tls_conf())
        with open(env.conf_path) as f:
            self.assertNotIn("password", f.read())
        self.assertEqual(env.login("alice", env.password("alice"), rhost="192.0.2.60"), PAM_SUCCESS)
        ssl = self.pg.psql("SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
                           "WHERE a.usename = 'tlsh'").split()
        self.assertIn("t", ssl)

    def test_without_its_certificate_or_with_the_wrong_ca_it_cannot_connect(self):
        for fleet, why in ((self.tls_conf(cert=None), "certificate"),
                           (self.tls_conf(cert="other"), "authentication failed"),
                           (self.tls_conf(ca="bad.crt"), "certificate verify failed")):
            env = self.host("tlsh", fleet=fleet, start=False)
            env.start()
            log = env.wait_log("fleet database unreachable")
            self.assertIn("fleet database unreachable", log)
            self.assertIn(why, log)
            # Degraded: alice's factor is unknown here, so her right password opens nothing.
            self.assertEqual(env.login("alice", env.password("alice"), rhost="192.0.2.61"), PAM_AUTH_ERR)
            env.stop()


class UnreachableTest(FleetCase):
    """A host without its database is in degraded mode: it decides fleet
    accounts alone (deny_offline, journaled), refuses a right password
    where a code would be needed, and says so in the log and in STATUS=."""

    def test_no_database_at_start_means_degraded(self):
        dead = {"url": "postgresql://h1@127.0.0.1:1/vigil", "host_name": "h1", "db_timeout": "300ms",
                "sslmode": "disable"}
        env = self.host("h1", fleet=dead, start=False)
        notify = NotifySocket(env.dir)
        try:
            env.start(extra_env={"NOTIFY_SOCKET": notify.path})
            self.assertIn("fleet database unreachable", env.wait_log("fleet database unreachable"))
            self.assertTrue(notify.wait_for("fleet DEGRADED"), notify.lines)
            t0 = time.monotonic()
            # offline_totp and offline_admins = "deny" (the defaults): whether
            # alice has a factor, or is a fleet administrator, is unknown
            # here, so her right password opens nothing.
            self.assertEqual(env.login("alice", env.password("alice")), PAM_AUTH_ERR)
            self.assertLess(time.monotonic() - t0, 5.0)
            self.assertIn("while the fleet's database is unreachable", env.log())
            # A system account is this host's: decided locally as ever.
            self.assertEqual(env.login("root", env.password("root")), PAM_SUCCESS)
            st = json.loads(env.ctl("fleet", "status", "--json").stdout)
            self.assertTrue(st["degraded"])
            self.assertGreaterEqual(st["journal"], 1)
        finally:
            notify.close()

    def test_server_stopped_under_a_running_host(self):
        h1 = self.host("h1", fleet=fleet_conf(self.pg, "h1", fence="1s"))
        p = h1.ctl("token", "issue", "--owner", "carol", "--name", "ci", "--scope", "deploy", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        token = json.loads(p.stdout)["token"]
        check = PropagationTest.token_verdict
        self.assertTrue(PropagationTest.wait_for(self, lambda: check(self, h1, token) == "valid"))
        self.assertEqual(h1.login("alice", h1.password("alice")), PAM_SUCCESS)
        data = os.path.join(self.pg.dir, "data")
        pg_ctl = str(PG_BIN / "pg_ctl")
        self.pg._run_as_server_user([pg_ctl, "-w", "-D", data, "-m", "immediate", "stop"], check=True)
        try:
            t0 = time.monotonic()
            # Degraded: decided here (alice has no factor, as the database
            # said a moment ago), journaled.
            self.assertEqual(h1.login("alice", h1.password("alice")), PAM_SUCCESS)
            self.assertLess(time.monotonic() - t0, 5.0)
            self.assertIn("fleet: degraded mode", h1.wait_log("fleet: degraded mode"))
            # Past [fleet] fence the replica vouches for no token: a
            # revocation may be waiting in the database (503 over HTTP).
            self.assertTrue(PropagationTest.wait_for(self, lambda: check(self, h1, token) == "stale", timeout=4))
        finally:
            # The same port: the hosts' URL names it.
            opts = "-k %s -c listen_addresses=127.0.0.1 -p %d -c fsync=off" % (self.pg.dir, self.pg.port)
            self.pg._run_as_server_user([pg_ctl, "-w", "-D", data, "-l", os.path.join(self.pg.dir, "log"),
                                         "-o", opts, "start"], check=True)
        # Back by itself: the host reconnects in the background.
        deadline = time.time() + 15
        while h1.log().count("caught up as host h1") < 2 and time.time() < deadline:
            time.sleep(0.1)
        self.assertEqual(h1.log().count("caught up as host h1"), 2)
        self.assertEqual(h1.login("alice", h1.password("alice")), PAM_SUCCESS)
        self.assertTrue(PropagationTest.wait_for(self, lambda: check(self, h1, token) == "valid", timeout=5))


if __name__ == "__main__":
    unittest.main()
