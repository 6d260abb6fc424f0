"""The fleet's schema version 3 (daemon/fleet/sql/003_hosts.sql) on a real
PostgreSQL 15 server.

  * Quarantine: vigil.quarantine() for an administrator whose code is
    checked in the database; what a quarantined host may still do.
  * Factor: vigil.factor() as an enrolment goes.
  * Import: the migration of two hosts' SQLite state (vigil.import_*):
    conservative merges, one import per (host, item), and no host may call
    any of it.
  * Grants: the new functions' ownership, and no PUBLIC grant.

Run from tests/fleet: python3 test_sql_hosts.py -v (as root, or as a user
that can run the PostgreSQL binaries). VIGIL_SOURCE_DIR is the source tree
(default: this file's).
"""

import base64
import json
import os
import subprocess
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_sql_admin as adm  # noqa: E402  (helpers and the server fixture)
from pgserver import PsqlError  # noqa: E402

lit = adm.lit
hotp = adm.hotp
b32decode = adm.b32decode
step_now = adm.step_now


def ts(epoch):
    return f"to_timestamp({int(epoch)})"


def ts_array(epochs):
    return "ARRAY[" + ", ".join(ts(e) for e in epochs) + "]::timestamptz[]"


def text_array(values):
    return "ARRAY[" + ", ".join(lit(v) for v in values) + "]::text[]"


def oathtool(secret_b32):
    return subprocess.run(["oathtool", "--totp", "-b", secret_b32], check=True,
                          capture_output=True, text=True).stdout.strip()


def new_secret():
    return base64.b32encode(os.urandom(20)).decode().rstrip("=")


REPORT = ("SELECT verdict, reason, known FROM vigil.report({account}, {outcome}, '192.0.2.99', "
          "{device}, ARRAY['192.0.2.99'], ARRAY[1], false, true, false, false, 'sshd')")


def report(account, outcome="failure", device=""):
    return REPORT.format(account=lit(account), outcome=lit(outcome), device=lit(device))


# ---------------------------------------------------------------------------


