"""The fleet's schema version 4 (daemon/fleet/sql/004_degraded.sql) on a
real PostgreSQL 15 server.

  * vigil.replay(): a host's journal, idempotent on (host, journal,
    local_seq); failures counted as vigil.report() counts them; blocks made
    within the host's cap; successes and refusals recorded, never applied
    (a replay never unblocks, unlocks or resets); bad input refused whole;
    a quarantined or unknown host refused.
  * Events commit with synchronous_commit = remote_apply.
  * The replay record is out of a host's reach.

Run from tests/fleet: python3 test_sql_degraded.py -v.
"""

import json
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_sql_admin as adm  # noqa: E402  (helpers and the server fixture)

lit = adm.lit


def failure(seq, account="alice", source=None):
    src = source or "192.0.2.%d" % (seq % 250 + 1)
    return {"local_seq": seq, "kind": "failure", "account": account, "source": src, "service": "sshd",
            "throttle_keys": [src], "throttle_scales": [1], "root_caller": True}


class Replay(adm.AdminServer):
    def setUp(self):
        self.q("TRUNCATE vigil.replayed, vigil.bucket, vigil.failure, vigil.block, vigil.event; "
               "UPDATE vigil.seq SET n = 0; UPDATE vigil.host SET quarantined = false, auto_blocks = 0; "
               "UPDATE vigil.policy SET deny = 3, max_auto_blocks_per_host = 10")

    def replay(self, entries, host="h1", journal="j1"):
        out = self.q(f"SELECT local_seq || ':' || result FROM vigil.replay({lit(journal)}, "
                     f"{lit(json.dumps(entries))}::jsonb)", user=host)
        return out.split("\n") if out else []

    def test_failures_count_once_and_lock(self):
        entries = [failure(i) for i in range(1, 6)]
        self.assertEqual(self.replay(entries),
                         ["1:counted", "2:counted", "3:counted", "4:locked", "5:locked"])
        # Taken again (the host died before erasing its copy): nothing counted.
        self.assertEqual(self.replay(entries), ["%d:duplicate" % i for i in range(1, 6)])
        self.assertEqual(self.q("SELECT count(*) FROM vigil.failure WHERE account = 'alice'"), "3")
        self.assertEqual(self.q("SELECT locked_until > now() FROM vigil.bucket WHERE key = 'acct:alice'"), "t")
        # The same number with other content (a state directory restored
        # from a backup numbers on from there) is another entry.
        self.assertEqual(self.replay([failure(1, "bob")]), ["1:counted"])
        # The same local_seq from another host, or another journal of the
        # same host (a new state directory), is another entry.
        self.assertEqual(self.replay([failure(1, "bob")], host="h2"), ["1:counted"])
        self.assertEqual(self.replay([failure(1, "bob")], journal="j2"), ["1:counted"])

    def test_a_replay_never_unblocks_unlocks_or_resets(self):
        self.replay([failure(i) for i in range(1, 4)])
        self.replay([{"local_seq": 10, "kind": "block", "account": "carol", "reason": "offline", "by": "root"}])
        before = self.q("SELECT failures, locked_until, lock_count FROM vigil.bucket WHERE key = 'acct:alice'")
        out = self.replay([{"local_seq": 11, "kind": "success", "account": "alice"},
                           {"local_seq": 12, "kind": "success", "account": "carol"},
                           {"local_seq": 13, "kind": "refused", "account": "alice"}])
        self.assertEqual(out, ["11:recorded", "12:recorded", "13:recorded"])
        self.assertEqual(self.q("SELECT failures, locked_until, lock_count FROM vigil.bucket "
                                "WHERE key = 'acct:alice'"), before)
        self.assertEqual(self.q("SELECT count(*) FROM vigil.block WHERE account = 'carol'"), "1")

    def test_a_block_is_made_once_as_an_event_within_the_cap(self):
        out = self.replay([{"local_seq": 1, "kind": "block", "account": "carol", "reason": "phished", "by": "root"},
                           {"local_seq": 2, "kind": "block", "account": "carol", "reason": "again", "by": "root"}])
        self.assertEqual(out, ["1:blocked", "2:already_blocked"])
        self.assertEqual(self.q("SELECT host || ' ' || by || ' ' || reason || ' ' || (details->>'made_by') "
                                "FROM vigil.block WHERE account = 'carol'"), "h1 root phished offline")
        self.assertEqual(self.q("SELECT kind || ' ' || account || ' ' || host FROM vigil.event"), "block carol h1")
        self.q("UPDATE vigil.policy SET max_auto_blocks_per_host = 1")
        self.assertEqual(self.replay([{"local_seq": 3, "kind": "block", "account": "dan", "reason": "x"}]),
                         ["3:cap"])
        self.assertEqual(self.q("SELECT count(*) FROM vigil.block WHERE account = 'dan'"), "0")

    def test_an_unresolved_name_counts_for_its_source_only(self):
        src = "198.51.100.7"
        out = self.replay([dict(failure(1, None, src), account="")])
        self.assertEqual(out, ["1:no_account"])
        self.assertEqual(self.q(f"SELECT cardinality(failures) FROM vigil.bucket WHERE key = 'src:{src}'"), "1")

    def test_bad_input_is_refused_whole(self):
        for bad in ([{"kind": "failure", "account": "alice"}],
                    [{"local_seq": 0, "kind": "failure", "account": "alice"}],
                    [{"local_seq": 1, "kind": "unblock", "account": "alice"}],
                    [failure(1), {"local_seq": 2, "kind": "nonsense"}]):
            self.denied(f"SELECT * FROM vigil.replay('j1', {lit(json.dumps(bad))}::jsonb)",
                        what="vigil.replay")
        self.denied("SELECT * FROM vigil.replay('j1', '{}'::jsonb)", what="array")
        self.denied("SELECT * FROM vigil.replay('j1', " + lit(json.dumps([failure(i) for i in range(1, 1002)])) +
                    "::jsonb)", what="at most 1000")
        self.assertEqual(self.q("SELECT count(*) FROM vigil.replayed"), "0")
        self.assertEqual(self.q("SELECT count(*) FROM vigil.failure"), "0")

    def test_a_quarantined_or_unknown_host_is_refused(self):
        self.q("UPDATE vigil.host SET quarantined = true WHERE name = 'h3'")
        self.denied(f"SELECT * FROM vigil.replay('j1', {lit(json.dumps([failure(1)]))}::jsonb)", user="h3",
                    what="quarantined")
        self.denied(f"SELECT * FROM vigil.replay('j1', {lit(json.dumps([failure(1)]))}::jsonb)", user="postgres",
                    what="not a host")
        self.assertEqual(self.q("SELECT count(*) FROM vigil.replayed"), "0")

    def test_events_commit_with_remote_apply(self):
        # The setting the transaction commits with, read just before COMMIT.
        out = self.q("BEGIN; SELECT seq FROM vigil.block_account('erin', 'x', 'ada'); SHOW synchronous_commit; "
                     "COMMIT;", user="h1")
        self.assertEqual(out.split("\n")[-1], "remote_apply")
        out = self.q("BEGIN; SELECT verdict FROM vigil.report('frank', 'failure', '', '', '{}', '{}', false, "
                     "true, false, false, 'sshd'); SHOW synchronous_commit; COMMIT;", user="h1")
        self.assertEqual(out.split("\n")[-1], "on", "a failure: on (no event)")

    def test_a_batch_with_a_block_commits_with_remote_apply(self):
        entries = json.dumps([{"local_seq": 1, "kind": "block", "account": "gus", "reason": "x"}, failure(2)])
        out = self.q(f"BEGIN; SELECT count(*) FROM vigil.replay('j1', {lit(entries)}::jsonb); "
                     "SHOW synchronous_commit; COMMIT;", user="h1")
        self.assertEqual(out.split("\n")[-1], "remote_apply")

    def test_the_replay_record_is_out_of_reach(self):
        for sql in ("SELECT * FROM vigil.replayed",
                    "INSERT INTO vigil.replayed (host, journal, local_seq, kind, result) "
                    "VALUES ('h2', 'j', 1, 'failure', 'x')",
                    "SELECT vigil.emit('unblock', 'alice', 'h1', '{}')"):
            self.denied(sql)


if __name__ == "__main__":
    unittest.main()
