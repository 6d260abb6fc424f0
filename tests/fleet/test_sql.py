"""The fleet's SQL (daemon/fleet/sql) on a real PostgreSQL 15 server.

  * PolicyCases: every case of tests/policy/cases.json against vigil.decide(),
    the cases the C++ decide() passes too (tests/unit/test_policy_cases.cc).
  * Report: vigil.report() from several host roles: the attempt bound under
    concurrency, known devices per trust group, the source throttle,
    credential stuffing and the cap on automatic blocks.
  * Privileges: what a host role may do, and everything it may not.

Run from tests/fleet: python3 test_sql.py -v (as root, or as a user that can
run the PostgreSQL binaries). VIGIL_SOURCE_DIR is the source tree (default:
this file's).
"""

import json
import os
import subprocess
import sys
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pgserver import PgServer, PsqlError, wait_until  # noqa: E402

SOURCE_DIR = Path(os.environ.get("VIGIL_SOURCE_DIR", Path(__file__).resolve().parents[2]))
SQL_DIR = SOURCE_DIR / "daemon" / "fleet" / "sql"
CASES = SOURCE_DIR / "tests" / "policy" / "cases.json"

REPORT_COLUMNS = ["verdict", "reason", "known", "locked_until_epoch", "lock_count", "counted",
                  "locked_now", "blocked_now"]


def lit(v):
    """A Python value as an SQL literal (standard_conforming_strings on)."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return "'" + v.replace("'", "''") + "'"
    raise TypeError(v)


def arr(values, sqltype):
    return f"ARRAY[{', '.join(lit(v) for v in values)}]::{sqltype}[]"


def report_sql(account, outcome, source="", device="", keys=None, scales=None, exempt=False,
               root=True, console=False, needs_code=False, service="sshd"):
    """The SELECT of one vigil.report() call. By default the source is its
    own (IPv4) throttle key."""
    if keys is None:
        keys = [source] if source else []
    if scales is None:
        scales = [1] * len(keys)
    return (f"SELECT * FROM vigil.report({lit(account)}, {lit(outcome)}, {lit(source)}, "
            f"{lit(device)}, {arr(keys, 'text')}, {arr(scales, 'int')}, {lit(exempt)}, "
            f"{lit(root)}, {lit(console)}, {lit(needs_code)}, {lit(service)});\n")


def parse_report(line):
    f = line.split("|")
    if len(f) != len(REPORT_COLUMNS):
        raise AssertionError(f"not a report row: {line!r}")
    r = dict(zip(REPORT_COLUMNS, f))
    for k in ("known", "counted", "locked_now", "blocked_now"):
        r[k] = r[k] == "t"
    for k in ("locked_until_epoch", "lock_count"):
        r[k] = int(r[k]) if r[k] != "" else None
    return r


def report_rows(out):
    return [parse_report(line) for line in out.splitlines() if "|" in line]


# ---------------------------------------------------------------------------


class PolicyCases(unittest.TestCase):
    """tests/policy/cases.json against vigil.decide(), all cases in one psql
    run: one recursive query per case carries the state from step to step."""

    @classmethod
    def setUpClass(cls):
        cls.pg = PgServer()
        cls.pg.apply_schema(SQL_DIR)

    @classmethod
    def tearDownClass(cls):
        cls.pg.stop()

    @staticmethod
    def case_query(index, case, t0):
        cfg = case["config"]
        ivl = {k: f"interval '{int(cfg[k])} seconds'"
               for k in ("fail_interval", "unlock_time", "max_unlock_time")}

        def ts(v):
            return "NULL::timestamptz" if v is None else f"to_timestamp({t0 + int(v)})"

        st = case.get("state", {})
        failures = ", ".join(ts(t) for t in st.get("failures_at", []))
        srcs = st.get("sources", [])
        init = (f"ROW(ARRAY[{failures}]::timestamptz[], {ts(st.get('locked_until'))}, "
                f"{int(st.get('lock_count', 0))}, {int(st.get('refused', 0))}, "
                f"{ts(st.get('last_failure'))}, {ts(st.get('last_success'))}, "
                f"{arr([s for s, _ in srcs], 'text')}, "
                f"ARRAY[{', '.join(ts(a) for _, a in srcs)}]::timestamptz[])::vigil.lock_state")
        steps = []
        for s in case["steps"]:
            d = s["expect"].get("distinct_sources_except", [])
            excepts = [x["except"] for x in (d if isinstance(d, list) else [d])]
            steps.append(dict(s, excepts=excepts))
        steps_json = json.dumps(steps)
        assert "$steps$" not in steps_json

        def epoch(e):
            return f"(extract(epoch FROM {e})::bigint - {t0})"

        return f"""