class Quarantine(adm.AdminServer):
    """Administrators ada, ben (and dee, blocked); each admin code consumes
    a step, so the window is wider here."""

    WINDOW = 5

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pg.psql("SELECT vigil.add_admin(a) FROM unnest(ARRAY['ada', 'ben', 'dee']) a")

    def setUp(self):
        for a in ("ada", "ben", "dee"):
            if a not in self.secrets:
                self.enrol(a)

    def quarantine(self, host, target, actor, code, on=True, reason="test"):
        return self.q(f"SELECT * FROM vigil.quarantine({lit(target)}, {lit(actor)}, {lit(code)}, "
                      f"{lit(on)}, {lit(reason)})", user=host)

    def quarantined(self, host):
        return self.q(f"SELECT quarantined FROM vigil.host WHERE name = {lit(host)}") == "t"

    def event(self, seq):
        kind, account, host, actor, details = self.q(
            f"SELECT kind, coalesce(account, '-'), host, actor, details FROM vigil.event "
            f"WHERE seq = {seq}").split("|", 4)
        return kind, account, host, actor, json.loads(details)

    def test_refusals(self):
        seq0 = int(self.q("SELECT n FROM vigil.seq"))
        self.assertEqual(self.quarantine("h1", "h3", "mallory", "123456"), "f|not_admin|0")
        self.block("h2", "dee", "ada")
        self.assertEqual(self.quarantine("h1", "h3", "dee", self.code("dee")), "f|actor_blocked|0")
        # A wrong code: refused, and counted (the call returned normally).
        n = self.failures("ada")
        self.assertEqual(self.quarantine("h1", "h3", "ada", self.wrong_code("ada")),
                         "f|actor_code_wrong|0")
        self.assertEqual(self.failures("ada"), n + 1)
        used = self.code("ada")
        self.assertEqual(self.verify("h2", "ada", used), "t|ok")
        self.assertEqual(self.quarantine("h1", "h3", "ada", used), "f|actor_code_replay|0")
        # An unknown host, after the code.
        step = self.last_step("ada")
        self.assertEqual(self.quarantine("h1", "nohost", "ada", self.code("ada")),
                         "f|no_such_host|0")
        self.assertGreater(self.last_step("ada"), step)
        self.assertFalse(self.quarantined("h3"))
        self.assertEqual(self.q(f"SELECT count(*) FROM vigil.event WHERE seq > {seq0} "
                                "AND kind LIKE '%quarantine'"), "0")
        # Only hosts call it.
        err = self.denied("SELECT * FROM vigil.quarantine('h3', 'ada', '1', true, 'x')",
                          user="postgres", what="not a host of the fleet")
        self.assertIn("42501", err)
        self.denied("SELECT * FROM vigil.quarantine('h3', 'ada', '1', NULL, 'x')",
                    what="on/off are needed")

    def test_quarantine_and_lift(self):
        r = self.quarantine("h1", "h3", "ada", self.code("ada"), reason="too many blocks")
        self.assertRegex(r, r"^t\|quarantined\|\d+$")
        seq1 = int(r.split("|")[2])
        self.assertTrue(self.quarantined("h3"))
        self.assertEqual(self.event(seq1),
                         ("quarantine", "-", "h1", "ada",
                          {"host": "h3", "actor": "ada", "reason": "too many blocks",
                           "by_host": "h1"}))
        self.assertEqual(self.quarantine("h2", "h3", "ben", self.code("ben")), "t|unchanged|0")

        # h3's calls are refused (42501), but its heartbeat.
        ada_step = self.last_step("ada")
        for sql in [
            report("quinn"),
            "SELECT * FROM vigil.verify('ada', '123456')",
            "SELECT * FROM vigil.block_account('quinn', 'r', 'ada')",
            "SELECT * FROM vigil.recover('quinn', 'ada', '123456', NULL, 'r')",
            "SELECT vigil.totp_enroll('quinn', 'quinn', NULL)",
            "SELECT vigil.totp_confirm('quinn', '123456')",
            "SELECT * FROM vigil.recovery_codes('quinn', 'ada', '123456')",
            "SELECT * FROM vigil.factor('ada')",
            "SELECT * FROM vigil.quarantine('h1', 'ada', '123456', true, 'revenge')",
            # It cannot lift its own quarantine, even with a good code
            # (which is not even checked).
            f"SELECT * FROM vigil.quarantine('h3', 'ada', {lit(self.code('ada'))}, false, 'x')",
        ]:
            err = self.denied(sql, user="h3", what="quarantined")
            self.assertIn("42501", err)
        self.assertEqual(self.last_step("ada"), ada_step)
        self.assertEqual(self.failures("ada"), 0)
        n = self.q("SELECT n FROM vigil.seq")
        self.assertEqual(self.q("SELECT * FROM vigil.heartbeat(0)", user="h3"), f"{n}|B|t")
        self.assertEqual(self.q("SELECT count(*) FROM vigil.bucket WHERE account = 'quinn'"), "0")
        self.assertTrue(self.quarantined("h3"))

        # Another host lifts it.
        r = self.quarantine("h2", "h3", "ben", self.code("ben"), on=False, reason="cleaned")
        self.assertRegex(r, r"^t\|unquarantined\|\d+$")
        seq2 = int(r.split("|")[2])
        self.assertGreater(seq2, seq1)
        self.assertEqual(self.event(seq2),
                         ("unquarantine", "-", "h2", "ben",
                          {"host": "h3", "actor": "ben", "reason": "cleaned", "by_host": "h2"}))
        self.assertFalse(self.quarantined("h3"))
        self.assertEqual(self.q(report("quinn"), user="h3"), "deny|counted|f")
        self.assertEqual(self.quarantine("h2", "h3", "ben", self.code("ben"), on=False),
                         "t|unchanged|0")

    def test_quarantine_itself(self):
        r = self.quarantine("h4", "h4", "ada", self.code("ada"), reason="compromised, I think")
        self.assertRegex(r, r"^t\|quarantined\|\d+$")
        self.assertEqual(self.event(int(r.split("|")[2]))[2:4], ("h4", "ada"))
        self.assertTrue(self.quarantined("h4"))
        self.denied(f"SELECT * FROM vigil.quarantine('h4', 'ben', {lit(self.code('ben'))}, "
                    "false, 'x')", user="h4", what="quarantined")
        self.assertTrue(self.quarantined("h4"))
        self.assertRegex(self.quarantine("h1", "h4", "ben", self.code("ben"), on=False),
                         r"^t\|unquarantined\|\d+$")
        self.assertFalse(self.quarantined("h4"))


