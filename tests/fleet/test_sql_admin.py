"""The fleet's schema version 2 (daemon/fleet/sql/002_admin.sql) on a real
PostgreSQL 15 server.

  * Totp: vigil.hotp() against RFC 4226, enrolment checked with oathtool,
    one use per code (also 16 at once from 4 hosts), the wrong-code limit,
    recovery codes, and who may enrol (rules a to d).
  * Recover: vigil.recover()'s refusals, recovery with the account's code,
    and with the approval of two administrators.
  * BlockHeartbeat: vigil.block_account() and vigil.heartbeat().
  * LeastPrivilege: what a host role may not reach.

Run from tests/fleet: python3 test_sql_admin.py -v (as root, or as a user
that can run the PostgreSQL binaries). VIGIL_SOURCE_DIR is the source tree
(default: this file's).
"""

import base64
import hashlib
import hmac
import json
import os
import re
import struct
import subprocess
import sys
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pgserver import PgServer, PsqlError  # noqa: E402

SOURCE_DIR = Path(os.environ.get("VIGIL_SOURCE_DIR", Path(__file__).resolve().parents[2]))
SQL_DIR = SOURCE_DIR / "daemon" / "fleet" / "sql"

RFC4226_SECRET = b"12345678901234567890"
RFC4226_CODES = ["755224", "287082", "359152", "969429", "338314",
                 "254676", "287922", "162583", "399871", "520489"]
RECOVERY_CODE = re.compile(r"^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$")


def lit(v):
    """A Python value as an SQL literal."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return "'" + str(v).replace("'", "''") + "'"


def hotp(key, counter):
    """RFC 4226 in Python, independent of the SQL."""
    h = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    o = h[19] & 15
    return "%06d" % ((int.from_bytes(h[o:o + 4], "big") & 0x7FFFFFFF) % 1000000)


def b32decode(text):
    return base64.b32decode(text + "=" * (-len(text) % 8))


def step_now():
    return int(time.time()) // 30


class AdminServer(unittest.TestCase):
    """One server per class, both migrations applied, hosts h1..h4 (trust
    group A for h1, h2; B for h3, h4). WINDOW is the class's totp_window."""

    HOSTS = {"h1": "A", "h2": "A", "h3": "B", "h4": "B"}
    WINDOW = 1

    @classmethod
    def setUpClass(cls):
        cls.pg = PgServer()
        cls.pg.apply_schema(SQL_DIR)
        for h, g in cls.HOSTS.items():
            cls.pg.add_host(h, g)
        cls.pg.psql(f"UPDATE vigil.policy SET totp_window = {cls.WINDOW}")
        cls.secrets = {}   # account -> secret (bytes)
        cls.used = {}      # account -> the last step the tests used

    @classmethod
    def tearDownClass(cls):
        cls.pg.stop()

    def q(self, sql, user="postgres"):
        return self.pg.psql(sql, user=user).strip()

    def denied(self, sql, user="h1", what="permission denied"):
        """sql as `user` fails with `what` in the message; returns stderr
        (with the SQLSTATE: VERBOSITY verbose)."""
        with self.assertRaises(PsqlError, msg=sql) as cm:
            self.pg.psql("\\set VERBOSITY verbose\n" + sql, user=user)
        self.assertIn(what, cm.exception.stderr, sql)
        return cm.exception.stderr

    # -- factors --------------------------------------------------------------

    def enrol(self, account):
        """account gets an active factor (rule a, as the fleet owner),
        confirmed with the earliest step the next ones leave room after."""
        secret = self.q(f"SELECT vigil.totp_enroll({lit(account)}, 'postgres', NULL)")
        self.assertRegex(secret, r"^[A-Z2-7]{32}$")
        key = b32decode(secret)
        step = step_now() - self.WINDOW + 1 if self.WINDOW else step_now()
        self.assertEqual(self.q(f"SELECT vigil.totp_confirm({lit(account)}, "
                                f"{lit(hotp(key, step))})"), "t")
        self.secrets[account] = key
        self.used[account] = step
        return key

    def code(self, account):
        """A code of account's factor for a step it has not used, within the
        window (leaving one step of margin for the clock to move)."""
        now = step_now()
        step = max(self.used[account] + 1, now - self.WINDOW + 1)
        self.assertLessEqual(step, now + self.WINDOW, f"no fresh step left for {account}")
        self.used[account] = step
        return hotp(self.secrets[account], step)

    def wrong_code(self, account):
        """A 6-digit code of no step near now."""
        near = {hotp(self.secrets[account], s)
                for s in range(step_now() - self.WINDOW - 3, step_now() + self.WINDOW + 4)}
        return next(c for c in (f"{d}{d}{d}{d}{d}{d}" for d in range(10)) if c not in near)

    def verify(self, host, account, code):
        return self.q(f"SELECT * FROM vigil.verify({lit(account)}, {lit(code)})", user=host)

    def failures(self, account):
        return int(self.q(f"SELECT cardinality(failures) FROM vigil.totp "
                          f"WHERE account = {lit(account)}"))

    def last_step(self, account):
        return int(self.q(f"SELECT last_step FROM vigil.totp WHERE account = {lit(account)}"))

    def admin(self, *accounts):
        for a in accounts:
            self.pg.psql(f"SELECT vigil.add_admin({lit(a)})")

    def block(self, host, account, actor, reason="test"):
        out = self.q(f"SELECT * FROM vigil.block_account({lit(account)}, {lit(reason)}, "
                     f"{lit(actor)})", user=host)
        seq, changed = out.split("|")
        return int(seq), changed == "t"


