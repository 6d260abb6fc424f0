"""Fleet mode that survives its database (issue #19, vigild(8) FLEET,
"Degraded mode"): a real PostgreSQL server, four real vigild hosts, each
behind its own TCP proxy that a test pauses (a black hole), kills or
restarts, and logins through real libpam.

The attackers played here:
  * a remote attacker who cuts hosts off the database (a firewall rule, a
    flood) to get more guesses: the bound is deny + hosts cut off x
    deny_offline, and the account is locked everywhere after healing;
  * the same attacker hoping a partition outlives a block or a revocation:
    a block made while cut off is journaled and made fleet-wide, a revoked
    token is refused (503 after the fence, 403 after healing);
  * a crash at the worst moment: a host killed during its replay, the
    server stopped with -m immediate, its postmaster killed during a storm:
    nothing counted twice, nothing committed lost, every host back alone;
  * and the claim that no password is accepted by a path that skipped the
    database while it was reachable.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))

import harness  # noqa: E402
import test_fleet_pam as base  # noqa: E402
from harness import PAM_AUTH_ERR, PAM_SUCCESS  # noqa: E402
from pgserver import PG_BIN  # noqa: E402
from tcpproxy import TcpProxy  # noqa: E402
from test_tokens import Nginx  # noqa: E402  (nginx with the shipped auth_request snippets)

HOSTS = base.HOSTS


def report(env, user, outcome, nonce, rhost, service="sshd"):
    """One password outcome, as sshd's module reports it (a root caller)."""
    r = harness.raw_call(env.socket, "io.vigil.Auth.Report",
                         {"user": user, "outcome": outcome, "nonce": nonce, "service": service, "rhost": rhost},
                         timeout=10)
    return r["parameters"]["verdict"] if "parameters" in r else r


