-- vigil fleet schema, version 1 (FLEET.md).
--
-- Run once per database by a superuser, in one transaction:
--   psql -v ON_ERROR_STOP=1 --single-transaction -f 001_base.sql
-- The first statement creates the schema, so running this file again fails
-- at once ("schema vigil already exists") and, being one transaction,
-- changes nothing: that failure is how a runner detects that version 1 is
-- in place. vigil.schema_version says which version a database has; the
-- next migration is 002_*.sql.
--
-- What this version guarantees:
--  * One password report is one call, vigil.report(), in the caller's
--    transaction. It decides with the same policy as the C++ decide()
--    (daemon/core/policy.cc), ported as vigil.decide(), on rows locked in a
--    fixed order (account, known device, sources), so that `deny` failures
--    are counted exactly however many hosts report them at once.
--  * Policy settings live in vigil.policy, one row, so a host cannot loosen
--    them: it passes outcomes, never parameters.
--  * Windows and locks use the database's clock (now(), whole seconds).
--  * Hosts (roles in vigil_host) can only EXECUTE vigil.report(),
--    vigil.decide() and vigil.distinct_sources(), and SELECT the tables that
--    are replicated to them and hold no secret. Everything is owned by
--    vigil_owner, which cannot log in.

CREATE SCHEMA vigil;

-- Roles are cluster-wide: another database of the same cluster may have
-- created them already.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vigil_owner') THEN
    CREATE ROLE vigil_owner NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vigil_host') THEN
    CREATE ROLE vigil_host NOLOGIN;
  END IF;
END
$$;

ALTER SCHEMA vigil OWNER TO vigil_owner;
REVOKE ALL ON SCHEMA vigil FROM PUBLIC;
GRANT USAGE ON SCHEMA vigil TO vigil_host;

-- The database: hosts connect, nobody else needs to (superusers always
-- can), and no host needs temporary tables.
DO $$
BEGIN
  EXECUTE format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO vigil_host', current_database());
END
$$;

-- PostgreSQL grants EXECUTE on new functions and USAGE on new types to
-- PUBLIC. Not for anything vigil_owner creates, here or in later
-- migrations (explicit REVOKEs at the end of this file as well).
ALTER DEFAULT PRIVILEGES FOR ROLE vigil_owner REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
ALTER DEFAULT PRIVILEGES FOR ROLE vigil_owner REVOKE USAGE ON TYPES FROM PUBLIC;

-- Everything below is created by, and so owned by, vigil_owner (checked
-- at the end).
SET ROLE vigil_owner;

---------------------------------------------------------------------------
-- Tables
---------------------------------------------------------------------------

-- The schema's version: one row. A migration N checks it is N-1 and sets N.
CREATE TABLE vigil.schema_version (version int NOT NULL);
CREATE UNIQUE INDEX schema_version_one_row ON vigil.schema_version ((true));
INSERT INTO vigil.schema_version VALUES (1);

-- The fleet's policy: one row (id is always true). Defaults and ranges are
-- those of the C++ configuration (daemon/core/config.h, config.cc), with
-- throttle_* as [throttle] deny/window/ban_time/max_ban_time.
-- max_auto_blocks_per_host caps the blocks a host's reports may make on
-- their own (credential stuffing): past it, a compromised host cannot block
-- the fleet's accounts one by one.
CREATE TABLE vigil.policy (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  deny int NOT NULL DEFAULT 3 CHECK (deny BETWEEN 1 AND 1000),
  fail_interval interval NOT NULL DEFAULT '12 hours'
    CHECK (fail_interval BETWEEN '1 second' AND '366 days'),
  unlock_time interval NOT NULL DEFAULT '1 hour'
    CHECK (unlock_time BETWEEN '1 second' AND '366 days'),
  max_unlock_time interval NOT NULL DEFAULT '24 hours'
    CHECK (max_unlock_time BETWEEN '1 second' AND '366 days'),
  throttle_deny int NOT NULL DEFAULT 20 CHECK (throttle_deny BETWEEN 0 AND 100000),
  throttle_window interval NOT NULL DEFAULT '10 minutes'
    CHECK (throttle_window BETWEEN '1 second' AND '366 days'),
  throttle_ban interval NOT NULL DEFAULT '10 minutes'
    CHECK (throttle_ban BETWEEN '1 second' AND '366 days'),
  throttle_max_ban interval NOT NULL DEFAULT '24 hours'
    CHECK (throttle_max_ban BETWEEN '1 second' AND '366 days'),
  attack_sources int NOT NULL DEFAULT 3 CHECK (attack_sources BETWEEN 1 AND 100),
  trust_days int NOT NULL DEFAULT 30 CHECK (trust_days BETWEEN 1 AND 3650),
  max_auto_blocks_per_host int NOT NULL DEFAULT 10 CHECK (max_auto_blocks_per_host >= 0),
  CHECK (max_unlock_time >= unlock_time),
  CHECK (throttle_max_ban >= throttle_ban)
);
INSERT INTO vigil.policy DEFAULT VALUES;