WITH RECURSIVE
steps AS (
  SELECT e.j, e.i FROM jsonb_array_elements($steps${steps_json}$steps$::jsonb)
                       WITH ORDINALITY AS e(j, i)),
run(i, j, now, d) AS (
  SELECT 0::bigint, NULL::jsonb, NULL::timestamptz,
         ROW({init}, NULL, NULL, NULL, NULL, NULL, NULL, NULL)::vigil.decision
  UNION ALL
  SELECT s.i, s.j, to_timestamp({t0} + (s.j->>'at')::bigint),
         vigil.decide((r.d).state, s.j->>'outcome',
                      coalesce((s.j->>'root_caller')::boolean, false),
                      coalesce((s.j->>'exempt')::boolean, false),
                      to_timestamp({t0} + (s.j->>'at')::bigint),
                      coalesce(s.j->>'source', ''), {int(cfg['deny'])},
                      {ivl['fail_interval']}, {ivl['unlock_time']}, {ivl['max_unlock_time']})
    FROM run r JOIN steps s ON s.i = r.i + 1)
SELECT {index}, r.i - 1, jsonb_build_object(
  'allow', (r.d).allow, 'refused_locked', (r.d).refused_locked, 'counted', (r.d).counted,
  'locked_now', (r.d).locked_now, 'unlocked', (r.d).unlocked, 'reset', (r.d).reset,
  'lock_for', (r.d).lock_for_s,
  'locked_until', {epoch('((r.d).state).locked_until')},
  'last_failure', {epoch('((r.d).state).last_failure')},
  'last_success', {epoch('((r.d).state).last_success')},
  'lock_count', ((r.d).state).lock_count, 'refused', ((r.d).state).refused,
  'failures', cardinality(((r.d).state).failures),
  'failures_at', (SELECT coalesce(jsonb_agg({epoch('u.f')} ORDER BY u.o), '[]')
                    FROM unnest(((r.d).state).failures) WITH ORDINALITY AS u(f, o)),
  'sources', to_jsonb(((r.d).state).src),
  'distinct', (SELECT coalesce(jsonb_object_agg(x.e, vigil.distinct_sources(
                 (r.d).state, {ivl['fail_interval']}, r.now, x.e)), '{{}}')
                 FROM jsonb_array_elements_text(r.j->'excepts') AS x(e)))