def checker_status(sock_path, token, scope="deploy"):
    """The HTTP status vigild's token checker answers (what nginx's
    auth_request sees)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(sock_path)
    s.sendall(("GET /auth/%s HTTP/1.1\r\nHost: vigil\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n"
               % (scope, token)).encode())
    data = b""
    while b"\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    return int(data.split(b" ", 2)[1])


class DegradedCase(base.FleetCase):
    def setUp(self):
        super().setUp()
        self.proxies = {}
        self.pg.psql("TRUNCATE vigil.replayed")

    def tearDown(self):
        super().tearDown()
        for p in self.proxies.values():
            p.close()

    def proxied(self, name, start=True, **extra):
        """A host whose database connection goes through its own proxy."""
        proxy = self.proxies.get(name) or TcpProxy(self.pg.port)
        self.proxies[name] = proxy
        conf = base.fleet_conf(self.pg, name, **extra)
        conf["url"] = "postgresql://%s@127.0.0.1:%d/vigil" % (name, proxy.port)
        return self.host(name, fleet=conf, start=start)

    def hosts(self, n=4, **extra):
        return [self.proxied(h, **extra) for h in HOSTS[:n]]

    def status(self, env):
        p = env.ctl("fleet", "status", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)

    def degraded(self, env):
        return self.status(env)["degraded"]

    def healed(self, env, times):
        """The host left degraded mode `times` times (its start counts)."""
        return self.wait_for(lambda: env.log().count("fleet: caught up as host") >= times, 20)

    def pg_ctl(self, *args):
        data = os.path.join(self.pg.dir, "data")
        return self.pg._run_as_server_user([str(PG_BIN / "pg_ctl"), "-w", "-D", data] + list(args), check=True)

    def start_server(self):
        # The same port: the proxies name it.
        opts = "-k %s -c listen_addresses=127.0.0.1 -p %d -c fsync=off" % (self.pg.dir, self.pg.port)
        try:
            self.pg_ctl("-l", os.path.join(self.pg.dir, "log"), "-o", opts, "start")
        except subprocess.CalledProcessError:
            with open(os.path.join(self.pg.dir, "log"), errors="replace") as f:
                print("\nPostgreSQL's log:\n" + f.read()[-3000:])
            raise

    def locked_in_db(self, account):
        return self.pg.psql("SELECT locked_until > now() FROM vigil.bucket WHERE key = 'acct:%s'"
                            % account).strip() == "t"


class DegradeFastTest(DegradedCase):
    def test_a_paused_proxy_degrades_the_host_and_no_login_waits(self):
        envs = self.hosts(4, db_timeout="1s")
        h4 = envs[3]
        self.assertFalse(self.degraded(h4))
        self.proxies["h4"].pause()
        t0 = time.monotonic()
        # The first login waits one db_timeout at most, then is decided here:
        # PAM_AUTH_ERR is vigild's answer (a module deadline would have
        # given PAM_AUTHINFO_UNAVAIL, the failmode).
        self.assertEqual(h4.login("alice", "wrong-1", rhost="192.0.2.1"), PAM_AUTH_ERR)
        first = time.monotonic() - t0
        self.assertTrue(self.degraded(h4))
        self.assertLess(time.monotonic() - t0, 1.0 + 1.5, "degraded within db_timeout plus a margin")
        self.assertIn("fleet: degraded mode", h4.log())
        st = self.status(h4)
        self.assertIn("db_timeout", st["degraded_why"])
        # No later login waits on the database: each is well under db_timeout.
        for i in range(3):
            t1 = time.monotonic()
            self.assertEqual(h4.login("bob", "wrong-%d" % i, rhost="192.0.2.2"), PAM_AUTH_ERR)
            self.assertLess(time.monotonic() - t1, 0.9, "login %d waited (the first took %.2fs)" % (i, first))
        # The others never noticed.
        for env in envs[:3]:
            self.assertFalse(self.degraded(env))
        self.assertGreaterEqual(self.status(h4)["journal"], 4)
        # Healing: the probe reconnects, the journal is replayed, and the
        # host leaves degraded mode by itself.
        self.proxies["h4"].resume()
        self.assertTrue(self.healed(h4, 2), h4.log()[-2000:])
        st = self.status(h4)
        self.assertFalse(st["degraded"])
        self.assertEqual(st["journal"], 0)
        self.assertGreaterEqual(st["replayed"], 4)
        self.assertEqual(int(self.pg.psql("SELECT count(*) FROM vigil.replayed WHERE host = 'h4'")), st["replayed"])
        self.assertIn("left degraded mode after", h4.log())

    def test_a_killed_proxy_degrades_at_once_and_the_host_comes_back_alone(self):
        (h1,) = self.hosts(1)
        self.proxies["h1"].kill()
        self.assertEqual(h1.login("alice", "wrong", rhost="192.0.2.3"), PAM_AUTH_ERR)
        self.assertTrue(self.wait_for(lambda: self.degraded(h1), 5))
        self.proxies["h1"].restart()
        self.assertTrue(self.healed(h1, 2), h1.log()[-2000:])
        self.assertEqual(self.pg.psql("SELECT result FROM vigil.replayed WHERE host = 'h1'").strip(), "counted")


class PartitionTest(DegradedCase):
    def test_the_bound_under_partition_is_deny_plus_hosts_cut_off_times_deny_offline(self):
        # deny = 3 in the database (setUp), deny_offline = 3 on every host.
        envs = self.hosts(4, deny_offline=3)
        for h in ("h3", "h4"):
            self.proxies[h].pause()
        for env in envs[2:]:
            env.login("nobody-there", "x", rhost="192.0.2.99")  # the deadline that degrades it
            self.assertTrue(self.wait_for(lambda e=env: self.degraded(e), 5))
        # The attacker guesses on every host, 6 wrong passwords each, from
        # ever new addresses (no source throttle helps the defender here).
        n = 0
        for env in envs:
            for i in range(6):
                n += 1
                self.assertEqual(env.login("alice", "guess-%d" % n, rhost="198.51.100.%d" % n), PAM_AUTH_ERR)
        online = int(self.pg.psql("SELECT count(*) FROM vigil.failure WHERE account = 'alice'"))
        offline = [len(json.loads(e.ctl("status", "alice", "--json", check=True).stdout)["recent_failures"])
                   for e in envs[2:]]
        honoured = online + sum(offline)
        print("\npartition bound: %d honoured (%d online, offline %s) <= 3 + 2 x 3 = 9" % (honoured, online, offline))
        self.assertEqual(online, 3, "the hosts online share deny")
        for o in offline:
            self.assertLessEqual(o, 3, "each host cut off honours deny_offline at most")
        self.assertLessEqual(honoured, 3 + 2 * 3)
        # Locked on the hosts cut off too, for the right password.
        for env in envs:
            self.assertEqual(env.login("alice", env.password("alice"), rhost="198.51.100.200"), PAM_AUTH_ERR)
        # Healing: the journal is replayed, and the account is locked
        # everywhere, in the database.
        for h in ("h3", "h4"):
            self.proxies[h].resume()
        for env in envs[2:]:
            self.assertTrue(self.healed(env, 2), env.log()[-2000:])
        self.assertTrue(self.locked_in_db("alice"))
        for env in envs:
            self.assertEqual(env.login("alice", env.password("alice"), rhost="198.51.100.201"), PAM_AUTH_ERR)
        # The replayed failures reached the database (as locked refusals or
        # counted failures): 6 on each host cut off, plus its refused right
        # password and the degrading attempt.
        self.assertEqual(int(self.pg.psql("SELECT count(*) FROM vigil.replayed WHERE kind = 'failure' "
                                          "AND account = 'alice'")), 12)

    def test_a_block_made_while_partitioned_is_replayed_and_enforced_everywhere(self):
        envs = self.hosts(4)
        h4 = envs[3]
        token = json.loads(h4.ctl("token", "issue", "--owner", "carol", "--name", "ci", "--scope", "deploy",
                                  "--json", check=True).stdout)["token"]
        self.proxies["h4"].pause()
        self.assertEqual(h4.login("nobody-there", "x", rhost="192.0.2.9"), PAM_AUTH_ERR)  # degrades it
        self.assertTrue(self.wait_for(lambda: self.degraded(h4), 5))
        p = h4.ctl("block", "bob", "--reason", "phished, seen from the console")
        self.assertEqual(p.returncode, 0, p.stderr + h4.log()[-3000:] + "\nvigild exit: %r" % h4.proc.poll())
        self.assertIn("blocked bob on this host only for now", h4.wait_log("on this host only for now", 10))
        self.assertTrue(self.degraded(h4))
        # Enforced here at once; not yet elsewhere (the database has no word of it).
        self.assertEqual(h4.login("bob", h4.password("bob"), rhost="192.0.2.10"), PAM_AUTH_ERR)
        self.assertEqual(self.blocked("bob"), "")
        self.assertEqual(envs[0].login("bob", envs[0].password("bob"), rhost="192.0.2.11"), PAM_SUCCESS)
        # Recovery needs the database: refused, said clearly, nothing changed.
        p = h4.ctl("unblock", "bob", "--reason", "x")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("fleet degraded mode", p.stderr)
        p = h4.ctl("token", "issue", "--owner", "carol", "--name", "ci2", "--scope", "deploy")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("needs the fleet's database", p.stderr)
        # A revocation only protects: it works.
        p = h4.ctl("token", "revoke", json.loads(h4.ctl("token", "list", "--json", check=True).stdout)
                   ["tokens"][0]["accessor"], "--reason", "rotating")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(harness.raw_call(h4.socket, "io.vigil.Token.Check",
                                          {"token": token, "scope": "deploy"})["parameters"]["verdict"], "revoked")
        self.proxies["h4"].resume()
        self.assertTrue(self.healed(h4, 2), h4.log()[-2000:])
        self.assertEqual(self.blocked("bob"), "h4")
        self.assertEqual(self.pg.psql("SELECT details->>'made_by' FROM vigil.block WHERE account = 'bob'").strip(),
                         "offline")
        for env in envs:
            self.assertTrue(self.wait_for(lambda e=env: json.loads(e.ctl("status", "bob", "--json", check=True)
                                                                   .stdout)["state"] == "blocked"))
            self.assertEqual(env.login("bob", env.password("bob"), rhost="192.0.2.12"), PAM_AUTH_ERR)


class RefusedTest(DegradedCase):
    """A database that answers but refuses this host is not an outage: the
    host does not decide alone (that would let a quarantined host, or one
    the schema does not serve, go on deciding for the fleet); fleet
    accounts get the module's failmode, and the journal waits."""

    def test_a_host_quarantined_while_cut_off_stops_deciding_alone_when_it_reconnects(self):
        (h1,) = self.hosts(1)
        self.proxies["h1"].pause()
        self.assertEqual(h1.login("alice", "wrong-1", rhost="192.0.2.150"), PAM_AUTH_ERR)
        self.assertTrue(self.wait_for(lambda: self.degraded(h1), 5))
        self.pg.psql("UPDATE vigil.host SET quarantined = true WHERE name = 'h1'")
        self.proxies["h1"].resume()
        self.assertTrue(self.wait_for(lambda: "the database refuses this host" in h1.log(), 15), h1.log()[-2000:])
        st = self.status(h1)
        self.assertFalse(st["degraded"], "refused, not degraded: nothing decided alone")
        self.assertGreaterEqual(st["journal"], 1, "the journal is kept")
        self.assertEqual(h1.login("alice", h1.password("alice"), rhost="192.0.2.151"), harness.PAM_AUTHINFO_UNAVAIL)
        self.assertEqual(self.pg.psql("SELECT count(*) FROM vigil.replayed").strip(), "0")
        # The quarantine lifted: the journal is taken, the host heals.
        self.pg.psql("UPDATE vigil.host SET quarantined = false WHERE name = 'h1'")
        self.assertTrue(self.healed(h1, 2), h1.log()[-2000:])
        self.assertEqual(self.pg.psql("SELECT result FROM vigil.replayed WHERE host = 'h1'").strip(), "counted")

    def test_a_server_that_refuses_the_statements_gets_the_failmode(self):
        # vigil.replay() missing: a schema older than this vigild.
        self.pg.psql("ALTER FUNCTION vigil.replay(text, jsonb) RENAME TO replay_gone")
        try:
            env = self.proxied("h1", start=False)
            env.start()
            self.assertTrue(self.wait_for(lambda: "refused this host's statements" in env.log(), 10), env.log())
            self.assertFalse(self.status(env)["degraded"])
            self.assertEqual(env.login("alice", env.password("alice"), rhost="192.0.2.152"),
                             harness.PAM_AUTHINFO_UNAVAIL)
        finally:
            self.pg.psql("ALTER FUNCTION vigil.replay_gone(text, jsonb) RENAME TO replay")
        # Once the schema serves it, the host connects and catches up alone.
        self.assertTrue(self.healed(env, 1), env.log()[-2000:])
        self.assertEqual(env.login("alice", env.password("alice"), rhost="192.0.2.153"), PAM_SUCCESS)