-- The hosts of the fleet, one per LOGIN role (vigil.add_host). A report is
-- taken only from a host here that is not quarantined. Known devices are
-- shared within a trust_group. auto_blocks counts the blocks its reports
-- made (capped by policy.max_auto_blocks_per_host); applied_seq and
-- last_seen are the host's heartbeat (its event cursor).
CREATE TABLE vigil.host (
  name text PRIMARY KEY,
  trust_group text NOT NULL DEFAULT 'default',
  quarantined boolean NOT NULL DEFAULT false,
  applied_seq bigint NOT NULL DEFAULT 0,
  last_seen timestamptz,
  auto_blocks int NOT NULL DEFAULT 0
);

-- One lock state (C++ LockState) per key:
--   'acct:' || account                      the account's unknown-device bucket
--   'dev:'  || account || E'\n' || device   one known device's bucket
--   'src:'  || throttle key                 a source's throttle bucket
-- failures: oldest first, at most the deny in force. src/src_at: parallel
-- arrays, the newest failure time of each source (at most 32). A NULL time
-- is C++'s epoch 0, "not set". Rows are only written by vigil.report(),
-- which locks them first.
CREATE TABLE vigil.bucket (
  key text PRIMARY KEY,
  account text,
  failures timestamptz[] NOT NULL DEFAULT '{}',
  locked_until timestamptz,
  lock_count int NOT NULL DEFAULT 0,
  refused bigint NOT NULL DEFAULT 0,
  last_failure timestamptz,
  last_success timestamptz,
  src text[] NOT NULL DEFAULT '{}',
  src_at timestamptz[] NOT NULL DEFAULT '{}',
  updated timestamptz NOT NULL DEFAULT now(),
  CHECK (cardinality(src) = cardinality(src_at))
);

-- Known devices: a device from which a root-reported login of the account
-- succeeded, known on every host of the same trust_group for
-- policy.trust_days after its last use.
CREATE TABLE vigil.device (
  account text,
  trust_group text,
  device text,
  first_seen timestamptz,
  last_seen timestamptz,
  PRIMARY KEY (account, trust_group, device)
);

-- Blocked accounts: every host refuses them (the console excepted) until an
-- administrator unblocks. `host` is the host whose report made the block.
CREATE TABLE vigil.block (
  account text PRIMARY KEY,
  reason text NOT NULL,
  since timestamptz NOT NULL,
  by text NOT NULL,
  host text NOT NULL,
  details jsonb NOT NULL DEFAULT '{}'
);

-- Counted failures, for history and audit (the decision does not read it).
CREATE TABLE vigil.failure (
  id bigserial PRIMARY KEY,
  account text NOT NULL,
  at timestamptz NOT NULL,
  host text NOT NULL,
  bucket text NOT NULL,
  source text NOT NULL,
  service text NOT NULL
);
CREATE INDEX failure_account_at ON vigil.failure (account, at);

-- The event log of changes that protect (blocks; later unblocks,
-- revocations, freezes). vigil.seq is one row whose update orders them:
-- events commit in seq order per row lock, so a host that has applied
-- every seq up to N has missed none below N. seq, not time, is the cursor.
CREATE TABLE vigil.seq (n bigint NOT NULL);
CREATE UNIQUE INDEX seq_one_row ON vigil.seq ((true));
INSERT INTO vigil.seq VALUES (0);

CREATE TABLE vigil.event (
  seq bigint PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  kind text NOT NULL,
  account text,
  host text,
  actor text,
  details jsonb NOT NULL DEFAULT '{}'
);

---------------------------------------------------------------------------
-- The policy (an exact port of daemon/core/policy.cc)
---------------------------------------------------------------------------
--
-- C++ time points are whole seconds; here timestamptz, with NULL for C++'s
-- epoch 0 ("not set"). Durations are converted to whole seconds and added
-- as seconds, never as calendar days (no DST shift).

CREATE TYPE vigil.lock_state AS (
  failures timestamptz[],
  locked_until timestamptz,
  lock_count int,
  refused bigint,
  last_failure timestamptz,
  last_success timestamptz,
  src text[],
  src_at timestamptz[]
);

-- C++ Decision, less must_commit and changed (the caller compares states).
CREATE TYPE vigil.decision AS (
  state vigil.lock_state,
  allow boolean,
  refused_locked boolean,
  counted boolean,
  locked_now boolean,
  unlocked boolean,
  reset boolean,
  lock_for_s bigint
);

-- Whole seconds of an interval (a month counts 30 days).
CREATE FUNCTION vigil.seconds(i interval) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT
RETURN floor(extract(epoch FROM i))::bigint;

-- C++ lock_duration(): unlock_time doubled once per earlier lock, up to
-- max_unlock_time (in seconds).
CREATE FUNCTION vigil.lock_duration_s(previous_locks int, unlock_s bigint, max_s bigint)
RETURNS bigint
LANGUAGE plpgsql IMMUTABLE STRICT
AS $$
DECLARE
  d bigint := unlock_s;
BEGIN
  FOR i IN 1..greatest(previous_locks, 0) LOOP
    EXIT WHEN d >= max_s OR d <= 0;
    d := d * 2;
  END LOOP;
  RETURN least(d, max_s);