# ---------------------------------------------------------------------------


class Factor(adm.AdminServer):

    def factor(self, account, host="h1"):
        return self.q(f"SELECT * FROM vigil.factor({lit(account)})", user=host)

    def test_as_enrolment_goes(self):
        self.assertEqual(self.factor("fay"), "f|f")
        secret = self.q("SELECT vigil.totp_enroll('fay', 'fay', NULL)", user="h1")
        self.assertEqual(self.factor("fay", "h3"), "f|t")
        # A pending secret older than 15 minutes can no longer be confirmed.
        self.pg.psql("UPDATE vigil.totp SET pending_at = now() - interval '16 minutes' "
                     "WHERE account = 'fay'")
        self.assertEqual(self.factor("fay"), "f|f")
        secret = self.q("SELECT vigil.totp_enroll('fay', 'fay', NULL)", user="h2")
        self.assertEqual(self.factor("fay"), "f|t")
        key = b32decode(secret)
        self.assertEqual(self.q(f"SELECT vigil.totp_confirm('fay', {lit(hotp(key, step_now()))})",
                                user="h2"), "t")
        self.assertEqual(self.factor("fay"), "t|f")
        # A new enrolment while the old factor is active (rule a, the owner).
        self.q("SELECT vigil.totp_enroll('fay', 'postgres', NULL)")
        self.assertEqual(self.factor("fay", "postgres"), "t|t")
        self.assertEqual(self.factor("nobody", "h4"), "f|f")
        self.denied("SELECT * FROM vigil.factor('')", what="an account name is needed")
        self.pg.psql("CREATE ROLE ghost LOGIN IN ROLE vigil_host")
        self.denied("SELECT * FROM vigil.factor('fay')", user="ghost", what="not a host of the fleet")


# ---------------------------------------------------------------------------