class StaleTokenTest(DegradedCase):
    def test_a_token_revoked_while_partitioned_is_503_after_the_fence_and_403_after_healing(self):
        h1, h2 = [self.proxied(h, fence="2s", start=False) for h in HOSTS[:2]]
        http = {}
        for env in (h1, h2):
            env.conf["roles"] = {"admin_groups": ["alice", harness.ADMIN_SOCKET_GROUP[0]]}
            http[env] = os.path.join(env.dir, "token-http.sock")
            env.conf["tokens"] = {"http_socket": http[env]}
            env.write_conf()
            env.start()
            env.wait_log("fleet: caught up as host")
        # A real nginx with auth_request in front of h2's checker (the
        # shipped snippets, tests/e2e/test_tokens.py).
        nginx = Nginx(h2.dir, http[h2])
        try:
            token = json.loads(h2.ctl("token", "issue", "--owner", "alice", "--name", "ci", "--scope", "reports",
                                      "--json", check=True).stdout)["token"]
            self.assertEqual(checker_status(http[h2], token, "reports"), 200)
            self.assertEqual(nginx.get("/reports/q3.txt", token)[0], 200)
            self.proxies["h2"].pause()
            # alice, an administrator, is blocked on h1: every host revokes
            # her tokens and freezes its token API when it learns of it; h2
            # cannot.
            self.assertEqual(h1.ctl("block", "alice", "--reason", "phished").returncode, 0)
            t0 = time.monotonic()
            self.assertEqual(checker_status(http[h2], token, "reports"), 200, "within the fence, the replica vouches")
            self.assertTrue(self.wait_for(lambda: checker_status(http[h2], token, "reports") == 503, 6))
            print("\nstale token: 503 after %.1fs (fence 2s)" % (time.monotonic() - t0))
            # nginx fails closed on the checker's 503 (its 500).
            self.assertEqual(nginx.get("/reports/q3.txt", token)[0], 500)
            self.proxies["h2"].resume()
            self.assertTrue(self.wait_for(lambda: checker_status(http[h2], token, "reports") == 403, 15))
            self.assertEqual(nginx.get("/reports/q3.txt", token)[0], 403)
        finally:
            nginx.close()
        listing = json.loads(h2.ctl("token", "list", "--json", check=True).stdout)
        self.assertTrue(listing["frozen"])
        self.assertEqual([t["state"] for t in listing["tokens"]], ["revoked"])