END
$$;

-- C++ decayed_lock_count(): lock_count less one per whole max_unlock_time
-- between the end of the last lock (last_failure plus that lock's length)
-- and `now`; never below 0; unchanged while locked.
CREATE FUNCTION vigil.decayed_lock_count(s vigil.lock_state, unlock_time interval,
                                         max_unlock_time interval, now timestamptz)
RETURNS int
LANGUAGE plpgsql IMMUTABLE
SET search_path = vigil, pg_temp
AS $$
DECLARE
  lc int := coalesce(s.lock_count, 0);
  max_s bigint := vigil.seconds(max_unlock_time);
  quiet_from timestamptz;
  steps numeric;
BEGIN
  IF lc <= 0 OR coalesce(s.locked_until, 'epoch') > now THEN
    RETURN lc;
  END IF;
  quiet_from := coalesce(s.last_failure, 'epoch')
                + vigil.lock_duration_s(lc - 1, vigil.seconds(unlock_time), max_s)
                  * interval '1 second';
  IF now < quiet_from OR max_s <= 0 THEN
    RETURN lc;
  END IF;
  steps := floor((extract(epoch FROM now) - extract(epoch FROM quiet_from)) / max_s);
  RETURN CASE WHEN steps >= lc THEN 0 ELSE lc - steps::int END;
END
$$;

-- C++ expire(): lifts an expired lock (clearing its failures), drops the
-- failures and sources older than fail_interval, and forgets the doubling
-- (with the refused tally) only once all of it has decayed, or the refused
-- tally alone max_unlock_time after the last failure. Calling it twice
-- never forgets the same quiet time twice. Also turns NULL arrays and
-- counts into empty ones and zeros; the arrays come back 1-based.
CREATE FUNCTION vigil.expire(s vigil.lock_state, fail_interval interval, unlock_time interval,
                             max_unlock_time interval, now timestamptz)
RETURNS vigil.lock_state
LANGUAGE plpgsql IMMUTABLE
SET search_path = vigil, pg_temp
AS $$
DECLARE
  horizon timestamptz := now - vigil.seconds(fail_interval) * interval '1 second';
  n_old int := 0;
  f timestamptz;
BEGIN
  s.failures := coalesce(s.failures, '{}');
  s.lock_count := coalesce(s.lock_count, 0);
  s.refused := coalesce(s.refused, 0);
  s.src := coalesce(s.src, '{}');
  s.src_at := coalesce(s.src_at, '{}');

  IF coalesce(s.locked_until, 'epoch') <> 'epoch' AND s.locked_until <= now THEN
    s.locked_until := NULL;
    s.failures := '{}';
  END IF;

  -- The leading failures at or before the horizon (oldest first, as C++
  -- find_if + erase).
  FOREACH f IN ARRAY s.failures LOOP
    EXIT WHEN f > horizon;
    n_old := n_old + 1;
  END LOOP;
  s.failures := ARRAY(SELECT u.ft FROM unnest(s.failures) WITH ORDINALITY AS u(ft, ord)
                      WHERE u.ord > n_old ORDER BY u.ord);

  SELECT coalesce(array_agg(u.sv ORDER BY u.ord), '{}'),
         coalesce(array_agg(u.av ORDER BY u.ord), '{}')
    INTO s.src, s.src_at
    FROM unnest(s.src, s.src_at) WITH ORDINALITY AS u(sv, av, ord)
   WHERE u.av > horizon AND u.sv IS NOT NULL;

  IF NOT coalesce(s.locked_until, 'epoch') > now THEN
    IF s.lock_count <> 0
       AND vigil.decayed_lock_count(s, unlock_time, max_unlock_time, now) = 0 THEN
      s.lock_count := 0;
      s.refused := 0;
    ELSIF s.lock_count = 0 AND s.refused <> 0
          AND coalesce(s.last_failure, 'epoch')
              + vigil.seconds(max_unlock_time) * interval '1 second' <= now THEN
      s.refused := 0;
    END IF;
  END IF;
  RETURN s;
END
$$;

-- C++ distinct_sources(): the sources that failed within fail_interval
-- before `now`, other than except_source. Calls no helper, so that hosts
-- may run it with their own rights.
CREATE FUNCTION vigil.distinct_sources(s vigil.lock_state, fail_interval interval,
                                       now timestamptz, except_source text DEFAULT '')
RETURNS int
LANGUAGE sql IMMUTABLE
SET search_path = vigil, pg_temp
RETURN (SELECT count(*)::int
          FROM unnest(coalesce(s.src, '{}'), coalesce(s.src_at, '{}')) AS u(sv, av)
         WHERE u.av > now - floor(extract(epoch FROM fail_interval)) * interval '1 second'
           AND u.sv IS DISTINCT FROM coalesce(except_source, ''));

-- C++ decide(): one attempt on one bucket's state; returns the new state
-- inside the decision. Pure: `now` and the settings are arguments, so the
-- policy case table (tests/policy/cases.json) drives it with any clock.
--   outcome      'failure' | 'success' | 'password_ok' (the password was
--                right and a second factor must follow: allowed, resets
--                nothing)
--   root_caller  the reporter is root: only its success resets
--   exempt       counted but never locked or refused
--   source       a failure's source to remember ('' = none)
-- SECURITY DEFINER only so that hosts may call it without being granted
-- the internal helpers above; it reads and writes nothing.
CREATE FUNCTION vigil.decide(s vigil.lock_state, outcome text, root_caller boolean,
                             exempt boolean, now timestamptz, source text, deny int,
                             fail_interval interval, unlock_time interval,
                             max_unlock_time interval)
RETURNS vigil.decision
LANGUAGE plpgsql IMMUTABLE SECURITY DEFINER
SET search_path = vigil, pg_temp
AS $$
DECLARE
  d vigil.decision;
  locked boolean;
  lc int;
  n int;
  i int;
BEGIN
  IF outcome IS NULL OR outcome NOT IN ('failure', 'success', 'password_ok') THEN
    RAISE EXCEPTION 'vigil.decide: outcome must be failure, success or password_ok, not %',
      coalesce(outcome, 'NULL') USING ERRCODE = '22023';
  END IF;
  IF now IS NULL OR deny IS NULL OR deny < 1 OR fail_interval IS NULL
     OR unlock_time IS NULL OR max_unlock_time IS NULL THEN
    RAISE EXCEPTION 'vigil.decide: now and the settings must be given, deny at least 1'
      USING ERRCODE = '22023';
  END IF;
  root_caller := coalesce(root_caller, false);
  exempt := coalesce(exempt, false);

  d.allow := false;
  d.refused_locked := false;
  d.counted := false;
  d.locked_now := false;
  d.reset := false;
  d.lock_for_s := 0;

  d.unlocked := coalesce(s.locked_until, 'epoch') <> 'epoch' AND s.locked_until <= now;
  s := vigil.expire(s, fail_interval, unlock_time, max_unlock_time, now);

  -- Failures from unknown sources are evidence, counted or refused.
  IF coalesce(source, '') <> '' AND outcome = 'failure' THEN
    i := array_position(s.src, source);
    IF i IS NOT NULL THEN
      s.src_at[i] := now;
    ELSE
      IF cardinality(s.src) >= 32 THEN
        s.src := s.src[2:];
        s.src_at := s.src_at[2:];
      END IF;
      s.src := s.src || source;
      s.src_at := s.src_at || now;
    END IF;
  END IF;

  locked := coalesce(s.locked_until, 'epoch') > now;
  IF locked AND NOT exempt THEN
    d.refused_locked := true;
    s.refused := s.refused + 1;
    s.last_failure := now;  -- activity during a lock keeps the doubling alive
  ELSIF outcome = 'failure' THEN
    d.counted := true;
    -- fold_decay(): take the decay in now that last_failure moves to now.
    lc := vigil.decayed_lock_count(s, unlock_time, max_unlock_time, now);
    IF lc <> s.lock_count THEN
      s.lock_count := lc;
      IF lc = 0 THEN
        s.refused := 0;
      END IF;
    END IF;
    s.failures := s.failures || now;
    s.last_failure := now;
    -- Keep at most `deny` failures: older ones can no longer matter.
    n := cardinality(s.failures);
    IF n > deny THEN
      s.failures := s.failures[n - deny + 1 : n];
    END IF;
    IF NOT exempt AND NOT locked AND cardinality(s.failures) >= deny THEN
      d.lock_for_s := vigil.lock_duration_s(s.lock_count, vigil.seconds(unlock_time),
                                            vigil.seconds(max_unlock_time));
      s.locked_until := now + d.lock_for_s * interval '1 second';
      s.lock_count := s.lock_count + 1;
      d.locked_now := true;
    END IF;
  ELSIF outcome = 'password_ok' THEN
    d.allow := true;
  ELSE
    d.allow := true;
    IF root_caller THEN
      s.last_success := now;
      d.reset := cardinality(s.failures) > 0 OR s.lock_count <> 0
                 OR coalesce(s.locked_until, 'epoch') <> 'epoch' OR s.refused <> 0;
      s.failures := '{}';
      s.lock_count := 0;
      s.locked_until := NULL;
      s.refused := 0;
      s.src := '{}';
      s.src_at := '{}';
    END IF;
  END IF;
  d.state := s;
  RETURN d;
END
$$;

---------------------------------------------------------------------------
-- Events
---------------------------------------------------------------------------

-- Appends one event in the caller's transaction: takes the next seq (the
-- row lock on vigil.seq orders concurrent emitters), records the event
-- with host = session_user (the host role, also inside SECURITY DEFINER
-- functions), and notifies 'vigil_events' with the seq on commit. Internal:
-- called by the functions that make the change, never by a host.
CREATE FUNCTION vigil.emit(p_kind text, p_account text, p_actor text, p_details jsonb)
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
  RETURN v_seq;