class Import(adm.AdminServer):
    """Hosts h1, h2 (group A), h3, h4 (group B) migrate into the fleet."""

    def now(self):
        return int(self.q("SELECT extract(epoch FROM date_trunc('second', now()))::bigint"))

    def import_bucket(self, host, key, account, failures=(), locked_until=None, lock_count=0,
                      refused=0, last_failure=None, src=(), src_at=()):
        return self.q(
            f"SELECT vigil.import_bucket({lit(host)}, {lit(key)}, {lit(account)}, "
            f"{ts_array(failures)}, {ts(locked_until) if locked_until else 'NULL'}, "
            f"{lock_count}, {refused}, {ts(last_failure) if last_failure else 'NULL'}, "
            f"{text_array(src)}, {ts_array(src_at)})")

    def bucket(self, key):
        out = self.q(
            "SELECT json_build_object("
            "'failures', (SELECT coalesce(json_agg(extract(epoch FROM f)::bigint ORDER BY o), '[]') "
            "             FROM unnest(failures) WITH ORDINALITY AS u(f, o)), "
            "'locked_until', extract(epoch FROM locked_until)::bigint, 'lock_count', lock_count, "
            "'refused', refused, 'last_failure', extract(epoch FROM last_failure)::bigint, "
            "'src', src, 'src_at', (SELECT coalesce(json_agg(extract(epoch FROM a)::bigint "
            "ORDER BY o), '[]') FROM unnest(src_at) WITH ORDINALITY AS u(a, o)), "
            "'account', account) "
            f"FROM vigil.bucket WHERE key = {lit(key)}")
        return json.loads(out) if out else None

    def test_buckets_merge_conservatively(self):
        t = self.now()
        t1, t2, t3 = t - 600, t - 500, t - 300
        T1, T2 = t + 1800, t + 3600
        # h1: failures at t1, t2 (one twice, one out of the window), locked
        # until T1, once.
        r = self.import_bucket("h1", "acct:alice", "alice", [t - 13 * 3600, t1, t2, t2], T1, 1, 4,
                               t2, ["192.0.2.1", "192.0.2.2"], [t1, t2])
        self.assertEqual(r, "inserted")
        self.assertEqual(self.bucket("acct:alice"),
                         {"failures": [t1, t2], "locked_until": T1, "lock_count": 1, "refused": 4,
                          "last_failure": t2, "src": ["192.0.2.1", "192.0.2.2"],
                          "src_at": [t1, t2], "account": "alice"})
        # h2: a failure at t3, locked until T2 > T1, twice: a real conflict,
        # merged by the max rule.
        r = self.import_bucket("h2", "acct:alice", "alice", [t3], T2, 2, 1, t3,
                               ["192.0.2.2", "192.0.2.3"], [t3, t3])
        self.assertTrue(r.startswith("conflict: acct:alice is locked in the fleet until "), r)
        self.assertIn("on host h2 until", r)
        merged = {"failures": [t1, t2, t3], "locked_until": T2, "lock_count": 2, "refused": 4,
                  "last_failure": t3, "src": ["192.0.2.1", "192.0.2.2", "192.0.2.3"],
                  "src_at": [t1, t3, t3], "account": "alice"}
        self.assertEqual(self.bucket("acct:alice"), merged)
        # Again, in one transaction per host: nothing changes.
        out = self.pg.psql(
            "BEGIN;\n"
            f"SELECT vigil.import_bucket('h1', 'acct:alice', 'alice', {ts_array([t1, t2])}, "
            f"{ts(T1 + 9999)}, 9, 99, {ts(t)}, '{{}}', '{{}}');\n"
            f"SELECT vigil.import_bucket('h2', 'acct:alice', 'alice', {ts_array([t])}, "
            f"{ts(T2 + 9999)}, 9, 99, {ts(t)}, '{{}}', '{{}}');\n"
            "COMMIT;\n").split()
        self.assertEqual(out, ["already", "imported"] * 2)
        self.assertEqual(self.bucket("acct:alice"), merged)
        self.assertEqual(self.q("SELECT string_agg(host || ' ' || item, ',' ORDER BY host) "
                                "FROM vigil.migration WHERE item LIKE 'bucket:acct:alice'"),
                         "h1 bucket:acct:alice,h2 bucket:acct:alice")
        # The fleet refuses the account until T2.
        self.assertEqual(self.q(report("alice"), user="h3"), "deny|locked|f")

        # At most `deny` (3) failures, the newest.
        r = self.import_bucket("h3", "acct:bob", "bob", [t - 50, t - 40, t - 30, t - 20, t - 10])
        self.assertEqual(r, "inserted")
        self.assertEqual(self.bucket("acct:bob")["failures"], [t - 30, t - 20, t - 10])
        # Merging into a row the fleet made: the union, still at most deny.
        self.q(report("carol"), user="h1")
        self.assertEqual(self.import_bucket("h4", "acct:carol", "carol", [t - 200, t - 100, t - 90]),
                         "merged")
        b = self.bucket("acct:carol")
        self.assertEqual(b["failures"][:2], [t - 100, t - 90])
        self.assertEqual(len(b["failures"]), 3)
        self.assertEqual(b["lock_count"], 0)      # not locked by the import itself
        # Times later than the database's now() are clamped to it.
        self.assertEqual(self.import_bucket("h4", "acct:cid", "cid", [t + 600], None, 0, 0,
                                            t + 600), "inserted")
        b = self.bucket("acct:cid")
        now = self.now()
        self.assertTrue(t <= b["failures"][0] <= now and t <= b["last_failure"] <= now, b)
        # A lock that ended takes its failures with it (as any decision
        # would), and leaves its doubling; only old failures: nothing at all.
        self.assertEqual(self.import_bucket("h1", "acct:dora", "dora",
                                            [t - 7000, t - 6900, t - 6800], t - 3200, 1, 0,
                                            t - 6800), "inserted")
        b = self.bucket("acct:dora")
        self.assertEqual((b["failures"], b["locked_until"], b["lock_count"]), ([], None, 1))
        self.assertEqual(self.import_bucket("h1", "src:198.51.100.7", None,
                                            [t - 3600, t - 3500]), "expired")
        self.assertIsNone(self.bucket("src:198.51.100.7"))
        # A source bucket keeps its failures within throttle_window, beyond
        # deny (a throttle key's threshold is throttle_deny times its scale).
        r = self.import_bucket("h2", "src:198.51.100.8", None, [t - 500 + i for i in range(25)],
                               src=["x"], src_at=[t - 500])
        self.assertEqual(r, "inserted")
        self.assertEqual(len(self.bucket("src:198.51.100.8")["failures"]), 25)
        self.assertIsNone(self.bucket("src:198.51.100.8")["account"])
        # A known device's bucket.
        self.assertEqual(self.import_bucket("h1", "dev:alice\nlaptop", "alice", [t1]), "inserted")
        # Keys that do not match their account.
        for key, account in [("acct:alice", "bob"), ("dev:alice\nx", "bob"), ("dev:alice\n", "alice"),
                             ("src:1.2.3.4", "alice"), ("uid:1000", "alice"), ("acct:", "")]:
            with self.assertRaises(PsqlError, msg=key) as cm:
                self.import_bucket("h3", key, account, [t])
            self.assertIn("vigil.import_bucket", cm.exception.stderr)
        with self.assertRaises(PsqlError) as cm:
            self.import_bucket("h3", "acct:eve", "eve", src=["a", "b"], src_at=[t])
        self.assertIn("one time per source", cm.exception.stderr)
        self.assertEqual(self.q("SELECT count(*) FROM vigil.migration WHERE host = 'h3' "
                                "AND item LIKE 'bucket:%'"), "1")
        # An unknown host: add it first.
        with self.assertRaises(PsqlError) as cm:
            self.import_bucket("h9", "acct:eve", "eve", [t])
        self.assertIn("h9 is not a host of the fleet", cm.exception.stderr)

    def test_blocks_earliest_wins(self):
        t = self.now()
        seq0 = int(self.q("SELECT n FROM vigil.seq"))

        def block(host, account, since, reason, by="vigild", details=None):
            return self.q(f"SELECT vigil.import_block({lit(host)}, {lit(account)}, {lit(reason)}, "
                          f"{ts(since)}, {lit(by)}, {lit(json.dumps(details)) if details else 'NULL'})")

        self.assertEqual(block("h2", "bo", t - 1000, "stuffing", details={"devices": ["d1"]}),
                         "inserted")
        self.assertEqual(self.q("SELECT reason, extract(epoch FROM since)::bigint, by, host, details "
                                "FROM vigil.block WHERE account = 'bo'"),
                         f'stuffing|{t - 1000}|vigild|h2|{{"devices": ["d1"], "imported_from": "h2"}}')
        ev = self.q(f"SELECT seq, kind, account, host, actor, details FROM vigil.event "
                    f"WHERE seq > {seq0}").split("|", 5)
        self.assertEqual(ev[:5], [str(seq0 + 1), "block", "bo", "h2", "vigild"])
        self.assertEqual(json.loads(ev[5])["reason"], "stuffing")
        # An earlier block on h1: it wins, said as a conflict; no new event.
        r = block("h1", "bo", t - 2000, "blocked by root", by="root")
        self.assertTrue(r.startswith("conflict: bo is blocked in the fleet since"), r)
        self.assertIn("the earlier is kept", r)
        self.assertEqual(self.q("SELECT reason, extract(epoch FROM since)::bigint, host, "
                                "details->'imported'->>'replaced_reason' FROM vigil.block "
                                "WHERE account = 'bo'"),
                         f"blocked by root|{t - 2000}|h2|stuffing")
        # A later one is dropped.
        self.assertEqual(block("h3", "bo", t - 500, "later"), "kept")
        self.assertEqual(block("h4", "bo", t - 2000, "same time"), "kept")
        self.assertEqual(self.q("SELECT reason, extract(epoch FROM since)::bigint FROM vigil.block "
                                "WHERE account = 'bo'"), f"blocked by root|{t - 2000}")
        # Again: nothing.
        self.assertEqual(block("h2", "bo", t - 9000, "again"), "already imported")
        self.assertEqual(block("h1", "bo", t - 9000, "again"), "already imported")
        self.assertEqual(self.q("SELECT extract(epoch FROM since)::bigint FROM vigil.block "
                                "WHERE account = 'bo'"), str(t - 2000))
        # One event per new block.
        self.assertEqual(block("h1", "bp", t - 10, "r"), "inserted")
        self.assertEqual(self.q(f"SELECT string_agg(kind || ':' || account || ':' || host, ',' "
                                f"ORDER BY seq) FROM vigil.event WHERE seq > {seq0}"),
                         "block:bo:h2,block:bp:h1")
        # The block is enforced, and did not count in the host's cap.
        self.assertEqual(self.q(report("bo", "success"), user="h4"), "deny|blocked|f")
        self.assertEqual(self.q("SELECT sum(auto_blocks) FROM vigil.host"), "0")

    def test_devices_union(self):
        t = self.now()
        day = 86400

        def device(host, group, first, last, account="dave", dev="ssh-key:SHA256:laptop"):
            return self.q(f"SELECT vigil.import_device({lit(host)}, {lit(account)}, {lit(group)}, "
                          f"{lit(dev)}, {ts(first)}, {ts(last)})")

        self.assertEqual(device("h1", "A", t - 5 * day, t - day), "inserted")
        self.assertEqual(device("h2", None, t - 10 * day, t - 2 * day), "merged")
        self.assertEqual(device("h2", None, t - 90 * day, t - 3600), "already imported")
        self.assertEqual(device("h3", None, t - 3 * day, t - 3600), "inserted")   # group B
        self.assertEqual(device("h4", "B", t - day, t + 3600), "merged")
        rows = self.q("SELECT string_agg(trust_group || ':' || "
                      "extract(epoch FROM first_seen)::bigint || ':' || "
                      "extract(epoch FROM last_seen)::bigint, ',' ORDER BY trust_group) "
                      "FROM vigil.device WHERE account = 'dave'").split(",")
        self.assertEqual(rows[0], f"A:{t - 10 * day}:{t - day}")
        # A last use in the future is clamped to the database's now() at the
        # import, which may be a second before the one read here.
        group, first, last = rows[1].split(":")
        self.assertEqual((group, int(first)), ("B", t - 3 * day))
        self.assertTrue(t <= int(last) <= self.now(), rows[1])
        # Known in its group: its failures count in the device's bucket.
        self.assertEqual(self.q(report("dave", device="ssh-key:SHA256:laptop"), user="h1"),
                         "deny|counted|t")
        self.assertEqual(self.q(report("dave", device="ssh-key:SHA256:other"), user="h1"),
                         "deny|counted|f")

    def test_totp(self):
        # A host's factor, re-sealed: its codes work through vigil.verify.
        secret = new_secret()
        self.assertEqual(self.q(f"SELECT vigil.import_totp('h1', 'tina', {lit(secret)}, "
                                f"{step_now() - 3})"), "inserted")
        self.assertEqual(self.q("SELECT * FROM vigil.factor('tina')", user="h2"), "t|f")
        self.assertEqual(self.q("SELECT position(" + lit("\\x" + b32decode(secret).hex()) +
                                "::bytea IN secret), confirmed_at IS NOT NULL FROM vigil.totp "
                                "WHERE account = 'tina'"), "0|t")
        code = oathtool(secret)
        self.assertEqual(self.verify("h3", "tina", code), "t|ok")
        self.assertEqual(self.verify("h4", "tina", code), "f|replay")
        sealed = self.q("SELECT md5(secret::text), last_step FROM vigil.totp WHERE account = 'tina'")
        self.assertEqual(self.q(f"SELECT vigil.import_totp('h1', 'tina', {lit(new_secret())}, 0)"),
                         "already imported")
        self.assertEqual(self.q("SELECT md5(secret::text), last_step FROM vigil.totp "
                                "WHERE account = 'tina'"), sealed)
        # The host's last step is kept: its used codes stay used.
        secret = new_secret()
        self.assertEqual(self.q(f"SELECT vigil.import_totp('h2', 'tom', {lit(secret.lower())}, "
                                f"{step_now() + 1})"), "inserted")
        self.assertEqual(self.verify("h1", "tom", oathtool(secret)), "f|replay")
        # A factor the fleet has already is kept; the host's is not imported.
        key = self.enrol("fred")
        host_secret = new_secret()
        r = self.q(f"SELECT vigil.import_totp('h3', 'fred', {lit(host_secret)}, 0)")
        self.assertEqual(r, "conflict: the fleet already has a factor for fred; "
                            "the host's was not imported")
        self.assertEqual(self.verify("h1", "fred", oathtool(host_secret)), "f|wrong")
        self.assertEqual(self.verify("h1", "fred", self.code("fred")), "t|ok")
        self.assertEqual(len(key), 20)
        # A pending fleet enrolment stays pending beside the imported factor.
        self.q("SELECT vigil.totp_enroll('pat', 'pat', NULL)", user="h1")
        secret = new_secret()
        self.assertEqual(self.q(f"SELECT vigil.import_totp('h4', 'pat', {lit(secret)}, 7)"),
                         "merged")
        self.assertEqual(self.q("SELECT * FROM vigil.factor('pat')", user="h4"), "t|t")
        self.assertEqual(self.verify("h2", "pat", oathtool(secret)), "t|ok")
        # Malformed secrets.
        for bad, what in [("not base32!", "not base32"), ("ABC", "not base32 (length)"),
                          ("MZXW6YTBOI", "16 to 64 expected")]:
            with self.assertRaises(PsqlError, msg=bad) as cm:
                self.q(f"SELECT vigil.import_totp('h4', 'zed', {lit(bad)}, 0)")
            self.assertIn(what, cm.exception.stderr)
        # base32 round trip (RFC 4648 vectors and random lengths).
        self.assertEqual(self.q("SELECT encode(vigil.base32_decode('MZXW6YTBOI'), 'escape'), "
                                "encode(vigil.base32_decode('mzxw6ytboi======'), 'escape')"),
                         "foobar|foobar")
        self.assertEqual(self.q("SELECT bool_and(vigil.base32_decode(vigil.base32(b)) = b) FROM "
                                "(SELECT vigil_crypto.gen_random_bytes(n) AS b "
                                "FROM generate_series(1, 40) n) x"), "t")

    def test_import_done_and_who_may_import(self):
        rows = int(self.q("SELECT count(*) FROM vigil.migration"))
        self.assertEqual(self.q("SELECT vigil.import_done('h1', 'done'), "
                                "vigil.import_done('h1', 'done'), vigil.import_done('h2', 'done')"),
                         "t|f|t")
        # Hosts read what was migrated, never write it.
        self.assertEqual(self.q("SELECT count(*) FROM vigil.migration WHERE item = 'done'",
                                user="h3"), "2")
        calls = [
            "SELECT vigil.import_done('h1', 'x')",
            "SELECT vigil.import_bucket('h1', 'acct:a', 'a', '{}', NULL, 0, 0, NULL, '{}', '{}')",
            "SELECT vigil.import_block('h1', 'a', 'r', now(), 'root', NULL)",
            "SELECT vigil.import_device('h1', 'a', 'A', 'd', now(), now())",
            "SELECT vigil.import_totp('h1', 'a', 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', 0)",
        ]
        for sql in calls + [
            "SELECT vigil.import_claim('f', 'h1', 'x')",
            "SELECT vigil.import_time(now(), now(), true)",
            "SELECT vigil.base32_decode('AA')",
            "SELECT vigil.emit_for('h1', 'unblock', 'a', 'b', '{}')",
            "SELECT vigil.lock_state_empty(NULL)",
            "INSERT INTO vigil.migration (host, item) VALUES ('h1', 'y')",
            "DELETE FROM vigil.migration",
            "UPDATE vigil.migration SET item = 'z'",
        ]:
            self.denied(sql, user="h1")
        # A member of vigil_owner that is no superuser imports nothing.
        self.pg.psql("CREATE ROLE owner_member LOGIN IN ROLE vigil_owner;"
                     "GRANT CONNECT ON DATABASE vigil TO owner_member")
        for sql in calls:
            err = self.denied(sql, user="owner_member", what="superusers only")
            self.assertIn("42501", err)
        self.assertEqual(self.q("SELECT count(*) FROM vigil.migration"), str(rows + 2))


