-- vigil fleet schema, version 4 (FLEET.md: "When the database is
-- unreachable (degraded mode)", "Scale": failover).
--
-- Run once per database by a superuser, in one transaction, after
-- 003_hosts.sql. The runner sets vigil.schema_version. Its first change
-- creates the table vigil.replayed, so running it again fails at once and,
-- being one transaction, changes nothing.
--
-- What this version adds:
--  * vigil.replay(): a host's journal of the decisions it made alone while
--    the database was unreachable, taken in batches. Idempotent on (host,
--    journal, local_seq): an entry taken twice (the host was killed after
--    the commit, before it erased its copy) changes nothing the second
--    time. A replay may count a failure (and so lock) or block; it never
--    unblocks, never unlocks and never resets a counter: a success made
--    offline is recorded, not applied.
--  * Every event (block, unblock, quarantine) commits with
--    synchronous_commit = remote_apply: with a synchronous standby
--    (synchronous_standby_names), the transaction that blocks is visible on
--    the standby before any host is told, so a switchover loses no block.
--    Without one, remote_apply is the same as on.

SET ROLE vigil_owner;

---------------------------------------------------------------------------
-- Tables
---------------------------------------------------------------------------

-- The journal entries each host has replayed: one row per (host, journal,
-- local_seq, digest), `journal` being the random name of the host's journal
-- (a new state directory starts a new one, whose local_seq start again at
-- 1) and `digest` the entry's own (md5 of its jsonb text): a state
-- directory restored from a backup numbers its new entries as it did after
-- the backup, and those are other entries, not replays. Hosts read nothing
-- here; only vigil.replay() writes.
CREATE TABLE vigil.replayed (
  host text NOT NULL,
  journal text NOT NULL,
  local_seq bigint NOT NULL,
  digest text NOT NULL,
  at timestamptz NOT NULL DEFAULT now(),
  kind text NOT NULL,
  account text,
  result text NOT NULL,
  PRIMARY KEY (host, journal, local_seq, digest)
);

---------------------------------------------------------------------------
-- Events commit on the synchronous standby too
---------------------------------------------------------------------------

-- As in 001, and the transaction that emits commits with remote_apply (set
-- here, after any SET LOCAL synchronous_commit = on of the caller: the
-- last setting before the commit counts).
CREATE OR REPLACE FUNCTION vigil.emit(p_kind text, p_account text, p_actor text, p_details jsonb)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = vigil, pg_temp
AS $$
DECLARE
  v_seq bigint;
BEGIN
  UPDATE vigil.seq SET n = n + 1 RETURNING n INTO v_seq;
  INSERT INTO vigil.event (seq, at, kind, account, host, actor, details)
  VALUES (v_seq, now(), p_kind, p_account, session_user, p_actor, coalesce(p_details, '{}'));
  PERFORM pg_notify('vigil_events', v_seq::text);
  PERFORM set_config('synchronous_commit', 'remote_apply', true);
  RETURN v_seq;
END
$$;

---------------------------------------------------------------------------
-- Replay
---------------------------------------------------------------------------

-- Takes a batch of the calling host's journal (p_journal: its name;
-- p_entries: a JSON array of at most 1000 objects), in the caller's
-- transaction. Idempotent on (host, journal, local_seq, the entry's
-- digest). Each entry:
--   local_seq   bigint > 0, the entry's number in the journal
--   at          when the host decided it (epoch seconds; recorded only)
--   kind        'failure' | 'success' | 'refused' | 'block'
--   account     the fleet's key of the account; "" or null for a name
--               that resolved to no account (a failure: its source counts)
--   failure:    source, device, service, throttle_keys (text[]),
--               throttle_scales (int[]), root_caller, exempt, console:
--               as vigil.report()'s, which counts it now (the database's
--               clock: a host's clock never dates a failure)
--   block:      reason, by: the account is blocked (as vigil.block_account
--               would: counted in the host's cap; past it, not blocked, and
--               the result says so)
--   success, refused: recorded only
-- Returns one row per entry, in the order given: its local_seq and what
-- happened: 'duplicate' (taken before: nothing done), report()'s reason
-- for a failure ('counted', 'locked', 'blocked', 'throttled', 'no_account'),
-- 'blocked', 'already_blocked' or 'cap' for a block, 'recorded' otherwise.
-- The calling host must exist and not be quarantined (else 42501: its
-- journal is refused whole, and kept on the host). A batch that made a
-- block commits with remote_apply, whatever the entries after it set.
CREATE FUNCTION vigil.replay(p_journal text, p_entries jsonb)
RETURNS TABLE (local_seq bigint, result text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = vigil, pg_temp
AS $$
DECLARE
  v_host vigil.host%ROWTYPE;
  v_pol vigil.policy%ROWTYPE;
  v_e jsonb;
  v_kind text;
  v_account text;
  v_reason text;
  v_by text;
  v_keys text[];
  v_scales int[];
  v_emitted boolean := false;
BEGIN
  SELECT * INTO v_host FROM vigil.host h WHERE h.name = session_user;
  IF NOT FOUND OR v_host.quarantined THEN
    RAISE EXCEPTION 'vigil.replay: % is not a host of the fleet, or is quarantined', session_user
      USING ERRCODE = '42501';
  END IF;
  IF coalesce(p_journal, '') = '' OR p_entries IS NULL OR jsonb_typeof(p_entries) <> 'array'
     OR jsonb_array_length(p_entries) > 1000 THEN
    RAISE EXCEPTION 'vigil.replay: a journal name and an array of at most 1000 entries are needed'
      USING ERRCODE = '22023';
  END IF;
  SELECT * INTO v_pol FROM vigil.policy p WHERE p.id;
  -- A failure, a block or a refusal is never lost to an asynchronous commit.
  PERFORM set_config('synchronous_commit', 'on', true);

  FOR v_e IN SELECT e FROM jsonb_array_elements(p_entries) AS a(e) LOOP
    IF jsonb_typeof(v_e) <> 'object' OR jsonb_typeof(v_e -> 'local_seq') <> 'number'
       OR (v_e ->> 'local_seq')::numeric <= 0
       OR coalesce(v_e ->> 'kind', '') NOT IN ('failure', 'success', 'refused', 'block') THEN
      RAISE EXCEPTION 'vigil.replay: an entry needs a positive local_seq and a known kind: %', v_e
        USING ERRCODE = '22023';
    END IF;
    local_seq := (v_e ->> 'local_seq')::bigint;
    v_kind := v_e ->> 'kind';
    v_account := nullif(v_e ->> 'account', '');

    INSERT INTO vigil.replayed AS r (host, journal, local_seq, digest, kind, account, result)
    VALUES (session_user, p_journal, local_seq, md5(v_e::text), v_kind, v_account, '')
    ON CONFLICT ON CONSTRAINT replayed_pkey DO NOTHING;
    IF NOT FOUND THEN
      result := 'duplicate';
      RETURN NEXT;
      CONTINUE;
    END IF;

    IF v_kind = 'failure' THEN
      SELECT coalesce(array_agg(k ORDER BY i), '{}') INTO v_keys
        FROM jsonb_array_elements_text(coalesce(v_e -> 'throttle_keys', '[]')) WITH ORDINALITY AS t(k, i);
      SELECT coalesce(array_agg(s::int ORDER BY i), '{}') INTO v_scales
        FROM jsonb_array_elements_text(coalesce(v_e -> 'throttle_scales', '[]')) WITH ORDINALITY AS t(s, i);
      SELECT d.reason INTO result
        FROM vigil.report(v_account, 'failure', coalesce(v_e ->> 'source', ''),
                          coalesce(v_e ->> 'device', ''), v_keys, v_scales,
                          coalesce((v_e ->> 'exempt')::boolean, false),
                          coalesce((v_e ->> 'root_caller')::boolean, false),
                          coalesce((v_e ->> 'console')::boolean, false), false,
                          coalesce(v_e ->> 'service', '')) AS d;
    ELSIF v_kind = 'block' AND v_account IS NOT NULL THEN
      IF EXISTS (SELECT 1 FROM vigil.block k WHERE k.account = v_account) THEN
        result := 'already_blocked';
      ELSIF (SELECT h.auto_blocks FROM vigil.host h WHERE h.name = session_user FOR UPDATE)
            >= v_pol.max_auto_blocks_per_host THEN
        RAISE WARNING 'vigil.replay: host % is at its cap of blocks (max_auto_blocks_per_host): % not blocked',
          session_user, v_account;
        result := 'cap';
      ELSE
        v_by := coalesce(nullif(v_e ->> 'by', ''), 'vigild');
        v_reason := coalesce(nullif(v_e ->> 'reason', ''),
                             format('blocked on %s while the fleet database was unreachable', session_user));
        INSERT INTO vigil.block AS k (account, reason, since, by, host, details)
        VALUES (v_account, v_reason, date_trunc('second', now()), v_by, session_user,
                jsonb_build_object('made_by', 'offline', 'journal', p_journal, 'local_seq', local_seq))
        ON CONFLICT (account) DO NOTHING;
        IF FOUND THEN
          UPDATE vigil.host AS h SET auto_blocks = h.auto_blocks + 1 WHERE h.name = session_user;
          PERFORM vigil.emit('block', v_account, v_by,
                             jsonb_build_object('reason', v_reason, 'by', v_by, 'made_by', 'offline',
                                                'admin', EXISTS (SELECT 1 FROM vigil.admin a
                                                                  WHERE a.account = v_account)));
          result := 'blocked';
          v_emitted := true;
        ELSE
          result := 'already_blocked';
        END IF;
      END IF;
    ELSE
      result := 'recorded';
    END IF;
    UPDATE vigil.replayed AS r SET result = replay.result
     WHERE r.host = session_user AND r.journal = p_journal AND r.local_seq = replay.local_seq
       AND r.digest = md5(v_e::text);
    RETURN NEXT;
  END LOOP;
  -- vigil.report() of a later entry set synchronous_commit = on: a block
  -- made in this batch still waits for the standby.
  IF v_emitted THEN
    PERFORM set_config('synchronous_commit', 'remote_apply', true);
  END IF;
END
$$;

RESET ROLE;

---------------------------------------------------------------------------
-- Privileges
---------------------------------------------------------------------------

REVOKE ALL ON ALL TABLES IN SCHEMA vigil FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA vigil FROM PUBLIC;

GRANT EXECUTE ON FUNCTION vigil.replay(text, jsonb) TO vigil_host;

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = 'vigil'::regnamespace
                AND c.relowner <> 'vigil_owner'::regrole)
     OR EXISTS (SELECT 1 FROM pg_proc p WHERE p.pronamespace = 'vigil'::regnamespace
                   AND p.proowner <> 'vigil_owner'::regrole) THEN
    RAISE EXCEPTION 'vigil schema v4: an object is not owned by vigil_owner';
  END IF;
  IF has_table_privilege('vigil_host', 'vigil.replayed', 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE')
     OR has_function_privilege('vigil_host', 'vigil.emit(text, text, text, jsonb)', 'EXECUTE') THEN
    RAISE EXCEPTION 'vigil schema v4: vigil_host may write the replay record or emit an event';
  END IF;
END
$$;