END
$$;

---------------------------------------------------------------------------
-- Hosts
---------------------------------------------------------------------------

-- Makes p_name a host of the fleet: creates its LOGIN role in vigil_host
-- if missing (an existing role is added to vigil_host), and its vigil.host
-- row (an existing row gets the new trust group and keeps its quarantine).
-- Runs with the caller's rights: superusers only.
CREATE FUNCTION vigil.add_host(p_name text, p_trust_group text DEFAULT 'default')
RETURNS void
LANGUAGE plpgsql
SET search_path = vigil, pg_temp
AS $$
DECLARE
  v_role pg_roles%ROWTYPE;
BEGIN
  IF NOT coalesce((SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user), false) THEN
    RAISE EXCEPTION 'vigil.add_host: superusers only' USING ERRCODE = '42501';
  END IF;
  IF coalesce(p_name, '') = '' OR p_name IN ('vigil_owner', 'vigil_host') OR p_name LIKE 'pg\_%'
     OR coalesce(p_trust_group, '') = '' THEN
    RAISE EXCEPTION 'vigil.add_host: invalid host name or trust group' USING ERRCODE = '22023';
  END IF;
  SELECT * INTO v_role FROM pg_roles r WHERE r.rolname = p_name;
  IF NOT FOUND THEN
    EXECUTE format('CREATE ROLE %I LOGIN IN ROLE vigil_host', p_name);
  ELSIF v_role.rolsuper THEN
    RAISE EXCEPTION 'vigil.add_host: % is a superuser: a host role must not be', p_name
      USING ERRCODE = '22023';
  ELSIF NOT pg_has_role(p_name, 'vigil_host', 'MEMBER') THEN
    EXECUTE format('GRANT vigil_host TO %I', p_name);
  END IF;
  INSERT INTO vigil.host AS h (name, trust_group) VALUES (p_name, p_trust_group)
  ON CONFLICT (name) DO UPDATE SET trust_group = EXCLUDED.trust_group;
