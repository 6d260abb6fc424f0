-- vigil fleet schema, version 3 (FLEET.md: "Least privilege", "Migration").
--
-- Run once per database by a superuser, in one transaction, after
-- 002_admin.sql. The runner (vigild --fleet-setup, or the tests' PgServer)
-- sets vigil.schema_version; this file does not touch it. Its first change
-- creates the table vigil.migration, so running it again fails at once and,
-- being one transaction, changes nothing.
--
-- What this version adds:
--  * vigil.quarantine(): an administrator, through a host and with a code of
--    their own checked here, quarantines a host (whose calls are refused
--    from then on, its heartbeat excepted) or lifts a quarantine.
--  * vigil.factor(): whether an account has an active second factor, or one
--    being enrolled, for the login path (no secret).
--  * The migration of one host's single-host SQLite state into the fleet
--    (vigild --migrate-to URL, run with the fleet owner's credentials, never
--    a host's): vigil.import_bucket(), import_block(), import_device(),
--    import_totp() merge conservatively and record each item in
--    vigil.migration, so that importing a host twice changes nothing.
--    Recovery codes are NOT migrated: a host keeps only HMACs of them under
--    its own key, which the fleet does not have (and must not get), so they
--    cannot be checked here. The users of a migrated host make new ones
--    (vigil.recovery_codes) once their factor is in the fleet.
--
-- Every new function is SECURITY DEFINER, owned by vigil_owner, with
-- search_path = vigil, pg_temp. As in 002, refusals after a code was
-- checked are answers, never errors, so that the counted code commits.

-- Everything below is created by, and so owned by, vigil_owner (checked at
-- the end).
SET ROLE vigil_owner;

---------------------------------------------------------------------------
-- Tables
---------------------------------------------------------------------------

-- What each host already imported from its SQLite state: one row per
-- (host, item), item being 'bucket:' || key, 'block:' || account,
-- 'device:' || account || ':' || device, 'totp:' || account, or any mark the
-- migration records with vigil.import_done(). Hosts read it (has this host
-- been migrated?); only the import functions write it.
CREATE TABLE vigil.migration (
  host text NOT NULL,
  item text NOT NULL,
  at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (host, item)
);

---------------------------------------------------------------------------
-- Quarantine
---------------------------------------------------------------------------

-- Quarantines the host p_host (p_on) or lifts its quarantine (NOT p_on), for
-- the administrator p_actor, through the calling host. Checked in this
-- order:
--   the calling host exists and is not quarantined (else 42501): so a
--     quarantined host can never lift its own quarantine; it may quarantine
--     itself
--   p_actor not an administrator          (false, 'not_admin')
--   p_actor blocked                       (false, 'actor_blocked')
--   p_actor's code (check_code)           (false, 'actor_code_' || its answer)
--   p_host unknown                        (false, 'no_such_host')
--   p_host is the caller, quarantined meanwhile, and p_on is false
--                                         (false, 'self')
--   p_host already in that state          (true, 'unchanged', 0)
--   else host.quarantined = p_on, and a 'quarantine' or 'unquarantine'
--   event (host = the calling host, actor = p_actor, details: host, actor,
--   reason, by_host):                     (true, 'quarantined' |
--                                          'unquarantined', its seq)
-- seq is 0 but for a change.
CREATE FUNCTION vigil.quarantine(p_host text, p_actor text, p_actor_code text, p_on boolean,
                                 p_reason text)
RETURNS TABLE (ok boolean, reason text, seq bigint)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = vigil, pg_temp
AS $$
DECLARE
  v_me text;
  v_r text;
  v_was boolean;
BEGIN
  v_me := vigil.acting_host('vigil.quarantine', false);
  IF coalesce(p_host, '') = '' OR coalesce(p_actor, '') = '' OR p_on IS NULL THEN
    RAISE EXCEPTION 'vigil.quarantine: the host, the acting administrator and on/off are needed'
      USING ERRCODE = '22023';
  END IF;
  ok := false;
  seq := 0;

  IF NOT EXISTS (SELECT 1 FROM vigil.admin a WHERE a.account = p_actor) THEN
    reason := 'not_admin';
    RETURN NEXT;
    RETURN;
  END IF;
  IF EXISTS (SELECT 1 FROM vigil.block k WHERE k.account = p_actor) THEN
    reason := 'actor_blocked';
    RETURN NEXT;
    RETURN;
  END IF;

  v_r := vigil.check_code(p_actor, p_actor_code);
  IF v_r NOT IN ('ok', 'recovery_code') THEN
    reason := 'actor_code_' || v_r;
    RETURN NEXT;
    RETURN;
  END IF;

  -- The target's row lock serialises the changes of one host.
  SELECT h.quarantined INTO v_was FROM vigil.host h WHERE h.name = p_host FOR UPDATE;
  IF NOT FOUND THEN
    reason := 'no_such_host';
    RETURN NEXT;
    RETURN;
  END IF;
  IF p_host = v_me AND v_was AND NOT p_on THEN
    reason := 'self';   -- quarantined while this call waited for the row
    RETURN NEXT;
    RETURN;
  END IF;
  ok := true;
  IF v_was = p_on THEN
    reason := 'unchanged';
    RETURN NEXT;
    RETURN;
  END IF;

  PERFORM set_config('synchronous_commit', 'on', true);
  UPDATE vigil.host AS h SET quarantined = p_on WHERE h.name = p_host;
  seq := vigil.emit(CASE WHEN p_on THEN 'quarantine' ELSE 'unquarantine' END, NULL, p_actor,
                    jsonb_build_object('host', p_host, 'actor', p_actor, 'reason', p_reason,
                                       'by_host', v_me));
  reason := CASE WHEN p_on THEN 'quarantined' ELSE 'unquarantined' END;
  RETURN NEXT;
END
$$;

---------------------------------------------------------------------------
-- The second factor's status
---------------------------------------------------------------------------

-- Whether p_account has an active second factor, and whether one is being
-- enrolled (a pending secret younger than 15 minutes, which
-- vigil.totp_confirm() would still take). No secret is read out. For a host
-- that is not quarantined, or the fleet owner.
CREATE FUNCTION vigil.factor(p_account text)
RETURNS TABLE (active boolean, pending boolean)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = vigil, pg_temp
AS $$
BEGIN
  PERFORM vigil.acting_host('vigil.factor', true);
  IF coalesce(p_account, '') = '' THEN
    RAISE EXCEPTION 'vigil.factor: an account name is needed' USING ERRCODE = '22023';
  END IF;
  SELECT t.secret IS NOT NULL,
         t.pending IS NOT NULL AND t.pending_at > now() - interval '15 minutes'
    INTO active, pending
    FROM vigil.totp t WHERE t.account = p_account;
  IF NOT FOUND THEN
    active := false;
    pending := false;
  END IF;
  RETURN NEXT;
END
$$;

---------------------------------------------------------------------------
-- Migration of a host's SQLite state (internal helpers)
---------------------------------------------------------------------------
--
-- One host's state is imported in one transaction (the caller's), with the
-- owner's credentials; hosts may not call any of it. Each import function
-- records its item for p_host in vigil.migration first: a second call with
-- the same (host, item) changes nothing and answers 'already imported', so
-- a migration interrupted or run twice imports nothing twice. Times are
-- taken in whole seconds; a time at or before the epoch is "not set" (the
-- C++ TimePoint{}), and failure times later than the database's now() are
-- clamped to it (the database's clock decides, as for offline replays).
--
-- Bucket rows are locked one call at a time and held to the end of the
-- caller's transaction, while other hosts keep reporting: import a host's
-- buckets in the order vigil.report() locks them (account, known devices,
-- then sources), and keep the transaction short. A deadlock with a live
-- report aborts the import's transaction, which can simply be run again.

-- Records (p_host, p_item) as imported: true when it is new, false when it
-- was already there. Superusers only (42501); p_host must be a host of the
-- fleet (vigil.add_host() first).
CREATE FUNCTION vigil.import_claim(p_fn text, p_host text, p_item text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = vigil, pg_temp
AS $$
BEGIN
  IF NOT coalesce((SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = session_user), false) THEN
    RAISE EXCEPTION '%: superusers only', p_fn USING ERRCODE = '42501',
      HINT = 'The migration (vigild --migrate-to) runs with the fleet owner''s credentials, never a host''s.';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM vigil.host h WHERE h.name = p_host) THEN
    RAISE EXCEPTION '%: % is not a host of the fleet', p_fn, coalesce(p_host, 'NULL')
      USING ERRCODE = '22023', HINT = 'Add it first with vigil.add_host().';
  END IF;
  IF coalesce(p_item, '') = '' THEN
    RAISE EXCEPTION '%: an item is needed', p_fn USING ERRCODE = '22023';
  END IF;
  INSERT INTO vigil.migration AS m (host, item) VALUES (p_host, p_item)
  ON CONFLICT (host, item) DO NOTHING;
  RETURN FOUND;
END
$$;

-- A host's time point as the fleet keeps it: whole seconds, NULL for "not
-- set" (at or before the epoch), and with p_clamp at most p_now.
CREATE FUNCTION vigil.import_time(p_t timestamptz, p_now timestamptz, p_clamp boolean)
RETURNS timestamptz
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = vigil, pg_temp
RETURN CASE WHEN p_t IS NULL OR p_t <= 'epoch'::timestamptz THEN NULL
            WHEN p_clamp THEN least(date_trunc('second', p_t), p_now)
            ELSE date_trunc('second', p_t) END;

-- RFC 4648 base32 to bytes: either case, '=' padding, spaces and '-'
-- ignored; anything else, or a length no encoder makes, raises 22023.
CREATE FUNCTION vigil.base32_decode(p_text text)
RETURNS bytea
LANGUAGE plpgsql IMMUTABLE STRICT SECURITY DEFINER
SET search_path = vigil, pg_temp
AS $$
DECLARE
  alphabet constant text := 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  s text := upper(translate(p_text, '= -', ''));
  buf int := 0;   -- at most 12 bits pending
  bits int := 0;
  v int;
  out bytea := '';
BEGIN
  FOR i IN 1 .. length(s) LOOP
    v := strpos(alphabet, substr(s, i, 1)) - 1;
    IF v < 0 THEN
      RAISE EXCEPTION 'vigil.base32_decode: not base32' USING ERRCODE = '22023';
    END IF;
    buf := ((buf << 5) | v) & 4095;
    bits := bits + 5;
    IF bits >= 8 THEN
      out := out || set_byte('\x00'::bytea, 0, (buf >> (bits - 8)) & 255);
      bits := bits - 8;
    END IF;
  END LOOP;
  IF bits >= 5 THEN
    RAISE EXCEPTION 'vigil.base32_decode: not base32 (length)' USING ERRCODE = '22023';
  END IF;
  RETURN out;
END
$$;

-- Like vigil.emit(), for an event made on p_host rather than by the
-- session's role (the migration runs as the owner, on behalf of a host).
CREATE FUNCTION vigil.emit_for(p_host text, p_kind text, p_account text, p_actor text,
                               p_details jsonb)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = vigil, pg_temp
AS $$
DECLARE
  v_seq bigint;
BEGIN
  UPDATE vigil.seq SET n = n + 1 RETURNING n INTO v_seq;
  INSERT INTO vigil.event (seq, at, kind, account, host, actor, details)
  VALUES (v_seq, now(), p_kind, p_account, p_host, p_actor, coalesce(p_details, '{}'));
  PERFORM pg_notify('vigil_events', v_seq::text);
  RETURN v_seq;
END
$$;

-- Has the lock state anything left that a decision would read?
CREATE FUNCTION vigil.lock_state_empty(s vigil.lock_state)
RETURNS boolean
LANGUAGE sql IMMUTABLE SECURITY DEFINER
SET search_path = vigil, pg_temp
RETURN cardinality(coalesce(s.failures, '{}')) = 0 AND s.locked_until IS NULL
       AND coalesce(s.lock_count, 0) = 0 AND coalesce(s.refused, 0) = 0
       AND cardinality(coalesce(s.src, '{}')) = 0 AND s.last_success IS NULL;

---------------------------------------------------------------------------
-- Migration: the import functions (superusers only)
---------------------------------------------------------------------------

-- Marks p_item imported for p_host (e.g. 'done' once a host's whole state
-- is in): true when newly recorded, false when it already was. The import
-- functions below record their own items.
CREATE FUNCTION vigil.import_done(p_host text, p_item text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = vigil, pg_temp
AS $$
BEGIN
  RETURN vigil.import_claim('vigil.import_done', p_host, p_item);
END
$$;

-- Merges one of p_host's buckets into vigil.bucket (item 'bucket:' || key).
-- p_key is the fleet's key ('acct:' || account, 'dev:' || account || E'\n'
-- || device, 'src:' || throttle key) and p_account its account (NULL for a
-- source). Both states are first expired at the database's now() as any
-- decision would (vigil.expire: an ended lock goes with its failures,
-- failures and sources older than the window go, a fully decayed lock count
-- is forgotten), then merged conservatively:
--   failures      the union, deduplicated, oldest first, within the window,
--                 the newest `deny` kept (for a source: within
--                 throttle_window, up to 100000, the largest threshold
--                 vigil.report() uses, since a throttle key's scale is not
--                 known here)
--   locked_until, lock_count, refused, last_failure: the maximum
--   src/src_at    the union, the newest time per source, the newest 32
--   last_success  the fleet's
-- Answers 'inserted' (the fleet had no such bucket), 'merged',
-- 'expired' (nothing of the host's bucket is left at now() and the fleet
-- has none: nothing written), 'already imported', or 'conflict: ...' when
-- both sides are locked with different ends (merged all the same: the
-- later end is kept).
CREATE FUNCTION vigil.import_bucket(p_host text, p_key text, p_account text,
                                    p_failures timestamptz[], p_locked_until timestamptz,
                                    p_lock_count int, p_refused bigint,
                                    p_last_failure timestamptz, p_src text[],
                                    p_src_at timestamptz[])
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = vigil, pg_temp
AS $$
DECLARE
  v_now timestamptz := date_trunc('second', now());
  v_pol vigil.policy%ROWTYPE;
  v_window interval;
  v_unlock interval;
  v_max_unlock interval;
  v_keep int;
  v_horizon timestamptz;
  v_imp vigil.lock_state;
  v_old vigil.lock_state;
  v_new vigil.lock_state;
  v_result text := 'merged';
BEGIN
  IF NOT vigil.import_claim('vigil.import_bucket', p_host, 'bucket:' || coalesce(p_key, '')) THEN
    RETURN 'already imported';
  END IF;
  IF starts_with(p_key, 'acct:') THEN
    IF coalesce(p_account, '') = '' OR p_key <> 'acct:' || p_account THEN
      RAISE EXCEPTION 'vigil.import_bucket: % is not the key of account %', p_key,
        coalesce(p_account, 'NULL') USING ERRCODE = '22023';
    END IF;
  ELSIF starts_with(p_key, 'dev:') THEN
    IF coalesce(p_account, '') = '' OR NOT starts_with(p_key, 'dev:' || p_account || E'\n')
       OR p_key = 'dev:' || p_account || E'\n' THEN
      RAISE EXCEPTION 'vigil.import_bucket: % is not a device key of account %', p_key,
        coalesce(p_account, 'NULL') USING ERRCODE = '22023';
    END IF;
  ELSIF starts_with(p_key, 'src:') THEN
    IF p_account IS NOT NULL OR p_key = 'src:' THEN
      RAISE EXCEPTION 'vigil.import_bucket: a source key (%) has no account', p_key
        USING ERRCODE = '22023';
    END IF;
  ELSE
    RAISE EXCEPTION 'vigil.import_bucket: % is no bucket key (acct:, dev:, src:)', p_key
      USING ERRCODE = '22023';
  END IF;
  IF cardinality(coalesce(p_src, '{}')) <> cardinality(coalesce(p_src_at, '{}')) THEN
    RAISE EXCEPTION 'vigil.import_bucket: one time per source' USING ERRCODE = '22023';
  END IF;

  SELECT * INTO v_pol FROM vigil.policy p WHERE p.id;
  IF starts_with(p_key, 'src:') THEN
    v_window := v_pol.throttle_window;
    v_unlock := v_pol.throttle_ban;
    v_max_unlock := v_pol.throttle_max_ban;
    v_keep := 100000;
  ELSE
    v_window := v_pol.fail_interval;
    v_unlock := v_pol.unlock_time;
    v_max_unlock := v_pol.max_unlock_time;
    v_keep := v_pol.deny;
  END IF;
  v_horizon := v_now - vigil.seconds(v_window) * interval '1 second';

  -- The host's state, in the fleet's form, at now().
  v_imp.failures := ARRAY(SELECT DISTINCT vigil.import_time(u.f, v_now, true)
                            FROM unnest(coalesce(p_failures, '{}')) AS u(f)
                           WHERE vigil.import_time(u.f, v_now, true) IS NOT NULL
                           ORDER BY 1);
  v_imp.locked_until := vigil.import_time(p_locked_until, v_now, false);
  v_imp.lock_count := greatest(coalesce(p_lock_count, 0), 0);
  v_imp.refused := greatest(coalesce(p_refused, 0), 0);
  v_imp.last_failure := vigil.import_time(p_last_failure, v_now, true);
  v_imp.last_success := NULL;
  SELECT coalesce(array_agg(x.sv ORDER BY x.av, x.sv), '{}'),
         coalesce(array_agg(x.av ORDER BY x.av, x.sv), '{}')
    INTO v_imp.src, v_imp.src_at
    FROM (SELECT u.sv, max(vigil.import_time(u.av, v_now, true)) AS av
            FROM unnest(coalesce(p_src, '{}'), coalesce(p_src_at, '{}')) AS u(sv, av)
           WHERE coalesce(u.sv, '') <> '' AND vigil.import_time(u.av, v_now, true) IS NOT NULL
           GROUP BY u.sv
           ORDER BY 2 DESC, 1 LIMIT 32) AS x;
  v_imp := vigil.expire(v_imp, v_window, v_unlock, v_max_unlock, v_now);
  v_imp.failures := ARRAY(SELECT y.f FROM (SELECT u.f FROM unnest(v_imp.failures) AS u(f)
                                            ORDER BY u.f DESC LIMIT v_keep) AS y
                           ORDER BY y.f);

  -- The fleet's row, locked; or a new one.
  SELECT b.failures, b.locked_until, b.lock_count, b.refused, b.last_failure, b.last_success,
         b.src, b.src_at
    INTO v_old
    FROM vigil.bucket b WHERE b.key = p_key FOR UPDATE;
  IF NOT FOUND THEN
    IF vigil.lock_state_empty(v_imp) THEN
      RETURN 'expired';
    END IF;
    INSERT INTO vigil.bucket AS b (key, account, failures, locked_until, lock_count, refused,
                                   last_failure, last_success, src, src_at, updated)
    VALUES (p_key, p_account, v_imp.failures, v_imp.locked_until, v_imp.lock_count,
            v_imp.refused, v_imp.last_failure, NULL, v_imp.src, v_imp.src_at, v_now)
    ON CONFLICT (key) DO NOTHING;
    IF FOUND THEN
      RETURN 'inserted';
    END IF;
    -- Made meanwhile by a report: merge into it.
    SELECT b.failures, b.locked_until, b.lock_count, b.refused, b.last_failure, b.last_success,
           b.src, b.src_at
      INTO v_old
      FROM vigil.bucket b WHERE b.key = p_key FOR UPDATE;
  END IF;
  v_old := vigil.expire(v_old, v_window, v_unlock, v_max_unlock, v_now);

  IF v_old.locked_until > v_now AND v_imp.locked_until > v_now
     AND v_old.locked_until <> v_imp.locked_until THEN
    v_result := format('conflict: %s is locked in the fleet until %s and on host %s until %s: '
                       'locked until the later', p_key, v_old.locked_until, p_host,
                       v_imp.locked_until);
  END IF;

  v_new.failures := ARRAY(SELECT y.f FROM (SELECT DISTINCT u.f
                                             FROM unnest(v_old.failures || v_imp.failures) AS u(f)
                                            WHERE u.f > v_horizon
                                            ORDER BY u.f DESC LIMIT v_keep) AS y
                           ORDER BY y.f);
  v_new.locked_until := greatest(v_old.locked_until, v_imp.locked_until);
  v_new.lock_count := greatest(v_old.lock_count, v_imp.lock_count);
  v_new.refused := greatest(v_old.refused, v_imp.refused);
  v_new.last_failure := greatest(v_old.last_failure, v_imp.last_failure);
  v_new.last_success := v_old.last_success;
  SELECT coalesce(array_agg(x.sv ORDER BY x.av, x.sv), '{}'),
         coalesce(array_agg(x.av ORDER BY x.av, x.sv), '{}')
    INTO v_new.src, v_new.src_at
    FROM (SELECT u.sv, max(u.av) AS av
            FROM unnest(v_old.src || v_imp.src, v_old.src_at || v_imp.src_at) AS u(sv, av)
           GROUP BY u.sv
           ORDER BY 2 DESC, 1 LIMIT 32) AS x;
  PERFORM vigil.put_bucket(p_key, v_new, v_now);
  RETURN v_result;
END
$$;

-- Imports one of p_host's blocks (item 'block:' || account). The earliest
-- block wins:
--   none in the fleet   the block is made (host = p_host, by = p_by) and a
--                       'block' event emitted (host = p_host, actor = p_by):
--                       'inserted'
--   one since earlier or at the same time: 'kept'
--   one since later     it takes p_since and p_reason (the host's details
--                       added under 'imported'): 'conflict: ...'
-- Imported blocks do not count in the host's cap on blocks. p_since later
-- than now() is taken as now().
CREATE FUNCTION vigil.import_block(p_host text, p_account text, p_reason text,
                                   p_since timestamptz, p_by text, p_details jsonb)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = vigil, pg_temp
AS $$
DECLARE
  v_now timestamptz := date_trunc('second', now());
  v_since timestamptz;
  v_by text := coalesce(nullif(p_by, ''), 'vigild');
  v_reason text := coalesce(nullif(p_reason, ''), 'blocked on ' || p_host);
  v_details jsonb;
  v_block vigil.block%ROWTYPE;
BEGIN
  IF NOT vigil.import_claim('vigil.import_block', p_host, 'block:' || coalesce(p_account, '')) THEN
    RETURN 'already imported';
  END IF;
  IF coalesce(p_account, '') = '' THEN
    RAISE EXCEPTION 'vigil.import_block: an account name is needed' USING ERRCODE = '22023';
  END IF;
  v_since := coalesce(vigil.import_time(p_since, v_now, true), v_now);
  IF p_details IS NOT NULL AND jsonb_typeof(p_details) <> 'object' THEN
    RAISE EXCEPTION 'vigil.import_block: the details must be a JSON object' USING ERRCODE = '22023';
  END IF;
  v_details := coalesce(p_details, '{}') || jsonb_build_object('imported_from', p_host);
  PERFORM set_config('synchronous_commit', 'on', true);

  SELECT * INTO v_block FROM vigil.block k WHERE k.account = p_account FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO vigil.block AS k (account, reason, since, by, host, details)
    VALUES (p_account, v_reason, v_since, v_by, p_host, v_details)
    ON CONFLICT (account) DO NOTHING;
    IF FOUND THEN
      PERFORM vigil.emit_for(p_host, 'block', p_account, v_by,
                             v_details || jsonb_build_object('reason', v_reason, 'by', v_by,
                                                             'since', v_since));
      RETURN 'inserted';
    END IF;
    SELECT * INTO v_block FROM vigil.block k WHERE k.account = p_account FOR UPDATE;
  END IF;
  IF v_block.since <= v_since THEN
    RETURN 'kept';
  END IF;
  UPDATE vigil.block AS k
     SET since = v_since, reason = v_reason,
         details = k.details || jsonb_build_object('imported', v_details || jsonb_build_object(
                     'by', v_by, 'since', v_since, 'reason', v_reason,
                     'replaced_since', v_block.since, 'replaced_reason', v_block.reason))
   WHERE k.account = p_account;
  RETURN format('conflict: %s is blocked in the fleet since %s (%s) and was on host %s since %s '
                '(%s): the earlier is kept', p_account, v_block.since, v_block.reason, p_host,
                v_since, v_reason);
END
$$;

-- Imports one of p_host's known devices (item 'device:' || account || ':'
-- || device) into p_trust_group (NULL: the host's): the union, with the
-- earliest first_seen and the latest last_seen (no later than now()).
-- 'inserted' or 'merged'.
CREATE FUNCTION vigil.import_device(p_host text, p_account text, p_trust_group text,
                                    p_device text, p_first_seen timestamptz,
                                    p_last_seen timestamptz)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = vigil, pg_temp
AS $$
DECLARE
  v_now timestamptz := date_trunc('second', now());
  v_group text;
  v_first timestamptz;
  v_last timestamptz;
BEGIN
  IF NOT vigil.import_claim('vigil.import_device', p_host,
                            'device:' || coalesce(p_account, '') || ':' || coalesce(p_device, '')) THEN
    RETURN 'already imported';
  END IF;
  IF coalesce(p_account, '') = '' OR coalesce(p_device, '') = '' THEN
    RAISE EXCEPTION 'vigil.import_device: the account and the device are needed'
      USING ERRCODE = '22023';
  END IF;
  v_group := coalesce(nullif(p_trust_group, ''),
                      (SELECT h.trust_group FROM vigil.host h WHERE h.name = p_host));
  v_last := coalesce(vigil.import_time(p_last_seen, v_now, true),
                     vigil.import_time(p_first_seen, v_now, true), v_now);
  v_first := least(coalesce(vigil.import_time(p_first_seen, v_now, true), v_last), v_last);

  PERFORM 1 FROM vigil.device v
   WHERE v.account = p_account AND v.trust_group = v_group AND v.device = p_device FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO vigil.device AS v (account, trust_group, device, first_seen, last_seen)
    VALUES (p_account, v_group, p_device, v_first, v_last)
    ON CONFLICT (account, trust_group, device) DO NOTHING;
    IF FOUND THEN
      RETURN 'inserted';
    END IF;
  END IF;
  UPDATE vigil.device AS v
     SET first_seen = least(v.first_seen, v_first), last_seen = greatest(v.last_seen, v_last)
   WHERE v.account = p_account AND v.trust_group = v_group AND v.device = p_device;
  RETURN 'merged';
END
$$;

-- Imports one of p_host's second factors (item 'totp:' || account): the
-- secret, in base32 as the host unsealed it (pass it as a parameter over
-- TLS or the local socket, never in a logged statement), is sealed under
-- the fleet's key. An account with an active fleet factor keeps it:
-- 'conflict: ...' (the host's was not imported; the user keeps using the
-- fleet's). Otherwise the host's becomes the active factor, with last_step
-- the later of the fleet's and the host's (a code used on the host stays
-- used), and a pending fleet enrolment stays pending: 'inserted' (no fleet
-- row) or 'merged'. Recovery codes are not migrated (see the top of this
-- file): the users make new ones.
CREATE FUNCTION vigil.import_totp(p_host text, p_account text, p_secret_base32 text,
                                  p_last_step bigint)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = vigil, pg_temp
AS $$
DECLARE
  v_secret bytea;
  v_new boolean;
  v_t vigil.totp%ROWTYPE;
BEGIN
  IF NOT vigil.import_claim('vigil.import_totp', p_host, 'totp:' || coalesce(p_account, '')) THEN
    RETURN 'already imported';
  END IF;
  IF coalesce(p_account, '') = '' THEN
    RAISE EXCEPTION 'vigil.import_totp: an account name is needed' USING ERRCODE = '22023';
  END IF;
  v_secret := vigil.base32_decode(coalesce(p_secret_base32, ''));
  IF length(v_secret) NOT BETWEEN 16 AND 64 THEN
    RAISE EXCEPTION 'vigil.import_totp: a secret of % bytes (16 to 64 expected)', length(v_secret)
      USING ERRCODE = '22023';
  END IF;
  PERFORM set_config('synchronous_commit', 'on', true);

  INSERT INTO vigil.totp AS t (account) VALUES (p_account) ON CONFLICT (account) DO NOTHING;
  v_new := FOUND;
  SELECT * INTO v_t FROM vigil.totp t WHERE t.account = p_account FOR UPDATE;
  IF v_t.secret IS NOT NULL THEN
    RETURN format('conflict: the fleet already has a factor for %s; the host''s was not imported',
                  p_account);
  END IF;
  UPDATE vigil.totp AS t
     SET secret = vigil.seal(v_secret), last_step = greatest(t.last_step, coalesce(p_last_step, 0)),
         confirmed_at = now()
   WHERE t.account = p_account;
  RETURN CASE WHEN v_new THEN 'inserted' ELSE 'merged' END;
END
$$;

RESET ROLE;

---------------------------------------------------------------------------
-- Privileges
---------------------------------------------------------------------------
-- Nothing for PUBLIC. A host may quarantine (for an administrator whose
-- code is checked here), read a factor's status, and read what was
-- migrated; never import.

REVOKE ALL ON ALL TABLES IN SCHEMA vigil FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA vigil FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA vigil FROM PUBLIC;

GRANT SELECT ON vigil.migration TO vigil_host;
GRANT EXECUTE ON FUNCTION
  vigil.quarantine(text, text, text, boolean, text),
  vigil.factor(text)
  TO vigil_host;

-- Everything of the schema belongs to vigil_owner: in particular no
-- SECURITY DEFINER function runs as the superuser who ran this file. The
-- secrets stay out of a host's reach, and so does the migration.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = 'vigil'::regnamespace
                AND c.relowner <> 'vigil_owner'::regrole)
     OR EXISTS (SELECT 1 FROM pg_proc p WHERE p.pronamespace = 'vigil'::regnamespace
                   AND p.proowner <> 'vigil_owner'::regrole)
     OR EXISTS (SELECT 1 FROM pg_type t WHERE t.typnamespace = 'vigil'::regnamespace
                   AND t.typowner <> 'vigil_owner'::regrole)
     OR (SELECT n.nspowner FROM pg_namespace n WHERE n.nspname = 'vigil_crypto')
        <> 'vigil_owner'::regrole THEN
    RAISE EXCEPTION 'vigil schema v3: an object is not owned by vigil_owner';
  END IF;
  IF has_schema_privilege('vigil_host', 'vigil_crypto', 'USAGE')
     OR has_table_privilege('vigil_host', 'vigil.seal_key', 'SELECT')
     OR has_table_privilege('vigil_host', 'vigil.totp', 'SELECT')
     OR has_table_privilege('vigil_host', 'vigil.recovery_code', 'SELECT')
     OR has_table_privilege('vigil_host', 'vigil.migration', 'INSERT, UPDATE, DELETE, TRUNCATE')
     OR has_function_privilege('vigil_host', 'vigil.check_code(text, text)', 'EXECUTE')
     OR has_function_privilege('vigil_host', 'vigil.unseal(bytea)', 'EXECUTE')
     OR EXISTS (SELECT 1 FROM pg_proc p WHERE p.pronamespace = 'vigil'::regnamespace
                   AND (p.proname LIKE 'import\_%' OR p.proname IN ('base32_decode', 'emit_for'))
                   AND has_function_privilege('vigil_host', p.oid, 'EXECUTE')) THEN
    RAISE EXCEPTION 'vigil schema v3: vigil_host may reach a secret or the migration';
  END IF;
END
$$;