# ---------------------------------------------------------------------------


class Grants(adm.AdminServer):

    def test_new_functions(self):
        new = ("quarantine", "factor", "import_claim", "import_time", "base32_decode", "emit_for",
               "lock_state_empty", "import_done", "import_bucket", "import_block", "import_device",
               "import_totp")
        names = ", ".join(lit(n) for n in new)
        self.assertEqual(self.q(
            "SELECT count(*), bool_and(p.prosecdef), bool_and(pg_get_userbyid(p.proowner) = "
            "'vigil_owner'), bool_and(p.proconfig = ARRAY['search_path=vigil, pg_temp']), "
            "bool_or(p.proacl IS NULL OR EXISTS (SELECT 1 FROM aclexplode(p.proacl) a "
            "WHERE a.grantee = 0)) "
            f"FROM pg_proc p WHERE p.pronamespace = 'vigil'::regnamespace AND p.proname IN ({names})"),
            f"{len(new)}|t|t|t|f")
        self.assertEqual(self.q(
            "SELECT string_agg(p.proname, ',' ORDER BY p.proname) FROM pg_proc p "
            f"WHERE p.pronamespace = 'vigil'::regnamespace AND p.proname IN ({names}) "
            "AND has_function_privilege('h3', p.oid, 'EXECUTE')"), "factor,quarantine")
        self.assertEqual(self.q("SELECT pg_get_userbyid(relowner) FROM pg_class "
                                "WHERE oid = 'vigil.migration'::regclass"), "vigil_owner")
        # The signatures vigild calls.
        self.assertEqual(self.q(
            "SELECT string_agg(p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', "
            "E'\\n' ORDER BY p.proname) FROM pg_proc p WHERE p.pronamespace = 'vigil'::regnamespace "
            "AND p.proname IN ('quarantine', 'factor', 'import_done', 'import_bucket', "
            "'import_block', 'import_device', 'import_totp')").split("\n"),
            ["factor(p_account text)",
             "import_block(p_host text, p_account text, p_reason text, p_since timestamp with time "
             "zone, p_by text, p_details jsonb)",
             "import_bucket(p_host text, p_key text, p_account text, p_failures timestamp with time "
             "zone[], p_locked_until timestamp with time zone, p_lock_count integer, p_refused "
             "bigint, p_last_failure timestamp with time zone, p_src text[], p_src_at timestamp "
             "with time zone[])",
             "import_device(p_host text, p_account text, p_trust_group text, p_device text, "
             "p_first_seen timestamp with time zone, p_last_seen timestamp with time zone)",
             "import_done(p_host text, p_item text)",
             "import_totp(p_host text, p_account text, p_secret_base32 text, p_last_step bigint)",
             "quarantine(p_host text, p_actor text, p_actor_code text, p_on boolean, "
             "p_reason text)"])

    def test_migration_runs_once(self):
        r = subprocess.run(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction",
             "-h", "127.0.0.1", "-p", str(self.pg.port), "-U", "postgres", "-d", "vigil",
             "-f", str(adm.SQL_DIR / "003_hosts.sql")],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, env=adm.PgServer.env())
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('relation "migration" already exists', r.stderr)


if __name__ == "__main__":
    unittest.main()