END
$$;

---------------------------------------------------------------------------
-- The password report
---------------------------------------------------------------------------

-- Internal: creates the bucket `p_key` or locks it (FOR UPDATE) in one
-- statement, and returns its state. A no-op update is what locks an
-- existing row; two hosts never both miss it and insert (a separate
-- SELECT then INSERT would lose one of two concurrent first failures).
CREATE FUNCTION vigil.lock_bucket(p_key text, p_account text)
RETURNS vigil.lock_state
LANGUAGE plpgsql
SET search_path = vigil, pg_temp
AS $$
DECLARE
  s vigil.lock_state;
BEGIN
  INSERT INTO vigil.bucket AS b (key, account) VALUES (p_key, p_account)
  ON CONFLICT (key) DO UPDATE SET key = EXCLUDED.key
  RETURNING b.failures, b.locked_until, b.lock_count, b.refused, b.last_failure,
            b.last_success, b.src, b.src_at
  INTO s;
  RETURN s;
END
$$;

-- Internal: writes a locked bucket's state back.
CREATE FUNCTION vigil.put_bucket(p_key text, s vigil.lock_state, p_now timestamptz)
RETURNS void
LANGUAGE sql
SET search_path = vigil, pg_temp
BEGIN ATOMIC
  UPDATE vigil.bucket AS b
     SET failures = coalesce(s.failures, '{}'), locked_until = s.locked_until,
         lock_count = coalesce(s.lock_count, 0), refused = coalesce(s.refused, 0),
         last_failure = s.last_failure, last_success = s.last_success,
         src = coalesce(s.src, '{}'), src_at = coalesce(s.src_at, '{}'), updated = p_now
   WHERE b.key = p_key;
END;