# ---------------------------------------------------------------------------


class Totp(AdminServer):

    def test_hotp_rfc4226_and_base32(self):
        out = self.q("SELECT vigil.hotp(convert_to('12345678901234567890', 'UTF8'), c) "
                     "FROM generate_series(0, 9) AS c ORDER BY c")
        self.assertEqual(out.split(), RFC4226_CODES)
        self.assertEqual([hotp(RFC4226_SECRET, c) for c in range(10)], RFC4226_CODES)
        # RFC 4648, section 10 (no padding).
        out = self.pg.psql("SELECT vigil.base32(convert_to(x, 'UTF8')) FROM unnest(ARRAY["
                           "'', 'f', 'fo', 'foo', 'foob', 'fooba', 'foobar']) WITH ORDINALITY "
                           "AS u(x, o) ORDER BY o")
        self.assertEqual(out.split("\n")[:7],
                         ["", "MY", "MZXQ", "MZXW6", "MZXW6YQ", "MZXW6YTB", "MZXW6YTBOI"])

    def test_enrol_with_oathtool(self):
        # Self-enrolment (rule b) through a host; the codes come from oathtool.
        secret = self.q("SELECT vigil.totp_enroll('olga', 'olga', NULL)", user="h1")
        self.assertRegex(secret, r"^[A-Z2-7]{32}$")
        key = b32decode(secret)
        self.assertEqual(len(key), 20)
        self.assertEqual(self.verify("h2", "olga", "123456"), "f|no_factor")
        # Sealed: the secret's bytes appear nowhere in the row.
        self.assertEqual(self.q("SELECT position(" + lit("\\x" + key.hex()) + "::bytea IN pending), "
                                "secret IS NULL, pending_at IS NOT NULL FROM vigil.totp "
                                "WHERE account = 'olga'"), "0|t|t")

        def oathtool(t):
            return subprocess.run(["oathtool", "--totp", "-b", "-N", f"@{t}", secret],
                                  check=True, capture_output=True, text=True).stdout.strip()

        t = int(time.time())
        self.assertEqual(self.q(f"SELECT vigil.totp_confirm('olga', {lit(oathtool(t + 900))})",
                                user="h1"), "f")
        self.assertEqual(self.q(f"SELECT vigil.totp_confirm('olga', {lit(oathtool(t))})",
                                user="h1"), "t")
        self.assertEqual(self.q("SELECT secret IS NOT NULL, pending IS NULL, confirmed_at IS NOT NULL, "
                                "last_step FROM vigil.totp WHERE account = 'olga'"),
                         f"t|t|t|{t // 30}")
        # The next step's code, from another host.
        self.assertEqual(self.verify("h3", "olga", oathtool(t + 30)), "t|ok")
        self.assertEqual(self.last_step("olga"), t // 30 + 1)

    def test_pending_expires(self):
        secret = self.q("SELECT vigil.totp_enroll('pete', 'pete', NULL)", user="h2")
        self.pg.psql("UPDATE vigil.totp SET pending_at = now() - interval '16 minutes' "
                     "WHERE account = 'pete'")
        code = hotp(b32decode(secret), step_now())
        self.assertEqual(self.q(f"SELECT vigil.totp_confirm('pete', {lit(code)})", user="h2"), "f")
        self.assertEqual(self.verify("h2", "pete", code), "f|no_factor")

    def test_one_use_per_code(self):
        self.enrol("rita")
        code = self.code("rita")
        self.assertEqual(self.verify("h1", "rita", code), "t|ok")
        self.assertEqual(self.verify("h3", "rita", code), "f|replay")
        self.assertEqual(self.failures("rita"), 1)

    def test_one_code_16_times_at_once(self):
        self.enrol("conc")
        code = self.code("conc")
        start = time.time() + 1.0
        procs = []
        for i in range(16):
            sql = (f"SELECT pg_sleep(greatest(0, {start} - extract(epoch FROM clock_timestamp())));\n"
                   f"SELECT * FROM vigil.verify('conc', '{code}');\n")
            p = subprocess.Popen(self.pg.psql_command(f"h{i % 4 + 1}"), stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env=PgServer.env())
            procs.append((p, sql))
        for p, sql in procs:
            p.stdin.write(sql)
            p.stdin.close()
        answers = []
        for p, _ in procs:
            out = p.stdout.read()
            err = p.stderr.read()
            p.stdout.close()
            p.stderr.close()
            self.assertEqual(p.wait(timeout=60), 0, err)
            answers += [line for line in out.splitlines() if "|" in line]
        # One accepted. The others are replays, counted until the limit
        # (totp_max_failures = 5), which locks the account; then not checked.
        self.assertEqual(sorted(answers), ["f|replay"] * 5 + ["f|too_many"] * 10 + ["t|ok"])
        self.assertEqual(self.q("SELECT locked_until > now(), lock_count FROM vigil.bucket "
                                "WHERE key = 'acct:conc'"), "t|1")

    def test_wrong_codes_lock_then_too_many(self):
        self.enrol("walt")
        wrong = self.wrong_code("walt")
        for i in range(4):
            self.assertEqual(self.verify(f"h{i + 1}", "walt", wrong), "f|wrong")
        self.assertEqual(self.failures("walt"), 4)
        self.assertEqual(self.q("SELECT count(*) FROM vigil.bucket WHERE key = 'acct:walt' "
                                "AND locked_until > now()"), "0")
        # The 5th (totp_max_failures) locks the account's bucket, as lock_now().
        self.assertEqual(self.verify("h1", "walt", wrong), "f|wrong")
        self.assertEqual(self.q("SELECT extract(epoch FROM locked_until - last_failure)::int, lock_count, "
                                "last_failure <= now() FROM vigil.bucket WHERE key = 'acct:walt'"),
                         "3600|1|t")
        step = self.last_step("walt")
        # Then codes are not even checked, right ones included.
        self.assertEqual(self.verify("h2", "walt", self.code("walt")), "f|too_many")
        self.assertEqual(self.last_step("walt"), step)
        self.assertEqual(self.failures("walt"), 5)

    def test_wrong_codes_lock_with_the_doubling(self):
        # A bucket with an earlier lock that has ended: the next lock doubles.
        self.enrol("wade")
        self.pg.psql("INSERT INTO vigil.bucket (key, account, lock_count, last_failure) "
                     "VALUES ('acct:wade', 'wade', 1, now() - interval '2 hours')")
        wrong = self.wrong_code("wade")
        for _ in range(5):
            self.verify("h1", "wade", wrong)
        self.assertEqual(self.q("SELECT extract(epoch FROM locked_until - last_failure)::int, lock_count "
                                "FROM vigil.bucket WHERE key = 'acct:wade'"), "7200|2")

    def test_recovery_codes(self):
        self.enrol("rhea")
        codes = self.q("SELECT * FROM vigil.recovery_codes('rhea', 'postgres', NULL)").split("\n")
        self.assertEqual(len(codes), 10)
        self.assertEqual(len(set(codes)), 10)
        for c in codes:
            self.assertRegex(c, RECOVERY_CODE)
        # Stored only as HMAC-SHA256 under the seal key: no code in clear in
        # either table, whatever its form.
        dump = self.q("SELECT r::text FROM vigil.recovery_code r; SELECT t::text FROM vigil.totp t")
        for c in codes:
            for form in (c, c.replace("-", ""), c.upper(), c.replace("-", "").upper(),
                         c.replace("-", "").encode().hex()):
                self.assertNotIn(form, dump)
        norm = ", ".join(lit(c.replace("-", "")) for c in codes)
        self.assertEqual(self.q("SELECT count(*), bool_and(length(r.hash) = 32) "
                                "FROM vigil.recovery_code r, vigil.seal_key k "
                                f"WHERE r.account = 'rhea' AND r.hash IN (SELECT "
                                f"vigil_crypto.hmac(convert_to(x, 'UTF8'), k.key, 'sha256') "
                                f"FROM unnest(ARRAY[{norm}]) AS x)"), "10|t")
        # New codes void the old ones.
        old = codes
        codes = self.q("SELECT * FROM vigil.recovery_codes('rhea', 'postgres', NULL)").split("\n")
        self.assertEqual(self.verify("h1", "rhea", old[0]), "f|wrong")
        self.assertEqual(self.failures("rhea"), 1)
        # Each works once, from any host, read out loosely.
        forms = [codes[0].upper(), codes[1].replace("-", " ")] + codes[2:]
        for i, c in enumerate(forms):
            self.assertEqual(self.verify(f"h{i % 4 + 1}", "rhea", c), "t|recovery_code")
        self.assertEqual(self.failures("rhea"), 0)  # a login forgets the wrong codes
        self.assertEqual(self.q("SELECT count(*) FROM vigil.recovery_code WHERE account = 'rhea'"),
                         "0")
        self.assertEqual(self.verify("h2", "rhea", codes[5]), "f|wrong")

    def test_enrolment_rules(self):
        self.admin("ada", "abe", "amy")
        self.enrol("ada")                         # (a) the fleet owner, for an administrator
        self.enrol("abe")
        self.pg.psql("INSERT INTO vigil.block (account, reason, since, by, host) VALUES "
                     "('abe', 'test', now(), 'root', 'h1'), ('bea', 'test', now(), 'root', 'h1')")

        def enrol(host, account, actor, code=None):
            return f"SELECT vigil.totp_enroll({lit(account)}, {lit(actor)}, {lit(code)})"

        # (b) self-enrolment without a factor; not for an administrator, not
        # for a blocked account (frozen, for everyone), not while locked.
        self.assertRegex(self.q(enrol("h1", "bob", "bob"), user="h1"), r"^[A-Z2-7]{32}$")
        err = self.denied(enrol("h1", "amy", "amy"), what="(rule b)")
        self.assertIn("42501", err)
        self.assertIn("amy is an administrator", err)
        self.denied(enrol("h1", "bea", "bea"), what="bea is blocked: its second factor is frozen")
        self.denied(enrol("h1", "bea", "postgres"), user="postgres", what="frozen")
        self.pg.psql("INSERT INTO vigil.bucket (key, account, locked_until) "
                     "VALUES ('acct:lou', 'lou', now() + interval '1 hour')")
        self.denied(enrol("h1", "lou", "lou"), what="lou is locked")

        # (c) with an active factor: only with a valid code of it.
        self.enrol("cid")
        err = self.denied(enrol("h2", "cid", "cid"), user="h2", what="(rule c)")
        self.assertIn("42501", err)
        self.assertEqual(self.failures("cid"), 0)  # no code, nothing checked
        r = self.pg.run_psql(enrol("h2", "cid", "cid", self.wrong_code("cid")), user="h2")
        self.assertEqual((r.returncode, r.stdout.strip()), (0, ""))   # NULL: refused, and
        self.assertIn("refused (rule c)", r.stderr)
        self.assertEqual(self.failures("cid"), 1)                      # the code counted
        self.assertRegex(self.q(enrol("h2", "cid", "cid", self.code("cid")), user="h2"),
                         r"^[A-Z2-7]{32}$")
        self.assertEqual(self.q("SELECT secret IS NOT NULL AND pending IS NOT NULL FROM vigil.totp "
                                "WHERE account = 'cid'"), "t")  # the old one active until confirmed

        # (d) an administrator for someone else, with a code of its own.
        err = self.denied(enrol("h3", "dan", "eve", "123456"), user="h3",
                          what="(rule d): eve is not an administrator")
        self.assertIn("42501", err)
        self.denied(enrol("h3", "dan", "abe", "123456"), user="h3",
                    what="(rule d): the administrator abe is blocked")
        self.denied(enrol("h3", "dan", "ada"), user="h3", what="(rule d)")
        r = self.pg.run_psql(enrol("h3", "dan", "ada", self.wrong_code("ada")), user="h3")
        self.assertEqual((r.returncode, r.stdout.strip()), (0, ""))
        self.assertIn("refused (rule d)", r.stderr)
        self.assertEqual(self.failures("ada"), 1)
        self.assertEqual(self.q("SELECT count(*) FROM vigil.totp WHERE account = 'dan'"), "0")
        self.assertRegex(self.q(enrol("h3", "dan", "ada", self.code("ada")), user="h3"),
                         r"^[A-Z2-7]{32}$")
        # An administrator's first factor, by another one, with a recovery code.
        ada_codes = self.q("SELECT * FROM vigil.recovery_codes('ada', 'postgres', NULL)")
        self.assertRegex(self.q(enrol("h3", "amy", "ada", ada_codes.split()[0]), user="h3"),
                         r"^[A-Z2-7]{32}$")

        # Recovery codes: rules a, c, d; never without a factor.
        def codes(host, account, actor, code=None):
            return (f"SELECT * FROM vigil.recovery_codes({lit(account)}, {lit(actor)}, "
                    f"{lit(code)})")
        self.denied(codes("h1", "bob", "bob"), what="bob has no active second factor")
        self.denied(codes("h1", "bob", "postgres"), user="postgres", what="no active second factor")
        self.enrol("cyd")
        self.assertEqual(len(self.q(codes("h1", "cyd", "cyd", self.code("cyd")), user="h1")
                             .split("\n")), 10)
        r = self.pg.run_psql(codes("h1", "cyd", "cyd", self.wrong_code("cyd")), user="h1")
        self.assertEqual((r.returncode, r.stdout.strip()), (0, ""))
        self.assertIn("refused (rule c)", r.stderr)
        self.assertEqual(self.failures("cyd"), 1)
        self.denied(codes("h1", "cyd", "eve", "123456"), what="eve is not an administrator")
        self.assertEqual(len(self.q(codes("h4", "cyd", "ada", ada_codes.split()[1]), user="h4")
                             .split("\n")), 10)                       # (d)

        # A pending secret of an account blocked since cannot be confirmed.
        key = b32decode(self.q(enrol("h1", "bev", "bev"), user="h1"))
        self.pg.psql("INSERT INTO vigil.block (account, reason, since, by, host) "
                     "VALUES ('bev', 'test', now(), 'root', 'h1')")
        self.denied(f"SELECT vigil.totp_confirm('bev', {lit(hotp(key, step_now()))})",
                    what="bev is blocked: its second factor is frozen")

        # A role in vigil_host without a host row is no host, nor the owner.
        self.pg.psql("CREATE ROLE ghost LOGIN IN ROLE vigil_host")
        self.denied(enrol("ghost", "ghost", "ghost"), user="ghost", what="not a host of the fleet")


# ---------------------------------------------------------------------------


class Recover(AdminServer):
    """Administrators ada, ben, cy, ari (ari takes the wrong codes); each
    admin code consumes a step, so the window is wider here."""

    WINDOW = 5

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pg.psql("SELECT vigil.add_admin(a) FROM unnest(ARRAY['ada', 'ben', 'cy', 'ari', 'dee']) a")

    def setUp(self):
        for a in ("ada", "ben", "cy", "ari", "dee"):
            if a not in self.secrets:
                self.enrol(a)

    def recover(self, host, account, actor, actor_code, proof=None, reason="test"):
        return self.q(f"SELECT * FROM vigil.recover({lit(account)}, {lit(actor)}, "
                      f"{lit(actor_code)}, {lit(proof)}, {lit(reason)})", user=host)

    def blocked(self, account):
        return self.q(f"SELECT count(*) FROM vigil.block WHERE account = {lit(account)}") == "1"

    def test_refusals(self):
        self.enrol("vik")
        self.block("h1", "vik", "ada")
        self.assertEqual(self.recover("h1", "ada", "ada", self.code("ada")), "f|self|0")
        self.assertEqual(self.recover("h1", "vik", "mallory", "123456"), "f|not_admin|0")
        self.pg.psql("INSERT INTO vigil.block (account, reason, since, by, host) "
                     "VALUES ('dee', 'test', now(), 'root', 'h1')")
        self.assertEqual(self.recover("h2", "vik", "dee", self.code("dee")), "f|actor_blocked|0")
        # A wrong actor code is refused, and stays counted.
        n = self.failures("ari")
        self.assertEqual(self.recover("h2", "vik", "ari", self.wrong_code("ari")),
                         "f|actor_code_wrong|0")
        self.assertEqual(self.failures("ari"), n + 1)
        used = self.code("ari")
        self.assertEqual(self.verify("h3", "ari", used), "t|ok")
        self.assertEqual(self.recover("h2", "vik", "ari", used), "f|actor_code_replay|0")
        self.assertEqual(self.failures("ari"), 1)
        # The account's own wrong code: refused, counted, still blocked.
        self.assertEqual(self.recover("h3", "vik", "ari", self.code("ari"),
                                      proof=self.wrong_code("vik")), "f|proof_wrong|0")
        self.assertEqual(self.failures("vik"), 1)
        self.assertTrue(self.blocked("vik"))
        # Nothing to do for an account that is not blocked (the code is used).
        self.assertEqual(self.recover("h4", "nobody", "ari", self.code("ari")), "t|not_blocked|0")
        # Only hosts call it; a quarantined one is refused.
        self.denied("SELECT * FROM vigil.recover('vik', 'ada', '1', '1', 'x')", user="postgres",
                    what="not a host of the fleet")
        self.pg.add_host("hq", "A")
        self.pg.psql("UPDATE vigil.host SET quarantined = true WHERE name = 'hq'")
        err = self.denied("SELECT * FROM vigil.recover('vik', 'ada', '1', '1', 'x')", user="hq",
                          what="quarantined")
        self.assertIn("42501", err)
        self.assertTrue(self.blocked("vik"))

    def test_recover_with_the_accounts_code(self):
        self.enrol("vic")
        dev = "ssh-key:SHA256:vic-laptop"
        self.q("SELECT * FROM vigil.report('vic', 'success', '192.0.2.1', " + lit(dev) +
               ", ARRAY['192.0.2.1'], ARRAY[1], false, true, false, false, 'sshd')", user="h1")
        for i in range(3):
            for d in (dev, ""):
                self.q(f"SELECT * FROM vigil.report('vic', 'failure', '192.0.2.{10 + i}', "
                       f"{lit(d)}, ARRAY['192.0.2.{10 + i}'], ARRAY[1], false, true, false, "
                       "false, 'sshd')", user="h2")
        self.assertEqual(self.q("SELECT string_agg(key || ':' || lock_count, ',' ORDER BY key) "
                                "FROM vigil.bucket WHERE account = 'vic'"),
                         f"acct:vic:1,dev:vic\n{dev}:1")
        self.assertEqual(self.verify("h1", "vic", self.wrong_code("vic")), "f|wrong")
        seq1, changed = self.block("h3", "vic", "ben", "phished")
        self.assertTrue(changed)

        r = self.recover("h4", "vic", "ada", self.code("ada"), proof=self.code("vic"),
                         reason="called the user back")
        ok, why, seq2 = r.split("|")
        self.assertEqual((ok, why), ("t", "recovered"))
        self.assertGreater(int(seq2), seq1)
        self.assertFalse(self.blocked("vic"))
        self.assertEqual(self.q("SELECT string_agg(concat_ws(',', key, cardinality(failures), "
                                "locked_until, lock_count, refused, cardinality(src)), ';' "
                                "ORDER BY key) FROM vigil.bucket WHERE account = 'vic'"),
                         f"acct:vic,0,0,0,0;dev:vic\n{dev},0,0,0,0")
        self.assertEqual(self.failures("vic"), 0)
        ev = self.q(f"SELECT kind, account, host, actor, details FROM vigil.event WHERE seq = {seq2}")
        kind, account, host, actor, details = ev.split("|", 4)
        self.assertEqual((kind, account, host, actor), ("unblock", "vic", "h4", "ada"))
        self.assertEqual(json.loads(details),
                         {"actor": "ada", "reason": "called the user back", "proof": "code",
                          "approved_by": None, "was": "phished"})
        # Logins work again (the right password is no longer refused).
        out = self.q("SELECT verdict FROM vigil.report('vic', 'password_ok', '192.0.2.1', '', "
                     "ARRAY['192.0.2.1'], ARRAY[1], false, true, false, true, 'sshd')", user="h1")
        self.assertEqual(out, "verify")

    def test_recover_with_a_recovery_code_as_proof(self):
        self.enrol("vim")
        codes = self.q("SELECT * FROM vigil.recovery_codes('vim', 'postgres', NULL)").split("\n")
        ben_codes = self.q("SELECT * FROM vigil.recovery_codes('ben', 'postgres', NULL)").split("\n")
        self.block("h1", "vim", "ada")
        r = self.recover("h2", "vim", "ben", ben_codes[0], proof=codes[3].upper())
        self.assertRegex(r, r"^t\|recovered\|\d+$")
        seq = r.split("|")[2]
        self.assertEqual(self.q(f"SELECT details->>'proof' FROM vigil.event WHERE seq = {seq}"),
                         "recovery_code")
        self.assertEqual(self.q("SELECT count(*) FROM vigil.recovery_code WHERE account = 'vim'"), "9")

    def test_recover_with_two_administrators(self):
        self.enrol("val")
        seq1, _ = self.block("h1", "val", "cy")
        # The first administrator files an approval; again: still refused.
        self.assertEqual(self.recover("h1", "val", "ada", self.code("ada"), reason="lost phone"),
                         "f|approval_filed|0")
        self.assertEqual(self.q("SELECT requested_by, reason, at <= now() FROM vigil.approval "
                                "WHERE account = 'val'"), "ada|lost phone|t")
        self.assertEqual(self.q("SELECT count(*) FROM vigil.approval", user="h3"), "1")
        self.assertEqual(self.recover("h2", "val", "ada", self.code("ada")), "f|approval_filed|0")
        self.assertTrue(self.blocked("val"))
        # A second one recovers.
        r = self.recover("h3", "val", "ben", self.code("ben"), reason="checked in person")
        self.assertRegex(r, r"^t\|recovered\|\d+$")
        seq2 = int(r.split("|")[2])
        self.assertGreater(seq2, seq1)
        self.assertFalse(self.blocked("val"))
        self.assertEqual(self.q("SELECT count(*) FROM vigil.approval WHERE account = 'val'"), "0")
        details = json.loads(self.q(f"SELECT details FROM vigil.event WHERE seq = {seq2}"))
        self.assertEqual((details["proof"], details["approved_by"], details["actor"]),
                         ("approval", "ada", "ben"))

    def test_stale_approval_not_honoured(self):
        self.enrol("vera")
        self.block("h1", "vera", "cy")
        self.assertEqual(self.recover("h1", "vera", "ada", self.code("ada")), "f|approval_filed|0")
        self.pg.psql("UPDATE vigil.approval SET at = now() - interval '24 hours 1 second' "
                     "WHERE account = 'vera'")
        # Older than approval_ttl: not honoured; ben's replaces it.
        self.assertEqual(self.recover("h2", "vera", "ben", self.code("ben")), "f|approval_filed|0")
        self.assertEqual(self.q("SELECT requested_by FROM vigil.approval WHERE account = 'vera'"),
                         "ben")
        # A requester blocked since: not honoured either.
        self.pg.psql("INSERT INTO vigil.block (account, reason, since, by, host) "
                     "VALUES ('ben', 'test', now(), 'root', 'h1')")
        self.assertEqual(self.recover("h3", "vera", "ada", self.code("ada")), "f|approval_filed|0")
        self.pg.psql("DELETE FROM vigil.block WHERE account = 'ben'")
        self.assertTrue(self.blocked("vera"))
        # ada's approval is fresh: cy recovers.
        self.assertRegex(self.recover("h4", "vera", "cy", self.code("cy")), r"^t\|recovered\|\d+$")


# ---------------------------------------------------------------------------


class BlockHeartbeat(AdminServer):

    def test_block_account(self):
        self.admin("boss")
        self.pg.psql("UPDATE vigil.policy SET max_auto_blocks_per_host = 2")
        seq, changed = self.block("h1", "x1", "ada", "left the company")
        self.assertEqual((seq, changed), (1, True))
        self.assertEqual(self.q("SELECT reason, by, host, details FROM vigil.block "
                                "WHERE account = 'x1'"),
                         'left the company|ada|h1|{"actor": "ada", "made_by": "administrator"}')
        ev = self.q("SELECT seq, kind, account, host, actor, details FROM vigil.event "
                    "WHERE account = 'x1'")
        *cols, details = ev.split("|", 5)
        self.assertEqual(cols, ["1", "block", "x1", "h1", "ada"])
        self.assertEqual(json.loads(details), {"reason": "left the company", "actor": "ada",
                                               "by": "ada", "admin": False,
                                               "made_by": "administrator"})
        self.assertEqual(self.q("SELECT auto_blocks FROM vigil.host WHERE name = 'h1'"), "1")
        # Already blocked: nothing written.
        self.assertEqual(self.block("h2", "x1", "abe"), (0, False))
        self.assertEqual(self.q("SELECT n FROM vigil.seq"), "1")
        # An administrator's account.
        seq, _ = self.block("h1", "boss", "ada", "")
        self.assertEqual(self.q(f"SELECT details->'admin', details->>'reason' FROM vigil.event "
                                f"WHERE seq = {seq}"),
                         "true|blocked by the administrator ada on h1")
        # The cap, shared with automatic blocks.
        err = self.denied("SELECT * FROM vigil.block_account('x3', 'r', 'ada')",
                          what="max_auto_blocks_per_host = 2")
        self.assertIn("42501", err)
        self.assertEqual(self.q("SELECT count(*) FROM vigil.block WHERE account = 'x3'"), "0")
        self.assertEqual(self.block("h1", "x1", "ada"), (0, False))   # nothing new: no error
        self.assertEqual(self.block("h2", "x3", "ada"), (3, True))
        self.assertEqual(self.q("SELECT host FROM vigil.block WHERE account = 'x3'"), "h2")
        # A quarantined or unknown host blocks nothing.
        self.pg.psql("UPDATE vigil.host SET quarantined = true WHERE name = 'h4'")
        try:
            err = self.denied("SELECT * FROM vigil.block_account('x4', 'r', 'ada')", user="h4",
                              what="quarantined")
            self.assertIn("42501", err)
        finally:
            self.pg.psql("UPDATE vigil.host SET quarantined = false WHERE name = 'h4'")
        self.denied("SELECT * FROM vigil.block_account('x4', 'r', 'ada')", user="postgres",
                    what="not a host of the fleet")

    def test_heartbeat(self):
        self.assertEqual(self.q("SELECT applied_seq, last_seen IS NULL FROM vigil.host "
                                "WHERE name = 'h3'"), "0|t")
        n = self.q("SELECT n FROM vigil.seq")
        self.assertEqual(self.q("SELECT * FROM vigil.heartbeat(7)", user="h3"), f"{n}|B|f")
        self.assertEqual(self.q("SELECT applied_seq, now() - last_seen < interval '1 minute' "
                                "FROM vigil.host WHERE name = 'h3'"), "7|t")
        self.pg.add_host("hq2", "C")
        self.pg.psql("UPDATE vigil.host SET quarantined = true WHERE name = 'hq2'")
        self.assertEqual(self.q("SELECT * FROM vigil.heartbeat(0)", user="hq2"), f"{n}|C|t")
        self.pg.psql("CREATE ROLE ghost2 LOGIN IN ROLE vigil_host")
        err = self.denied("SELECT * FROM vigil.heartbeat(0)", user="ghost2",
                          what="not a host of the fleet")
        self.assertIn("42501", err)
        self.denied("SELECT * FROM vigil.heartbeat(-1)", user="h3", what="0 or more")


# ---------------------------------------------------------------------------


class LeastPrivilege(AdminServer):

    def test_host_cannot_reach_secrets(self):
        self.admin("ada")
        self.enrol("ada")
        for sql in [
            "SELECT * FROM vigil.totp",
            "SELECT * FROM vigil.recovery_code",
            "SELECT * FROM vigil.seal_key",
            "SELECT vigil.check_code('ada', '123456')",
            "SELECT vigil.hotp('\\x00'::bytea, 0)",
            "SELECT vigil.base32('\\x00'::bytea)",
            "SELECT vigil.unseal('\\x00'::bytea)",
            "SELECT vigil.seal('\\x00'::bytea)",
            "SELECT vigil.code_hash('x')",
            "SELECT vigil.lock_account_now('ada', now())",
            "SELECT vigil.change_rule('f', 'ada', 'ada', NULL, true)",
            "SELECT vigil.acting_host('f', true)",
            "SELECT vigil_crypto.gen_random_bytes(1)",
            "SELECT vigil_crypto.hmac('x'::bytea, 'k'::bytea, 'sha1')",
            "UPDATE vigil.approval SET requested_by = 'x'",
            "INSERT INTO vigil.approval VALUES ('a', 'b', 'c', now())",
            "DELETE FROM vigil.approval",
            "INSERT INTO vigil.admin (account) VALUES ('mallory')",
            "DELETE FROM vigil.admin",
            "UPDATE vigil.totp SET failures = '{}'",
            "UPDATE vigil.policy SET totp_max_failures = 100",
            "SELECT vigil.add_admin('mallory')",
            "SELECT vigil.remove_admin('ada')",
        ]:
            self.denied(sql, user="h2")
        self.assertEqual(self.q("SELECT string_agg(account, ',') FROM vigil.admin"), "ada")
        # What a host does read.
        self.assertEqual(self.q("SELECT count(*) FROM vigil.admin; SELECT count(*) FROM vigil.approval;"
                                "SELECT totp_window, totp_max_failures, recovery_code_count, "
                                "approval_ttl FROM vigil.policy", user="h2").split("\n"),
                         ["1", "0", "1|5|10|24:00:00"])
        self.assertEqual(self.q("SELECT vigil.add_admin('ada'), vigil.add_admin('zoe'), "
                                "vigil.remove_admin('zoe'), vigil.remove_admin('zoe')"), "f|t|t|f")
        # A member of vigil_owner that is no superuser manages no administrators.
        self.pg.psql("CREATE ROLE owner_member LOGIN IN ROLE vigil_owner;"
                     "GRANT CONNECT ON DATABASE vigil TO owner_member")
        self.denied("SELECT vigil.add_admin('mallory')", user="owner_member",
                    what="superusers only")

    def test_grants_are_exactly_the_listed_ones(self):
        self.assertEqual(self.q(
            "SELECT string_agg(p.proname, ',' ORDER BY p.proname) FROM pg_proc p "
            "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'vigil' "
            "AND has_function_privilege('h3', p.oid, 'EXECUTE')"),
            "block_account,decide,distinct_sources,factor,heartbeat,quarantine,recover,"
            "recovery_codes,replay,report,totp_confirm,totp_enroll,verify")
        self.assertEqual(self.q(
            "SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'vigil' "
            "AND c.relkind IN ('r', 'S') AND has_table_privilege('h3', c.oid, 'SELECT')"),
            "admin,approval,block,device,event,host,migration,policy,schema_version,seq")
        # No PUBLIC grant in vigil; nothing of pgcrypto for hosts.
        self.assertEqual(self.q(
            "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname IN ('vigil', 'vigil_crypto') AND (p.proacl IS NULL OR EXISTS "
            "(SELECT 1 FROM aclexplode(p.proacl) a WHERE a.grantee = 0))"), "0")
        self.assertEqual(self.q(
            "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = 'vigil_crypto' AND has_function_privilege('h3', p.oid, 'EXECUTE')"),
            "0")
        self.assertEqual(self.q("SELECT has_schema_privilege('h3', 'vigil_crypto', 'USAGE'), "
                                "pg_get_userbyid(nspowner) FROM pg_namespace "
                                "WHERE nspname = 'vigil_crypto'"), "f|vigil_owner")
        self.assertEqual(self.q("SELECT n.nspname FROM pg_extension e JOIN pg_namespace n "
                                "ON n.oid = e.extnamespace WHERE e.extname = 'pgcrypto'"),
                         "vigil_crypto")
        # The new functions: SECURITY DEFINER, owned by vigil_owner, with a
        # fixed search_path.
        new = ("heartbeat", "add_admin", "remove_admin", "block_account", "verify", "totp_enroll",
               "totp_confirm", "recovery_codes", "recover", "check_code", "hotp", "base32",
               "acting_host", "seal", "unseal", "code_hash", "code_steps", "account_locked",
               "lock_account_now", "change_rule")
        names = ", ".join(lit(n) for n in new)
        self.assertEqual(self.q(
            "SELECT count(*), bool_and(p.prosecdef), bool_and(pg_get_userbyid(p.proowner) = "
            "'vigil_owner'), bool_and(p.proconfig = ARRAY['search_path=vigil, pg_temp']) "
            f"FROM pg_proc p WHERE p.pronamespace = 'vigil'::regnamespace AND p.proname IN ({names})"),
            f"{len(new)}|t|t|t")
        # The seal key: 32 random bytes, for vigil_owner alone.
        self.assertEqual(self.q("SELECT length(key), (SELECT count(*) FROM vigil.seal_key) "
                                "FROM vigil.seal_key"), "32|1")
        self.assertEqual(self.q(
            "SELECT string_agg(DISTINCT a.grantee::regrole::text, ',') FROM pg_class c, "
            "aclexplode(c.relacl) a WHERE c.oid IN ('vigil.seal_key'::regclass, "
            "'vigil.totp'::regclass, 'vigil.recovery_code'::regclass)"), "vigil_owner")

    def test_migration_runs_once(self):
        r = subprocess.run(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction",
             "-h", "127.0.0.1", "-p", str(self.pg.port), "-U", "postgres", "-d", "vigil",
             "-f", str(SQL_DIR / "002_admin.sql")],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, env=PgServer.env())
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('schema "vigil_crypto" already exists', r.stderr)


if __name__ == "__main__":
    unittest.main()