class ReplayCrashTest(DegradedCase):
    def test_a_host_killed_during_its_replay_counts_nothing_twice(self):
        h4 = self.proxied("h4")
        self.proxies["h4"].pause()
        report(h4, "carol", "failure", "first", "10.9.0.1")
        self.assertTrue(self.wait_for(lambda: self.degraded(h4), 5))
        # A large journal, from ever new sources (no throttle): 3,000 failures.
        total = 3000

        def some(k):
            for i in range(k, total, 8):
                if i:
                    report(h4, "carol", "failure", "n%d" % i, "10.%d.%d.%d" % (10 + i // 65536, (i // 256) % 256,
                                                                               i % 256))
        threads = [threading.Thread(target=some, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(self.status(h4)["journal"], total)

        def replayed():
            return int(self.pg.psql("SELECT count(*) FROM vigil.replayed WHERE host = 'h4'"))
        self.proxies["h4"].resume()
        self.assertTrue(self.wait_for(lambda: replayed() > 0, 15))
        at_kill = replayed()
        h4.kill9()
        print("\nkilled during the replay at %d of %d" % (at_kill, total))
        self.assertLess(at_kill, total, "the kill came before the replay ended")
        h4.start()
        self.assertTrue(self.healed(h4, 2), h4.log()[-3000:])
        self.assertEqual(replayed(), total, "each entry replayed exactly once")
        self.assertEqual(self.status(h4)["journal"], 0)
        counted = int(self.pg.psql("SELECT count(*) FROM vigil.replayed WHERE host = 'h4' AND result = 'counted'"))
        failures = int(self.pg.psql("SELECT count(*) FROM vigil.failure WHERE account = 'carol'"))
        # The first report was held by the paused proxy and reaches the
        # server when it resumes: that one may count twice (its journaled
        # copy too), never a replayed entry.
        self.assertIn(failures, (counted, counted + 1), "a failure in the database for each counted replay")
        self.assertTrue(self.locked_in_db("carol"))


class ServerCrashTest(DegradedCase):
    def test_stop_immediate_and_restart_every_host_comes_back_alone(self):
        envs = self.hosts(4, db_timeout="500ms")
        self.pg_ctl("-m", "immediate", "stop")
        try:
            for i, env in enumerate(envs):
                self.assertEqual(env.login("alice", "wrong", rhost="192.0.2.%d" % (40 + i)), PAM_AUTH_ERR)
                self.assertTrue(self.wait_for(lambda e=env: self.degraded(e), 5))
        finally:
            self.start_server()
        for env in envs:
            self.assertTrue(self.healed(env, 2), env.log()[-2000:])
        self.assertEqual(int(self.pg.psql("SELECT count(*) FROM vigil.replayed")), 4)
        self.assertEqual(int(self.pg.psql("SELECT count(*) FROM vigil.failure WHERE account = 'alice'")), 3,
                         "deny = 3: the fourth is a locked refusal")

    def test_postmaster_killed_during_a_storm_loses_nothing_committed(self):
        # Every failure counts (deny out of reach), so the database's
        # failures are exactly the attempts, a call cut by the crash that
        # had committed there counting twice at most.
        self.pg.psql("UPDATE vigil.policy SET deny = 1000")
        envs = self.hosts(4, db_timeout="500ms")
        with open(os.path.join(self.pg.dir, "data", "postmaster.pid")) as f:
            pid = int(f.readline())
        users = ["alice", "bob", "carol", "dave"]  # one per host: each stays under deny
        sent = {u: 0 for u in users}
        at_kill = {}
        killed = threading.Event()

        def storm(env, k):
            # Until 150 more after the kill (decided alone, journaled).
            u = users[k]
            while sent[u] < 800 and not (killed.is_set() and sent[u] >= at_kill[u] + 150):
                report(env, u, "failure", "s%d-%d" % (k, sent[u]), "10.%d.%d.%d" % (50 + k, sent[u] // 256,
                                                                                      sent[u] % 256))
                sent[u] += 1
        threads = [threading.Thread(target=storm, args=(env, k)) for k, env in enumerate(envs)]
        for t in threads:
            t.start()
        self.assertTrue(self.wait_for(lambda: all(n >= 150 for n in sent.values()), 30))
        children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        os.kill(pid, signal.SIGKILL)
        at_kill.update(sent)
        killed.set()
        for c in children:
            try:
                os.kill(int(c), signal.SIGKILL)
            except ProcessLookupError:
                pass
        # Dead: a zombie until its parent reaps it, which PID 1 of a
        # container may never do; its lock file then names a live-looking
        # PID, and an administrator removes it (as here) once it is dead.
        def dead(p):
            try:
                with open("/proc/%d/stat" % p) as f:
                    return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
            except FileNotFoundError:
                return True
        self.assertTrue(self.wait_for(lambda: all(dead(int(p)) for p in [pid] + children), 10))
        for stale in (os.path.join(self.pg.dir, "data", "postmaster.pid"),
                      os.path.join(self.pg.dir, ".s.PGSQL.%d.lock" % self.pg.port),
                      os.path.join(self.pg.dir, ".s.PGSQL.%d" % self.pg.port)):
            if os.path.exists(stale):
                os.unlink(stale)
        for t in threads:
            t.join(60)
        self.start_server()
        for env in envs:
            self.assertTrue(self.healed(env, 2), env.log()[-2000:])
        for u in users:
            counted = int(self.pg.psql("SELECT count(*) FROM vigil.failure WHERE account = '%s'" % u))
            print("\npostmaster killed during a storm: %s: %d attempts (%d before the kill), %d in the database"
                  % (u, sent[u], at_kill[u], counted))
            self.assertGreaterEqual(sent[u], at_kill[u] + 150, "the storm went on after the kill")
            self.assertGreaterEqual(counted, sent[u], "nothing answered was lost")
            self.assertLessEqual(counted, sent[u] + 1, "the call cut by the crash counted twice at most")
        for env in envs:
            self.assertEqual(self.status(env)["journal"], 0)


class ReachableTest(DegradedCase):
    def test_no_password_is_accepted_by_a_path_that_skipped_a_reachable_database(self):
        envs = self.hosts(4)
        # Locked in the database by h1; h2..h4 ask the database, whatever
        # their own view says (they have seen none of it).
        for i in range(3):
            self.assertEqual(envs[0].login("alice", "wrong-%d" % i, rhost="192.0.2.%d" % (70 + i)), PAM_AUTH_ERR)
        for env in envs[1:]:
            self.assertEqual(env.login("alice", env.password("alice"), rhost="192.0.2.80"), PAM_AUTH_ERR)
        # A block written straight into the database, with no event (no
        # host's replica knows it): still refused on every host.
        self.pg.psql("INSERT INTO vigil.block (account, reason, since, by, host) "
                     "VALUES ('bob', 'test', now(), 'dba', 'h1')")
        for env in envs:
            self.assertEqual(env.login("bob", env.password("bob"), rhost="192.0.2.81"), PAM_AUTH_ERR)
        self.assertEqual(envs[0].login("carol", envs[0].password("carol"), rhost="192.0.2.82"), PAM_SUCCESS)
        # Nothing was decided alone: no journal anywhere, nothing replayed.
        for env in envs:
            st = self.status(env)
            self.assertFalse(st["degraded"])
            self.assertEqual(st["journal"], 0)
            self.assertEqual(st["replayed"], 0)
        self.assertEqual(self.pg.psql("SELECT count(*) FROM vigil.replayed").strip(), "0")


class RewindTest(DegradedCase):
    def test_after_a_restore_from_backup_the_hosts_reassert_their_blocks(self):
        envs = self.hosts(2)
        data = os.path.join(self.pg.dir, "data")
        backup = os.path.join(self.pg.dir, "backup")
        self.pg_ctl("-m", "fast", "stop")
        subprocess.run(["cp", "-a", data, backup], check=True)
        self.start_server()
        for env in envs:
            self.assertTrue(self.healed(env, 2))
        self.assertEqual(envs[0].ctl("block", "bob", "--reason", "phished").returncode, 0)
        for env in envs:
            self.assertTrue(self.wait_for(lambda e=env: json.loads(e.ctl("status", "bob", "--json", check=True)
                                                                   .stdout)["state"] == "blocked"))
        # The database is restored from the backup taken before the block.
        self.pg_ctl("-m", "fast", "stop")
        subprocess.run(["rm", "-rf", data], check=True)
        subprocess.run(["mv", backup, data], check=True)
        self.start_server()
        for env in envs:
            self.assertTrue(self.healed(env, 3), env.log()[-2000:])
        self.assertTrue(any("re-asserted 1 block(s)" in env.log() for env in envs),
                        [env.log()[-1500:] for env in envs])
        self.assertIn("the database lost history", envs[0].log())
        self.assertNotEqual(self.blocked("bob"), "")
        for env in envs:
            self.assertEqual(env.login("bob", env.password("bob"), rhost="192.0.2.90"), PAM_AUTH_ERR)
            self.assertFalse(self.degraded(env))


class FailoverTest(DegradedCase):
    """A primary and a synchronous standby (synchronous_standby_names); the
    hosts name both, with target_session_attrs=read-write. The primary
    crashes right after a block, the standby is promoted: nothing is lost,
    and every host finds the new primary by itself."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        pg = cls.pg
        cls.standby = os.path.join(pg.dir, "standby")
        r = pg._run_as_server_user([str(PG_BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(pg.port),
                                    "-U", "postgres", "-D", cls.standby, "-R", "-X", "stream", "--no-sync",
                                    "--checkpoint=fast"])
        if r.returncode != 0:
            raise RuntimeError("pg_basebackup: " + r.stdout + r.stderr)
        with socket.socket() as sk:
            sk.bind(("127.0.0.1", 0))
            cls.standby_port = sk.getsockname()[1]
        opts = ("-k %s -c listen_addresses=127.0.0.1 -p %d -c fsync=off -c cluster_name=standby1 "
                "-c hot_standby=on" % (pg.dir, cls.standby_port))
        r = pg._run_as_server_user([str(PG_BIN / "pg_ctl"), "-w", "-D", cls.standby, "-l",
                                    os.path.join(pg.dir, "standby.log"), "-o", opts, "start"])
        if r.returncode != 0:
            raise RuntimeError("standby start: " + r.stdout + r.stderr)
        pg.psql("ALTER SYSTEM SET synchronous_standby_names = 'standby1'")
        pg.psql("SELECT pg_reload_conf()")
        deadline = time.time() + 20
        while time.time() < deadline:
            if pg.psql("SELECT sync_state FROM pg_stat_replication").strip() == "sync":
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("the standby never became synchronous")

    @classmethod
    def tearDownClass(cls):
        cls.pg._run_as_server_user([str(PG_BIN / "pg_ctl"), "-w", "-D", cls.standby, "-m", "immediate", "stop"])
        super().tearDownClass()

    def both(self, name):
        return ("postgresql://%s@127.0.0.1:%d,127.0.0.1:%d/vigil?target_session_attrs=read-write"
                % (name, self.pg.port, self.standby_port))

    def test_a_switchover_loses_no_block_revocation_or_freeze(self):
        envs = []
        for h in HOSTS:
            env = self.host(h, fleet=base.fleet_conf(self.pg, h, url=self.both(h), db_timeout="1s"), start=False)
            env.conf["roles"] = {"admin_groups": ["alice", harness.ADMIN_SOCKET_GROUP[0]]}
            env.write_conf()
            env.start()
            env.wait_log("fleet: caught up as host")
            envs.append(env)
        token = json.loads(envs[3].ctl("token", "issue", "--owner", "alice", "--name", "ci", "--scope", "deploy",
                                       "--json", check=True).stdout)["token"]
        for i in range(2):
            self.assertEqual(envs[1].login("carol", "wrong-%d" % i, rhost="192.0.2.%d" % (120 + i)), PAM_AUTH_ERR)
        # alice (an administrator) blocked on h1; the primary dies the moment
        # vigilctl has its answer, and the standby is promoted.
        q = ["psql", "-X", "-A", "-t", "-h", "127.0.0.1", "-p", str(self.standby_port), "-U", "postgres", "vigil",
             "-c"]
        on_new = lambda sql: subprocess.run(q + [sql], capture_output=True, text=True,  # noqa: E731
                                            env=self.pg.env()).stdout.strip()
        self.assertEqual(envs[0].ctl("block", "alice", "--reason", "phished").returncode, 0)
        # remote_apply: visible on the standby by the time the block is answered.
        self.assertEqual(on_new("SELECT host FROM vigil.block WHERE account = 'alice'"), "h1")
        self.pg_ctl("-m", "immediate", "stop")
        self.pg._run_as_server_user([str(PG_BIN / "pg_ctl"), "-w", "-D", self.standby, "promote"], check=True)
        self.assertEqual(on_new("SELECT host FROM vigil.block WHERE account = 'alice'"), "h1")
        self.assertEqual(on_new("SELECT count(*) FROM vigil.failure WHERE account = 'carol'"), "2")
        # Every host finds the new primary alone, and enforces the block: the
        # token revoked, the token API frozen, the password refused.
        for env in envs:
            self.assertTrue(self.wait_for(lambda e=env: not self.degraded(e) and
                                          json.loads(e.ctl("status", "alice", "--json", check=True).stdout)
                                          ["state"] == "blocked", 30), env.log()[-2000:])
            self.assertEqual(env.login("alice", env.password("alice"), rhost="192.0.2.130"), PAM_AUTH_ERR)
        self.assertNotEqual(harness.raw_call(envs[3].socket, "io.vigil.Token.Check",
                                             {"token": token, "scope": "deploy"})["parameters"]["verdict"], "valid")
        self.assertTrue(json.loads(envs[3].ctl("token", "list", "--json", check=True).stdout)["frozen"])
        # The same history: nothing to re-assert.
        for env in envs:
            self.assertNotIn("lost history", env.log())
        # A failure after the switchover is decided by the new primary.
        self.assertEqual(envs[2].login("carol", "wrong-3", rhost="192.0.2.140"), PAM_AUTH_ERR)
        self.assertEqual(on_new("SELECT count(*) FROM vigil.failure WHERE account = 'carol'"), "3")


if __name__ == "__main__":
    unittest.main()