-- One password report from a host (session_user), in the caller's
-- transaction: the fleet's version of the engine's stages
-- (daemon/engine/engine_report.cc), with the fleet policy.
--   p_account        the account's name; NULL for a name that resolves to
--                    no account on the host (the name itself is never sent:
--                    it may be a password); then only the source counts
--   p_outcome        'failure' | 'success' | 'password_ok'
--   p_source         the normalised source ('' = none)
--   p_device         the device ('' = none)
--   p_throttle_keys  the source's throttle keys (device::throttle_keys), and
--   p_throttle_scales  the factor of each one's threshold
--   p_exempt, p_root_caller, p_console, p_needs_code: as the engine's
--   p_service        the PAM service, for the failure record
-- Returns one row:
--   verdict   'allow' | 'verify' (right password, a code must follow) | 'deny'
--   reason    'ok' | 'counted' | 'locked' | 'blocked' | 'throttled' |
--             'blocked_now' | 'auto_block_cap' | 'no_account'
--   known     the device is a known one (decided in its own bucket)
--   locked_until_epoch, lock_count: the decided bucket's state after the
--             call (NULL when p_account is NULL, or locked_until not set)
--   counted, locked_now: this failure was counted / started a lock
--   blocked_now: this report blocked the account (credential stuffing)
-- Every answer but 'allow' commits with synchronous_commit = on, whatever
-- the session set (SET LOCAL, to the end of the caller's transaction): a
-- failure, a refusal or a block is never lost to an asynchronous commit.
-- Only a success may commit as the session chose.
-- Rows are locked in a fixed order (account, known device, sources in
-- array order, then the host row for a block), so concurrent reports
-- serialise per bucket and, with throttle keys in device::throttle_keys
-- order (narrowest prefix first), cannot deadlock one another. A refusal
-- also takes the row lock and writes, as the engine does: the refused
-- tally and the doubling's keep-alive are part of the state.
CREATE FUNCTION vigil.report(p_account text, p_outcome text, p_source text, p_device text,
                             p_throttle_keys text[], p_throttle_scales int[],
                             p_exempt boolean, p_root_caller boolean, p_console boolean,
                             p_needs_code boolean, p_service text)
RETURNS TABLE (verdict text, reason text, known boolean, locked_until_epoch bigint,
               lock_count int, counted boolean, locked_now boolean, blocked_now boolean)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = vigil, pg_temp
AS $$
DECLARE
  v_now timestamptz := date_trunc('second', now());
  v_host vigil.host%ROWTYPE;
  v_pol vigil.policy%ROWTYPE;
  v_acct_key text;
  v_acct vigil.lock_state;        -- the account's own bucket
  v_key text;                     -- the bucket decided in (account or known device)
  v_state vigil.lock_state;
  v_state0 vigil.lock_state;
  v_src_keys text[] := '{}';
  v_src_deny int[] := '{}';
  v_src vigil.lock_state[] := '{}';
  v_src0 vigil.lock_state[] := '{}';
  v_st vigil.lock_state;
  v_banned int;
  v_d vigil.decision;
  v_n int;
  v_auto int;
  v_reason text;
  v_details jsonb;
BEGIN
  verdict := 'deny';
  known := false;
  counted := false;
  locked_now := false;
  blocked_now := false;

  SELECT * INTO v_host FROM vigil.host h WHERE h.name = session_user;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'vigil.report: % is not a host of the fleet', session_user
      USING ERRCODE = '42501', HINT = 'An administrator adds hosts with vigil.add_host().';
  END IF;
  IF v_host.quarantined THEN
    RAISE EXCEPTION 'vigil.report: host % is quarantined: its reports are refused', session_user
      USING ERRCODE = '42501';
  END IF;

  IF p_outcome IS NULL OR p_outcome NOT IN ('failure', 'success', 'password_ok') THEN
    RAISE EXCEPTION 'vigil.report: outcome must be failure, success or password_ok'
      USING ERRCODE = '22023';
  END IF;
  IF p_account = '' THEN
    RAISE EXCEPTION 'vigil.report: empty account name (NULL is an unresolved name)'
      USING ERRCODE = '22023';
  END IF;
  p_source := coalesce(p_source, '');
  p_device := coalesce(p_device, '');
  p_service := coalesce(p_service, '');
  p_throttle_keys := coalesce(p_throttle_keys, '{}');
  p_throttle_scales := coalesce(p_throttle_scales, '{}');
  p_exempt := coalesce(p_exempt, false);
  p_root_caller := coalesce(p_root_caller, false);
  p_console := coalesce(p_console, false);
  p_needs_code := coalesce(p_needs_code, false);
  IF cardinality(p_throttle_keys) <> cardinality(p_throttle_scales)
     OR EXISTS (SELECT 1 FROM unnest(p_throttle_scales) AS u(sc) WHERE u.sc IS NULL OR u.sc < 1)
     OR EXISTS (SELECT 1 FROM unnest(p_throttle_keys) AS u(k) WHERE coalesce(u.k, '') = '') THEN
    RAISE EXCEPTION 'vigil.report: one scale (at least 1) per non-empty throttle key'
      USING ERRCODE = '22023';
  END IF;

  SELECT * INTO v_pol FROM vigil.policy p WHERE p.id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'vigil.report: vigil.policy has no row' USING ERRCODE = '55000';
  END IF;

  IF p_account IS NOT NULL THEN
    v_acct_key := 'acct:' || p_account;

    -- Block: refused whatever the password; the console stays the way in.
    IF NOT p_console AND EXISTS (SELECT 1 FROM vigil.block k WHERE k.account = p_account) THEN
      INSERT INTO vigil.bucket AS b (key, account, refused, updated)
      VALUES (v_acct_key, p_account, 1, v_now)
      ON CONFLICT (key) DO UPDATE SET refused = b.refused + 1, updated = EXCLUDED.updated
      RETURNING extract(epoch FROM b.locked_until)::bigint, b.lock_count
      INTO locked_until_epoch, lock_count;
      reason := 'blocked';
      PERFORM set_config('synchronous_commit', 'on', true);
      RETURN NEXT;
      RETURN;
    END IF;

    -- Known device: trusted within the host's trust group for trust_days
    -- after its last use; its failures count in its own bucket.
    known := p_device <> '' AND EXISTS (
      SELECT 1 FROM vigil.device v
       WHERE v.account = p_account AND v.trust_group = v_host.trust_group
         AND v.device = p_device
         AND v.last_seen > v_now - v_pol.trust_days * 86400 * interval '1 second');

    v_acct := vigil.lock_bucket(v_acct_key, p_account);
    IF known THEN
      v_key := 'dev:' || p_account || E'\n' || p_device;
      v_state := vigil.lock_bucket(v_key, p_account);
    ELSE
      v_key := v_acct_key;
      v_state := v_acct;
    END IF;
    v_state0 := v_state;
  END IF;

  -- The source's throttle (password spraying): failures from unknown
  -- devices count per source across accounts; past throttle_deny (times
  -- the key's scale) the source is refused for a doubling ban.
  IF NOT known AND v_pol.throttle_deny > 0 AND cardinality(p_throttle_keys) > 0 THEN
    FOR i IN 1..cardinality(p_throttle_keys) LOOP
      CONTINUE WHEN ('src:' || p_throttle_keys[i]) = ANY (v_src_keys);
      v_n := cardinality(v_src_keys) + 1;
      v_src_keys[v_n] := 'src:' || p_throttle_keys[i];
      v_src_deny[v_n] := least(v_pol.throttle_deny::bigint * p_throttle_scales[i], 100000);
      v_st := vigil.lock_bucket(v_src_keys[v_n], NULL);
      v_src0[v_n] := v_st;
      v_src[v_n] := vigil.expire(v_st, v_pol.throttle_window, v_pol.throttle_ban,
                                 v_pol.throttle_max_ban, v_now);
    END LOOP;

    v_banned := NULL;
    FOR i IN 1..cardinality(v_src_keys) LOOP
      IF coalesce((v_src[i]).locked_until, 'epoch') > v_now THEN
        v_banned := i;
        EXIT;
      END IF;
    END LOOP;

    IF v_banned IS NOT NULL THEN
      v_st := v_src[v_banned];
      v_st.refused := v_st.refused + 1;
      v_src[v_banned] := v_st;
      -- The attempt is activity on the account too: a throttled attacker
      -- keeps the account's lock doubling alive.
      IF p_account IS NOT NULL THEN
        v_state := vigil.expire(v_state, v_pol.fail_interval, v_pol.unlock_time,
                                v_pol.max_unlock_time, v_now);
        IF v_state.lock_count > 0 THEN
          v_state.last_failure := v_now;
        END IF;
      END IF;
    ELSIF p_outcome = 'failure' THEN
      FOR i IN 1..cardinality(v_src_keys) LOOP
        v_d := vigil.decide(v_src[i], 'failure', true, false, v_now, '', v_src_deny[i],
                            v_pol.throttle_window, v_pol.throttle_ban, v_pol.throttle_max_ban);
        v_src[i] := v_d.state;
      END LOOP;
    END IF;

    FOR i IN 1..cardinality(v_src_keys) LOOP
      IF v_src[i] IS DISTINCT FROM v_src0[i] THEN
        PERFORM vigil.put_bucket(v_src_keys[i], v_src[i], v_now);
      END IF;
    END LOOP;

    IF v_banned IS NOT NULL THEN
      IF p_account IS NOT NULL THEN
        IF v_state IS DISTINCT FROM v_state0 THEN
          PERFORM vigil.put_bucket(v_key, v_state, v_now);
        END IF;
        locked_until_epoch := extract(epoch FROM v_state.locked_until)::bigint;
        lock_count := v_state.lock_count;
      END IF;
      reason := 'throttled';
      PERFORM set_config('synchronous_commit', 'on', true);
      RETURN NEXT;
      RETURN;
    END IF;
  END IF;

  IF p_account IS NULL THEN
    reason := 'no_account';
    PERFORM set_config('synchronous_commit', 'on', true);
    RETURN NEXT;
    RETURN;
  END IF;

  -- Credential stuffing that succeeded: the right password, reported by a
  -- root caller, from an unknown device, for an account that needs no
  -- code, after failures from attack_sources other unknown sources. The
  -- account is blocked fleet-wide, within the host's cap.
  IF p_root_caller AND p_outcome <> 'failure' AND NOT known AND NOT p_needs_code
     AND NOT p_console THEN
    v_n := vigil.distinct_sources(v_acct, v_pol.fail_interval, v_now, p_source);
    IF v_n >= v_pol.attack_sources THEN
      PERFORM set_config('synchronous_commit', 'on', true);
      locked_until_epoch := extract(epoch FROM v_state.locked_until)::bigint;
      lock_count := v_state.lock_count;
      SELECT h.auto_blocks INTO v_auto FROM vigil.host h WHERE h.name = session_user FOR UPDATE;
      IF v_auto >= v_pol.max_auto_blocks_per_host THEN
        RAISE WARNING 'vigil.report: host % made % automatic blocks (max_auto_blocks_per_host): % not blocked',
          session_user, v_auto, p_account;
        reason := 'auto_block_cap';
        RETURN NEXT;
        RETURN;
      END IF;
      v_reason := format('the right password from an unknown device after failures from %s '
                         'unknown sources (credential stuffing)', v_n);
      v_details := jsonb_build_object('device', p_device, 'source', p_source,
                                      'failed_sources', to_jsonb(v_acct.src));
      INSERT INTO vigil.block AS k (account, reason, since, by, host, details)
      VALUES (p_account, v_reason, v_now, 'vigild', session_user, v_details)
      ON CONFLICT (account) DO NOTHING;
      IF FOUND THEN
        UPDATE vigil.host AS h SET auto_blocks = h.auto_blocks + 1 WHERE h.name = session_user;
        PERFORM vigil.emit('block', p_account, 'vigild',
                           jsonb_build_object('reason', v_reason) || v_details);
        reason := 'blocked_now';
        blocked_now := true;
      ELSE
        reason := 'blocked';  -- blocked meanwhile by another transaction
      END IF;
      RETURN NEXT;
      RETURN;
    END IF;
  END IF;

  -- The decision, with the fleet's policy.
  v_d := vigil.decide(v_state, p_outcome, p_root_caller, p_exempt, v_now,
                      CASE WHEN known THEN '' ELSE p_source END,
                      v_pol.deny, v_pol.fail_interval, v_pol.unlock_time, v_pol.max_unlock_time);
  v_state := v_d.state;
  -- Written when changed, and always after a failure, a refusal or a right
  -- password before its code, as the engine does (the same cost).
  IF v_state IS DISTINCT FROM v_state0 OR NOT v_d.allow OR p_outcome = 'password_ok' THEN
    PERFORM vigil.put_bucket(v_key, v_state, v_now);
  END IF;
  IF v_d.counted THEN
    INSERT INTO vigil.failure (account, at, host, bucket, source, service)
    VALUES (p_account, v_now, session_user, v_key, p_source, p_service);
  END IF;
  IF p_outcome = 'success' AND v_d.allow AND p_root_caller THEN
    -- A complete login: the device becomes known in the host's trust group
    -- (the 64 most recently used per account and group are kept), and the
    -- account remembers the success.
    IF p_device <> '' THEN
      INSERT INTO vigil.device AS v (account, trust_group, device, first_seen, last_seen)
      VALUES (p_account, v_host.trust_group, p_device, v_now, v_now)
      ON CONFLICT (account, trust_group, device) DO UPDATE SET last_seen = EXCLUDED.last_seen;
      DELETE FROM vigil.device AS v
       WHERE v.account = p_account AND v.trust_group = v_host.trust_group
         AND v.device IN (SELECT o.device FROM vigil.device o
                           WHERE o.account = p_account AND o.trust_group = v_host.trust_group
                           ORDER BY o.last_seen DESC, o.device OFFSET 64);
    END IF;
    IF known THEN
      UPDATE vigil.bucket AS b SET last_success = v_now, updated = v_now
       WHERE b.key = v_acct_key;
    END IF;
  END IF;

  counted := v_d.counted;
  locked_now := v_d.locked_now;
  locked_until_epoch := extract(epoch FROM v_state.locked_until)::bigint;
  lock_count := v_state.lock_count;
  IF v_d.allow AND p_outcome = 'success' THEN
    verdict := 'allow';
    reason := 'ok';
  ELSIF v_d.allow AND p_outcome = 'password_ok' THEN
    verdict := 'verify';
    reason := 'ok';
  ELSE
    verdict := 'deny';
    reason := CASE WHEN v_d.refused_locked THEN 'locked' ELSE 'counted' END;
  END IF;
  IF verdict <> 'allow' THEN
    PERFORM set_config('synchronous_commit', 'on', true);
  END IF;
  RETURN NEXT;
END
$$;

RESET ROLE;

---------------------------------------------------------------------------
-- Privileges
---------------------------------------------------------------------------
-- Nothing for PUBLIC. A host may run the report and the pure policy
-- functions, and read the replicated, non-secret tables: never write a
-- table directly, never read the buckets (sources and times of other
-- hosts' logins) or the failure history.

REVOKE ALL ON ALL TABLES IN SCHEMA vigil FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA vigil FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA vigil FROM PUBLIC;
REVOKE ALL ON TYPE vigil.lock_state, vigil.decision FROM PUBLIC;

GRANT USAGE ON TYPE vigil.lock_state, vigil.decision TO vigil_host;
GRANT SELECT ON vigil.policy, vigil.host, vigil.block, vigil.event, vigil.seq,
                vigil.schema_version, vigil.device TO vigil_host;
GRANT EXECUTE ON FUNCTION
  vigil.report(text, text, text, text, text[], int[], boolean, boolean, boolean, boolean, text),
  vigil.decide(vigil.lock_state, text, boolean, boolean, timestamptz, text, int, interval,
               interval, interval),
  vigil.distinct_sources(vigil.lock_state, interval, timestamptz, text)
  TO vigil_host;

-- Everything of the schema belongs to vigil_owner: in particular no
-- SECURITY DEFINER function runs as the superuser who ran this file.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = 'vigil'::regnamespace
                AND c.relowner <> 'vigil_owner'::regrole)
     OR EXISTS (SELECT 1 FROM pg_proc p WHERE p.pronamespace = 'vigil'::regnamespace
                   AND p.proowner <> 'vigil_owner'::regrole)
     OR EXISTS (SELECT 1 FROM pg_type t WHERE t.typnamespace = 'vigil'::regnamespace
                   AND t.typowner <> 'vigil_owner'::regrole) THEN
    RAISE EXCEPTION 'vigil schema v1: an object is not owned by vigil_owner';
  END IF;
END
$$;