FROM run r WHERE r.i > 0 ORDER BY r.i;
"""

    def test_cases_json(self):
        doc = json.loads(CASES.read_text())
        t0 = int(doc["t0"])
        cases = doc["cases"]
        self.assertGreaterEqual(len(cases), 25)
        sql = "".join(self.case_query(i, c, t0) for i, c in enumerate(cases))
        out = self.pg.psql(sql)
        got = {}
        for line in out.splitlines():
            if not line:
                continue
            ci, si, js = line.split("|", 2)
            got[(int(ci), int(si))] = json.loads(js)
        problems = []
        steps = 0
        for ci, case in enumerate(cases):
            for si, step in enumerate(case["steps"]):
                steps += 1
                g = got.get((ci, si))
                if g is None:
                    problems.append(f'case "{case["name"]}", step {si}: no result')
                    continue
                for k, want in step["expect"].items():
                    if k == "distinct_sources_except":
                        for x in (want if isinstance(want, list) else [want]):
                            n = g["distinct"].get(x["except"])
                            if n != x["n"]:
                                problems.append(
                                    f'case "{case["name"]}", step {si} (at {step["at"]}): '
                                    f'distinct_sources_except("{x["except"]}"): '
                                    f'expected {x["n"]}, got {n}')
                    elif k not in g:
                        problems.append(f'case "{case["name"]}": unknown expect member {k}')
                    elif g[k] != want:
                        problems.append(f'case "{case["name"]}", step {si} (at {step["at"]}): '
                                        f'{k}: expected {json.dumps(want)}, got {json.dumps(g[k])}')
        self.assertEqual(problems, [], "\n".join(problems))
        self.assertEqual(len(got), steps)


# ---------------------------------------------------------------------------


class FleetServer(unittest.TestCase):
    """One server per class, the schema applied, hosts h1..h4 (trust group
    A for h1, h2; B for h3, h4). Policy back to its defaults before each test."""

    HOSTS = {"h1": "A", "h2": "A", "h3": "B", "h4": "B"}

    @classmethod
    def setUpClass(cls):
        cls.pg = PgServer()
        cls.pg.apply_schema(SQL_DIR)
        for h, g in cls.HOSTS.items():
            cls.pg.add_host(h, g)

    @classmethod
    def tearDownClass(cls):
        cls.pg.stop()

    def setUp(self):
        cols = ("deny, fail_interval, unlock_time, max_unlock_time, throttle_deny, "
                "throttle_window, throttle_ban, throttle_max_ban, attack_sources, trust_days, "
                "max_auto_blocks_per_host")
        defaults = ", ".join("DEFAULT" for _ in cols.split(","))
        self.pg.psql(f"UPDATE vigil.policy SET ({cols}) = ({defaults})")

    def policy(self, **settings):
        sets = ", ".join(f"{k} = {lit(v)}" for k, v in settings.items())
        self.pg.psql(f"UPDATE vigil.policy SET {sets}")

    def report(self, host, account, outcome, **kw):
        rows = report_rows(self.pg.psql(report_sql(account, outcome, **kw), user=host))
        self.assertEqual(len(rows), 1)
        return rows[0]

    def q(self, sql):
        return self.pg.psql(sql).strip()

    def wait_for(self, condition, what, timeout=60):
        self.assertTrue(wait_until(condition, timeout), f"timed out waiting until {what}")


class Report(FleetServer):

    def test_concurrent_failures_count_exactly_deny(self):
        # 16 sessions over 4 host roles report a wrong password for one
        # account at the same instant, each holding its transaction open a
        # moment after the report. The start is a barrier, not a clock: every
        # session first waits for a shared advisory lock that this test holds
        # exclusively, and the test lets go once all 16 are queued on it, so
        # a slow machine that connects them one by one still starts them
        # together.
        barrier = 4242
        gate = subprocess.Popen(self.pg.psql_command(), stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                env=PgServer.env())
        gate.stdin.write(f"SELECT pg_advisory_lock({barrier});\n")
        gate.stdin.flush()
        waiting = ("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                   f"AND objid = {barrier} AND granted = {{}}")
        self.wait_for(lambda: self.q(waiting.format("true")) == "1", "the barrier is held")
        procs = []
        for i in range(16):
            host = f"h{i % 4 + 1}"
            src = f"203.0.113.{i + 1}"
            sql = (f"SELECT pg_advisory_lock_shared({barrier});\n"
                   f"SELECT pg_advisory_unlock_shared({barrier});\n"
                   "BEGIN;\nSELECT 'began', extract(epoch FROM clock_timestamp());\n"
                   f"{report_sql('carol', 'failure', source=src)}"
                   "SELECT pg_sleep(0.02);\nCOMMIT;\n"
                   "SELECT 'committed', extract(epoch FROM clock_timestamp());\n")
            p = subprocess.Popen(self.pg.psql_command(host), stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env=PgServer.env())
            procs.append((p, sql))
        for p, sql in procs:
            p.stdin.write(sql)
            p.stdin.close()
        try:
            self.wait_for(lambda: self.q(waiting.format("false")) == "16",
                          "all 16 sessions wait at the barrier")
        finally:
            gate.stdin.write(f"SELECT pg_advisory_unlock({barrier});\n")
            gate.stdin.close()
            self.assertEqual(gate.wait(timeout=60), 0, gate.stderr.read())
            gate.stderr.close()
        results, began, committed = [], [], []
        for p, _ in procs:
            out = p.stdout.read()
            err = p.stderr.read()
            p.stdout.close()
            p.stderr.close()
            self.assertEqual(p.wait(timeout=60), 0, err)
            for line in out.splitlines():
                if line.startswith("began|"):
                    began.append(float(line.split("|")[1]))
                elif line.startswith("committed|"):
                    committed.append(float(line.split("|")[1]))
                elif "|" in line:
                    results.append(parse_report(line))
        self.assertEqual(len(results), 16)
        # They did run at once: most began before the first one committed
        # (each holds its bucket's row lock for 20 ms at least).
        overlapping = sum(b < min(committed) for b in began)
        self.assertGreaterEqual(overlapping, 8, (sorted(began), sorted(committed)))
        reasons = sorted(r["reason"] for r in results)
        self.assertEqual(reasons.count("counted"), 3, reasons)
        self.assertEqual(reasons.count("locked"), 13, reasons)
        self.assertEqual(sum(r["locked_now"] for r in results), 1)
        self.assertTrue(all(r["verdict"] == "deny" for r in results))
        self.assertEqual(self.q("SELECT count(*) FROM vigil.failure WHERE account = 'carol'"), "3")
        self.assertEqual(self.q("SELECT count(DISTINCT host) > 0, bool_and(bucket = 'acct:carol') "
                                "FROM vigil.failure WHERE account = 'carol'"), "t|t")
        self.assertEqual(self.q("SELECT locked_until > now(), lock_count, refused, "
                                "cardinality(failures) FROM vigil.bucket WHERE key = 'acct:carol'"),
                         "t|1|13|3")
        # Locked for every host, right password or not. (A root caller's
        # right password with no code to follow would be credential
        # stuffing after 16 sources: test_stuffing_blocks_and_the_cap.)
        for host in self.HOSTS:
            for outcome, root, code in (("failure", True, False), ("success", False, False),
                                        ("password_ok", True, True)):
                r = self.report(host, "carol", outcome, source="203.0.113.99", root=root,
                                needs_code=code)
                self.assertEqual((r["verdict"], r["reason"]), ("deny", "locked"), (host, outcome))
                self.assertFalse(r["counted"])
                self.assertEqual(r["lock_count"], 1)
        self.assertEqual(self.q("SELECT count(*) FROM vigil.failure WHERE account = 'carol'"), "3")

    def test_verdicts(self):
        r = self.report("h1", "vera", "password_ok", source="192.0.2.50")
        self.assertEqual((r["verdict"], r["reason"], r["counted"]), ("verify", "ok", False))
        r = self.report("h1", "vera", "success", source="192.0.2.50")
        self.assertEqual((r["verdict"], r["reason"]), ("allow", "ok"))
        r = self.report("h1", "vera", "failure", source="192.0.2.50")
        self.assertEqual((r["verdict"], r["reason"], r["counted"], r["lock_count"]),
                         ("deny", "counted", True, 0))
        self.assertIsNone(r["locked_until_epoch"])
        # A name that resolves to no account: denied, only its source counts.
        r = self.report("h1", None, "failure", source="192.0.2.51")
        self.assertEqual((r["verdict"], r["reason"], r["counted"]), ("deny", "no_account", False))
        self.assertEqual(self.q("SELECT cardinality(failures) FROM vigil.bucket "
                                "WHERE key = 'src:192.0.2.51'"), "1")
        self.assertEqual(self.q("SELECT count(*) FROM vigil.bucket WHERE account IS NULL "
                                "AND key NOT LIKE 'src:%'"), "0")
        with self.assertRaises(PsqlError) as cm:
            self.report("h1", "vera", "maybe")
        self.assertIn("outcome", cm.exception.stderr)

    def test_known_device_per_trust_group(self):
        dev = "ssh-key:SHA256:dave-laptop"
        r = self.report("h1", "dave", "success", source="192.0.2.10", device=dev)
        self.assertEqual((r["verdict"], r["known"]), ("allow", False))
        self.assertEqual(self.q("SELECT trust_group FROM vigil.device "
                                f"WHERE account = 'dave' AND device = {lit(dev)}"), "A")
        # Known on h2 (group A), not on h3 (group B).
        r = self.report("h2", "dave", "failure", source="192.0.2.10", device=dev)
        self.assertEqual((r["verdict"], r["reason"], r["known"], r["counted"]),
                         ("deny", "counted", True, True))
        r = self.report("h3", "dave", "failure", source="192.0.2.10", device=dev)
        self.assertEqual((r["known"], r["counted"]), (False, True))
        # Failures from the known device lock its own bucket, not the account's.
        self.report("h2", "dave", "failure", source="192.0.2.10", device=dev)
        r = self.report("h1", "dave", "failure", source="192.0.2.10", device=dev)
        self.assertEqual((r["known"], r["locked_now"], r["lock_count"]), (True, True, 1))
        r = self.report("h1", "dave", "success", source="192.0.2.10", device=dev)
        self.assertEqual((r["verdict"], r["reason"], r["known"]), ("deny", "locked", True))
        self.assertEqual(self.q("SELECT bucket, count(*) FROM vigil.failure WHERE account = 'dave' "
                                "GROUP BY bucket ORDER BY bucket"),
                         "acct:dave|1\ndev:dave\n" + dev + "|3")
        # The unknown-device bucket holds h3's one failure: still open.
        r = self.report("h2", "dave", "failure", source="192.0.2.10", device="tty:pts/9")
        self.assertEqual((r["verdict"], r["reason"], r["known"], r["lock_count"]),
                         ("deny", "counted", False, 0))
        r = self.report("h2", "dave", "success", source="192.0.2.10", device="tty:pts/9")
        self.assertEqual((r["verdict"], r["known"]), ("allow", False))
        # Nothing of the device in group B.
        self.assertEqual(self.q("SELECT count(*) FROM vigil.device WHERE account = 'dave' "
                                "AND trust_group = 'B'"), "0")

    def test_source_throttle(self):
        self.policy(throttle_deny=5)
        src = "198.51.100.77"
        # Spraying across accounts, unresolved names included.
        for i, account in enumerate(["sp1", None, "sp2", None, "sp3"]):
            r = self.report(f"h{i % 4 + 1}", account, "failure", source=src)
            self.assertEqual(r["reason"], "counted" if account else "no_account")
        self.assertEqual(self.q(f"SELECT locked_until > now(), lock_count FROM vigil.bucket "
                                f"WHERE key = 'src:{src}'"), "t|1")
        for host in self.HOSTS:
            for account, outcome in (("sp4", "failure"), ("sp5", "success"), (None, "failure")):
                r = self.report(host, account, outcome, source=src)
                self.assertEqual((r["verdict"], r["reason"]), ("deny", "throttled"),
                                 (host, account, outcome))
                self.assertFalse(r["counted"])
        self.assertEqual(self.q(f"SELECT refused FROM vigil.bucket WHERE key = 'src:{src}'"), "12")
        self.assertEqual(self.q("SELECT count(*) FROM vigil.failure WHERE account IN ('sp4', 'sp5')"),
                         "0")
        # Another source is not throttled; an IPv6 /56 holds four times as many.
        r = self.report("h1", "sp4", "failure", source="198.51.100.78")
        self.assertEqual(r["reason"], "counted")
        keys = ["2001:db8:1:2::/64", "2001:db8:1::/56", "2001:db8::/48"]
        for _ in range(5):
            r = self.report("h1", "sp6", "failure", source="2001:db8:1:2::5", keys=keys,
                            scales=[1, 4, 16])
        self.assertEqual(self.q("SELECT key, coalesce(locked_until > now(), false) FROM vigil.bucket "
                                "WHERE key LIKE 'src:2001:%' ORDER BY key"),
                         "src:2001:db8:1:2::/64|t\nsrc:2001:db8:1::/56|f\nsrc:2001:db8::/48|f")
        r = self.report("h1", "sp6", "failure", source="2001:db8:1:2::5", keys=keys,
                        scales=[1, 4, 16])
        self.assertEqual(r["reason"], "throttled")

    def test_stuffing_blocks_and_the_cap(self):
        # The only test of this class that makes events: the block is seq 1.
        self.policy(deny=10)
        for i, host in enumerate(["h1", "h2", "h3"]):
            r = self.report(host, "erin", "failure", source=f"192.0.2.{101 + i}")
            self.assertEqual(r["reason"], "counted")
        # A non-root caller's success, or one that needs a code, blocks nothing.
        r = self.report("h4", "erin", "success", source="192.0.2.200", root=False)
        self.assertEqual(r["verdict"], "allow")
        r = self.report("h4", "erin", "password_ok", source="192.0.2.200", needs_code=True)
        self.assertEqual(r["verdict"], "verify")
        r = self.report("h4", "erin", "success", source="192.0.2.200", device="tty:pts/1")
        self.assertEqual((r["verdict"], r["reason"], r["blocked_now"]), ("deny", "blocked_now", True))
        self.assertEqual(self.q("SELECT by, host, details->'failed_sources', details->>'source', "
                                "reason LIKE '%3 unknown sources (credential stuffing)' "
                                "FROM vigil.block WHERE account = 'erin'"),
                         'vigild|h4|["192.0.2.101", "192.0.2.102", "192.0.2.103"]|192.0.2.200|t')
        self.assertEqual(self.q("SELECT seq, kind, account, host, actor FROM vigil.event"),
                         "1|block|erin|h4|vigild")
        self.assertEqual(self.q("SELECT n FROM vigil.seq"), "1")
        self.assertEqual(self.q("SELECT auto_blocks FROM vigil.host WHERE name = 'h4'"), "1")
        # Blocked on every host, whatever the password; the console is the way in.
        for host in self.HOSTS:
            for outcome in ("failure", "success"):
                r = self.report(host, "erin", outcome, source="192.0.2.1")
                self.assertEqual((r["verdict"], r["reason"]), ("deny", "blocked"), (host, outcome))
        r = self.report("h1", "erin", "success", source="192.0.2.1", console=True)
        self.assertEqual(r["verdict"], "allow")
        self.assertEqual(self.q("SELECT count(*) FROM vigil.failure WHERE account = 'erin'"), "3")

        # The cap: h4 has made one automatic block, and may make one.
        self.policy(deny=10, max_auto_blocks_per_host=1)
        for i in range(3):
            self.report("h1", "frank", "failure", source=f"192.0.2.{111 + i}")
        r = self.report("h4", "frank", "success", source="192.0.2.210")
        self.assertEqual((r["verdict"], r["reason"], r["blocked_now"]),
                         ("deny", "auto_block_cap", False))
        self.assertEqual(self.q("SELECT count(*) FROM vigil.block WHERE account = 'frank'"), "0")
        self.assertEqual(self.q("SELECT n FROM vigil.seq"), "1")
        # Another host, under its own cap, still blocks.
        r = self.report("h3", "frank", "success", source="192.0.2.210")
        self.assertEqual(r["reason"], "blocked_now")
        self.assertEqual(self.q("SELECT host FROM vigil.block WHERE account = 'frank'"), "h3")
        self.assertEqual(self.q("SELECT max(seq) FROM vigil.event"), "2")


class Privileges(FleetServer):

    def denied(self, sql, host="h1", what="permission denied"):
        with self.assertRaises(PsqlError, msg=sql) as cm:
            self.pg.psql(sql, user=host)
        self.assertIn(what, cm.exception.stderr, sql)
        return cm.exception.stderr

    def test_host_cannot_write_or_read_secrets(self):
        self.pg.psql("INSERT INTO vigil.block (account, reason, since, by, host) "
                     "VALUES ('root-blocked', 'test', now(), 'admin', 'h2')")
        for sql in [
            "DELETE FROM vigil.block",
            "UPDATE vigil.block SET reason = 'x'",
            "INSERT INTO vigil.block (account, reason, since, by, host) "
            "VALUES ('x', 'y', now(), 'z', 'h1')",
            "UPDATE vigil.policy SET deny = 1000",
            "UPDATE vigil.bucket SET refused = 0",
            "SELECT vigil.emit('unblock', 'root-blocked', 'h1', '{}')",
            "SELECT vigil.add_host('evil')",
            "SELECT * FROM vigil.bucket",
            "SELECT * FROM vigil.failure",
            "UPDATE vigil.host SET quarantined = false",
            "UPDATE vigil.seq SET n = 0",
            "DELETE FROM vigil.event",
            "INSERT INTO vigil.device VALUES ('a', 'A', 'd', now(), now())",
            "SELECT nextval('vigil.failure_id_seq')",
            "SELECT vigil.expire(NULL, '1 hour', '1 hour', '1 hour', now())",
            "SELECT vigil.lock_bucket('acct:root-blocked', 'root-blocked')",
            "SELECT vigil.put_bucket('acct:x', NULL, now())",
            "CREATE TABLE vigil.mine (x int)",
            "CREATE TEMP TABLE mine (x int)",
        ]:
            self.denied(sql)
        self.assertEqual(self.q("SELECT count(*) FROM vigil.block"), "1")
        self.assertEqual(self.q("SELECT deny FROM vigil.policy"), "3")

    def test_host_reads_what_is_replicated(self):
        out = self.pg.psql(
            "SELECT count(*) FROM vigil.policy; SELECT count(*) >= 4 FROM vigil.host;"
            "SELECT count(*) >= 0 FROM vigil.block; SELECT count(*) FROM vigil.event;"
            "SELECT n FROM vigil.seq; SELECT version FROM vigil.schema_version;"
            "SELECT count(*) FROM vigil.device;"
            "SELECT vigil.distinct_sources(NULL, '1 hour', now(), '');"
            "SELECT (vigil.decide(NULL, 'failure', true, false, now(), 's', 3, '1 hour', "
            "'1 hour', '1 day')).counted;", user="h2")
        self.assertEqual(out.split(), ["1", "t", "t", "0", "0", "1", "0", "0", "t"])

    def test_privileges_are_exactly_the_listed_ones(self):
        # Catalog check: no PUBLIC grant on anything of the schema (a NULL
        # acl is the default, which for a function means PUBLIC EXECUTE).
        self.assertEqual(self.q(
            "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = 'vigil' AND (p.proacl IS NULL OR EXISTS "
            "(SELECT 1 FROM aclexplode(p.proacl) a WHERE a.grantee = 0))"), "0")
        self.assertEqual(self.q(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'vigil' AND c.relkind IN ('r', 'S', 'v') AND (c.relacl IS NULL "
            "OR EXISTS (SELECT 1 FROM aclexplode(c.relacl) a WHERE a.grantee = 0))"), "0")
        self.assertEqual(self.q(
            "SELECT string_agg(p.proname, ',' ORDER BY p.proname) FROM pg_proc p "
            "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'vigil' "
            "AND has_function_privilege('h3', p.oid, 'EXECUTE')"),
            # decide, distinct_sources and report (v1); factor and
            # quarantine from 003_hosts.sql (tests/fleet/test_sql_hosts.py);
            # the others from 002_admin.sql (tests/fleet/test_sql_admin.py).
            "block_account,decide,distinct_sources,factor,heartbeat,quarantine,recover,"
            "recovery_codes,replay,report,totp_confirm,totp_enroll,verify")
        self.assertEqual(self.q(
            "SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'vigil' "
            "AND c.relkind IN ('r', 'S') AND has_table_privilege('h3', c.oid, 'SELECT')"),
            "admin,approval,block,device,event,host,migration,policy,schema_version,seq")
        self.assertEqual(self.q(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'vigil' AND c.relkind IN ('r', 'S') AND ("
            "has_table_privilege('h3', c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, "
            "TRIGGER') OR has_any_column_privilege('h3', c.oid, 'INSERT, UPDATE, REFERENCES'))"),
            "0")
        self.assertEqual(self.q(
            "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = 'vigil' AND p.prosecdef AND pg_get_userbyid(p.proowner) "
            "<> 'vigil_owner'"), "0")
        self.assertEqual(self.q("SELECT pg_get_userbyid(nspowner) FROM pg_namespace "
                                "WHERE nspname = 'vigil'"), "vigil_owner")
        self.assertEqual(self.q("SELECT rolcanlogin FROM pg_roles WHERE rolname IN "
                                "('vigil_owner', 'vigil_host') ORDER BY rolname"), "f\nf")

    def test_quarantined_or_unknown_host_refused(self):
        self.pg.add_host("hq", "A")
        r = report_rows(self.pg.psql(report_sql("quinn", "failure", source="192.0.2.7"), user="hq"))
        self.assertEqual(r[0]["reason"], "counted")
        self.pg.psql("UPDATE vigil.host SET quarantined = true WHERE name = 'hq'")
        err = self.denied("\\set VERBOSITY verbose\n" + report_sql("quinn", "failure",
                                                                   source="192.0.2.7"),
                          host="hq", what="quarantined")
        self.assertIn("42501", err)
        self.assertEqual(self.q("SELECT count(*) FROM vigil.failure WHERE account = 'quinn'"), "1")
        # A login role of the cluster outside vigil_host cannot even connect;
        # a vigil_host member without a host row cannot report.
        self.pg.psql("CREATE ROLE stranger LOGIN")
        self.denied("SELECT 1", host="stranger", what="permission denied for database")
        self.pg.psql("CREATE ROLE ghost LOGIN IN ROLE vigil_host")
        err = self.denied("\\set VERBOSITY verbose\n" + report_sql("quinn", "failure"),
                          host="ghost", what="not a host of the fleet")
        self.assertIn("42501", err)

    def test_migration_runs_once(self):
        with self.assertRaises(PsqlError) as cm:
            self.pg.apply_schema(SQL_DIR)
        self.assertIn('schema "vigil" already exists', cm.exception.stderr)
        self.assertEqual(self.q("SELECT version FROM vigil.schema_version"), "1")

    def test_refusals_commit_synchronously(self):
        # A host session that turned synchronous_commit off still commits
        # its counted failures synchronously; its successes as it chose.
        out = self.pg.psql(
            "BEGIN;\nSET LOCAL synchronous_commit = off;\n"
            + report_sql("sync1", "failure", source="192.0.2.60")
            + "SHOW synchronous_commit;\nCOMMIT;\n"
            "BEGIN;\nSET LOCAL synchronous_commit = off;\n"
            + report_sql("sync1", "success", source="192.0.2.60")
            + "SHOW synchronous_commit;\nCOMMIT;\n", user="h2")
        self.assertEqual([line for line in out.splitlines() if "|" not in line and line],
                         ["on", "off"])

    def test_add_host_is_for_superusers(self):
        self.pg.psql("CREATE ROLE existing LOGIN")
        self.pg.add_host("existing", "B")
        self.assertEqual(self.q("SELECT pg_has_role('existing', 'vigil_host', 'MEMBER'), "
                                "(SELECT trust_group FROM vigil.host WHERE name = 'existing')"),
                         "t|B")
        self.pg.add_host("existing", "A")  # moves it to group A, idempotent
        self.assertEqual(self.q("SELECT trust_group FROM vigil.host WHERE name = 'existing'"), "A")
        with self.assertRaises(PsqlError):
            self.pg.add_host("postgres")
        self.pg.psql("CREATE ROLE owner_member LOGIN IN ROLE vigil_owner;"
                     "GRANT CONNECT ON DATABASE vigil TO owner_member")
        self.denied("SELECT vigil.add_host('evil2')", host="owner_member", what="superusers only")


if __name__ == "__main__":
    unittest.main()
