-- vigil fleet schema, version 2 (FLEET.md: "TOTP in the database", "Changes
-- that protect", "Least privilege").
--
-- Run once per database by a superuser, in one transaction, after
-- 001_base.sql. The runner (vigild --fleet-setup, or the tests' PgServer)
-- sets vigil.schema_version; this file does not touch it. Its first
-- statement creates the schema vigil_crypto, so running it again fails at
-- once and, being one transaction, changes nothing.
--
-- What this version adds:
--  * vigil.heartbeat(): a host's event cursor and last contact.
--  * vigil.admin: the fleet's administrators, kept by superusers.
--  * vigil.block_account(): a block made by an administrator on a host,
--    attributed to both and counted in the host's cap on blocks.
--  * TOTP verified in the database: secrets generated here (pgcrypto),
--    sealed under a key only vigil_owner reads, never readable by a host;
--    steps consumed under a row lock, so that a code is accepted once across
--    the fleet; wrong codes counted, and past [totp] max_failures the
--    account locked as the C++ lock_now() does; recovery codes stored as
--    HMACs and consumed with DELETE ... RETURNING.
--  * vigil.recover(): an unblock checked here, not on the host: the acting
--    administrator's code, then a code of the blocked account or the
--    approval of a second administrator, in one transaction.
--
-- Refusals after a code was checked are answers, never errors: an error
-- would roll back the consumed step and the counted wrong code with it,
-- and guesses would cost nothing. Refusals decided before any code is
-- checked raise SQLSTATE 42501 (or 22023 for a malformed call).
--
-- Every new function is SECURITY DEFINER, owned by vigil_owner, with
-- search_path = vigil, pg_temp, and calls pgcrypto schema-qualified.

---------------------------------------------------------------------------
-- pgcrypto, in a schema of its own that no host may use
---------------------------------------------------------------------------

CREATE SCHEMA vigil_crypto AUTHORIZATION vigil_owner;
REVOKE ALL ON SCHEMA vigil_crypto FROM PUBLIC;
CREATE EXTENSION IF NOT EXISTS pgcrypto SCHEMA vigil_crypto;

DO $$
DECLARE
  v_ns text;
BEGIN
  SELECT n.nspname INTO v_ns
    FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
   WHERE e.extname = 'pgcrypto';
  IF v_ns IS DISTINCT FROM 'vigil_crypto' THEN
    RAISE EXCEPTION 'vigil schema v2: pgcrypto is installed in schema % of this database, not in vigil_crypto',
      coalesce(v_ns, '(none)')
      USING HINT = 'Move it (ALTER EXTENSION pgcrypto SET SCHEMA vigil_crypto) if nothing else '
                   'relies on its schema, or use another database for vigil.';
  END IF;
END
$$;

-- Only vigil_owner (that is, the functions below) may call it.
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA vigil_crypto FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA vigil_crypto TO vigil_owner;

-- Everything below is created by, and so owned by, vigil_owner (checked at
-- the end).
SET ROLE vigil_owner;

---------------------------------------------------------------------------
-- Tables
---------------------------------------------------------------------------

-- The second factor's settings, fleet-wide (C++ [totp] window and
-- max_failures, [recovery] approval_ttl, with their ranges):
--   totp_window          accepted 30-second steps either side of now
--   totp_max_failures    wrong or replayed codes within fail_interval after
--                        which codes are no longer checked (the last one
--                        locks the account's bucket)
--   recovery_code_count  codes made by vigil.recovery_codes()
--   approval_ttl         how long an administrator's approval of an
--                        unblock waits for a second administrator
ALTER TABLE vigil.policy
  ADD COLUMN totp_window int NOT NULL DEFAULT 1 CHECK (totp_window BETWEEN 0 AND 10),
  ADD COLUMN totp_max_failures int NOT NULL DEFAULT 5 CHECK (totp_max_failures BETWEEN 1 AND 100),
  ADD COLUMN recovery_code_count int NOT NULL DEFAULT 10
    CHECK (recovery_code_count BETWEEN 1 AND 100),
  ADD COLUMN approval_ttl interval NOT NULL DEFAULT '24 hours'
    CHECK (approval_ttl BETWEEN '1 minute' AND '30 days');

-- The fleet's administrators, by account name (vigil.add_admin). Hosts read
-- it (who may use the admin socket); only superusers change it.
CREATE TABLE vigil.admin (
  account text PRIMARY KEY,
  added timestamptz NOT NULL DEFAULT now()
);

-- The key that seals TOTP secrets and keys the recovery codes' HMACs: one
-- row, made here, read only by vigil_owner. (A dump of the database holds
-- it next to what it seals: protect dumps as the database itself.)
CREATE TABLE vigil.seal_key (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  key bytea NOT NULL CHECK (length(key) >= 32)
);
INSERT INTO vigil.seal_key (key) VALUES (vigil_crypto.gen_random_bytes(32));

-- One account's second factor. secret: the active one, pending: one being
-- enrolled (since pending_at), both sealed (pgp_sym_encrypt_bytea under the
-- seal key). last_step: the last accepted 30-second step (a code of a step
-- at or before it is a replay). failures: the times of recent wrong or
-- replayed codes, oldest first, at most totp_max_failures.
CREATE TABLE vigil.totp (
  account text PRIMARY KEY,
  secret bytea,
  pending bytea,
  pending_at timestamptz,
  last_step bigint NOT NULL DEFAULT 0,
  confirmed_at timestamptz,
  failures timestamptz[] NOT NULL DEFAULT '{}'
);

-- Unused recovery codes: HMAC-SHA256 of the normalised code (lower case,
-- no '-' or spaces) under the seal key. Never in clear.
CREATE TABLE vigil.recovery_code (
  account text,
  hash bytea,
  PRIMARY KEY (account, hash)
);

-- An administrator's approval of an unblock without the account's code,
-- waiting (approval_ttl) for a second administrator (vigil.recover). One
-- per account; hosts read it (the overview).
CREATE TABLE vigil.approval (
  account text PRIMARY KEY,
  requested_by text NOT NULL,
  reason text,
  at timestamptz NOT NULL
);

---------------------------------------------------------------------------
-- Internal helpers (no grant to hosts)
---------------------------------------------------------------------------

-- The host that calls (session_user, also inside SECURITY DEFINER
-- functions), or NULL for the fleet owner when p_owner_ok: a superuser, or
-- a member of vigil_owner that is no host. Anyone else, and a quarantined
-- host, is refused (42501).
CREATE FUNCTION vigil.acting_host(p_fn text, p_owner_ok boolean)
RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = vigil, pg_temp
AS $$
DECLARE
  v_host vigil.host%ROWTYPE;
BEGIN
  SELECT * INTO v_host FROM vigil.host h WHERE h.name = session_user;
  IF FOUND THEN
    IF v_host.quarantined THEN
      RAISE EXCEPTION '%: host % is quarantined: its calls are refused', p_fn, session_user
        USING ERRCODE = '42501';
    END IF;
    RETURN v_host.name;
  END IF;
  IF p_owner_ok
     AND (coalesce((SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = session_user), false)
          OR (pg_has_role(session_user, 'vigil_owner', 'MEMBER')
              AND NOT pg_has_role(session_user, 'vigil_host', 'MEMBER'))) THEN
    RETURN NULL;
  END IF;
  RAISE EXCEPTION '%: % is not a host of the fleet', p_fn, session_user
    USING ERRCODE = '42501', HINT = 'An administrator adds hosts with vigil.add_host().';
END
$$;

-- Seals and opens a secret under the seal key. The key is random (256
-- bits), so one salted hash derives the session key (s2k-mode 1): no
-- stretching is needed.
CREATE FUNCTION vigil.seal(p_data bytea)
RETURNS bytea
LANGUAGE sql VOLATILE STRICT SECURITY DEFINER
SET search_path = vigil, pg_temp
RETURN vigil_crypto.pgp_sym_encrypt_bytea(
  p_data, (SELECT encode(k.key, 'hex') FROM vigil.seal_key k WHERE k.id),
  'cipher-algo=aes256, s2k-mode=1, s2k-digest-algo=sha256');

CREATE FUNCTION vigil.unseal(p_box bytea)
RETURNS bytea
LANGUAGE sql STABLE STRICT SECURITY DEFINER
SET search_path = vigil, pg_temp
RETURN vigil_crypto.pgp_sym_decrypt_bytea(
  p_box, (SELECT encode(k.key, 'hex') FROM vigil.seal_key k WHERE k.id));

-- A recovery code's stored form: HMAC-SHA256 of its normalised text.
CREATE FUNCTION vigil.code_hash(p_normalised text)
RETURNS bytea
LANGUAGE sql STABLE STRICT SECURITY DEFINER
SET search_path = vigil, pg_temp
RETURN vigil_crypto.hmac(convert_to(p_normalised, 'UTF8'),
                         (SELECT k.key FROM vigil.seal_key k WHERE k.id), 'sha256');

-- RFC 4226 HOTP: HMAC-SHA1 of the 8-byte big-endian counter, dynamic
-- truncation, 6 digits.
CREATE FUNCTION vigil.hotp(secret bytea, counter bigint)
RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT SECURITY DEFINER
SET search_path = vigil, pg_temp
AS $$
DECLARE
  h bytea;
  o int;
  v bigint;
BEGIN
  IF counter < 0 THEN
    RAISE EXCEPTION 'vigil.hotp: negative counter' USING ERRCODE = '22023';
  END IF;
  h := vigil_crypto.hmac(int8send(counter), secret, 'sha1');
  o := get_byte(h, 19) & 15;
  v := ((get_byte(h, o) & 127)::bigint << 24) | (get_byte(h, o + 1)::bigint << 16)
       | (get_byte(h, o + 2)::bigint << 8) | get_byte(h, o + 3)::bigint;
  RETURN lpad((v % 1000000)::text, 6, '0');
END
$$;

-- RFC 4648 base32, upper case, without padding.
CREATE FUNCTION vigil.base32(data bytea)
RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT SECURITY DEFINER
SET search_path = vigil, pg_temp
AS $$
DECLARE
  alphabet constant text := 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  buf int := 0;   -- at most 12 bits pending
  bits int := 0;
  out text := '';
BEGIN
  FOR i IN 0 .. length(data) - 1 LOOP
    buf := ((buf << 8) | get_byte(data, i)) & 4095;
    bits := bits + 8;
    WHILE bits >= 5 LOOP
      out := out || substr(alphabet, ((buf >> (bits - 5)) & 31) + 1, 1);
      bits := bits - 5;
    END LOOP;
  END LOOP;
  IF bits > 0 THEN
    out := out || substr(alphabet, ((buf << (5 - bits)) & 31) + 1, 1);
  END IF;
  RETURN out;
END
$$;

-- The 30-second steps within p_window of the database's now() whose code
-- is p_code, ascending (normally none or one).
CREATE FUNCTION vigil.code_steps(p_secret bytea, p_code text, p_window int)
RETURNS bigint[]
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = vigil, pg_temp
RETURN (SELECT coalesce(array_agg(s.step ORDER BY s.step), '{}')
          FROM generate_series(floor(extract(epoch FROM now()) / 30)::bigint - p_window,
                               floor(extract(epoch FROM now()) / 30)::bigint + p_window)
               AS s(step)
         WHERE p_secret IS NOT NULL AND vigil.hotp(p_secret, s.step) = p_code);

-- Is the account's own bucket locked now?
CREATE FUNCTION vigil.account_locked(p_account text)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = vigil, pg_temp
RETURN coalesce((SELECT b.locked_until > date_trunc('second', now()) FROM vigil.bucket b
                  WHERE b.key = 'acct:' || p_account), false);

-- Locks the account's bucket 'acct:<account>' now, as the C++ lock_now()
-- after [totp] max_failures wrong codes (count_wrong_code): the bucket is
-- created or locked (row lock), expired as at any decision, and unless it
-- is locked already: the decay folded in, locked for the doubled
-- unlock_time, lock_count + 1, last_failure = now.
CREATE FUNCTION vigil.lock_account_now(p_account text, p_now timestamptz)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = vigil, pg_temp
AS $$
DECLARE
  v_pol vigil.policy%ROWTYPE;
  v_key text := 'acct:' || p_account;
  s vigil.lock_state;
  lc int;
  d bigint;
BEGIN
  SELECT * INTO v_pol FROM vigil.policy p WHERE p.id;
  s := vigil.lock_bucket(v_key, p_account);
  s := vigil.expire(s, v_pol.fail_interval, v_pol.unlock_time, v_pol.max_unlock_time, p_now);
  IF coalesce(s.locked_until, 'epoch') > p_now THEN
    RETURN;
  END IF;
  lc := vigil.decayed_lock_count(s, v_pol.unlock_time, v_pol.max_unlock_time, p_now);
  IF lc <> s.lock_count THEN
    s.lock_count := lc;
    IF lc = 0 THEN
      s.refused := 0;
    END IF;
  END IF;
  d := vigil.lock_duration_s(s.lock_count, vigil.seconds(v_pol.unlock_time),
                             vigil.seconds(v_pol.max_unlock_time));
  s.locked_until := greatest(s.locked_until, p_now + d * interval '1 second');
  s.lock_count := s.lock_count + 1;
  s.last_failure := p_now;
  PERFORM vigil.put_bucket(v_key, s, p_now);
END
$$;

-- One code of an account, checked under the row lock of its factor:
--   'no_factor'      no active secret (nothing checked, nothing written)
--   'too_many'       totp_max_failures wrong codes within fail_interval
--                    already: not checked, nothing written
--   'ok'             a code of a step within now ± totp_window later than
--                    last_step, which becomes that step
--   'recovery_code'  an unused recovery code, consumed
--   'replay'         a right code of a step at or before last_step
--   'wrong'          anything else
-- A 'wrong' or 'replay' is counted in failures (older ones than
-- fail_interval dropped); the one that reaches totp_max_failures locks the
-- account's bucket (vigil.lock_account_now). A 6-digit code is a TOTP code;
-- anything else is read as a recovery code.
CREATE FUNCTION vigil.check_code(p_account text, p_code text)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = vigil, pg_temp
AS $$
DECLARE
  v_now timestamptz := date_trunc('second', now());
  v_pol vigil.policy%ROWTYPE;
  v_t vigil.totp%ROWTYPE;
  v_fails timestamptz[];
  v_steps bigint[];
  v_step bigint;
  v_norm text;
  v_result text;
  n int;
BEGIN
  SELECT * INTO v_pol FROM vigil.policy p WHERE p.id;
  SELECT * INTO v_t FROM vigil.totp t WHERE t.account = p_account FOR UPDATE;
  IF NOT FOUND OR v_t.secret IS NULL THEN
    RETURN 'no_factor';
  END IF;
  v_fails := ARRAY(SELECT u.f FROM unnest(v_t.failures) WITH ORDINALITY AS u(f, o)
                    WHERE u.f > v_now - vigil.seconds(v_pol.fail_interval) * interval '1 second'
                    ORDER BY u.o);
  IF cardinality(v_fails) >= v_pol.totp_max_failures THEN
    RETURN 'too_many';
  END IF;
  -- A consumed step or code, and a counted wrong one, are never lost to an
  -- asynchronous commit.
  PERFORM set_config('synchronous_commit', 'on', true);

  IF coalesce(p_code, '') ~ '^[0-9]{6}$' THEN
    v_steps := vigil.code_steps(vigil.unseal(v_t.secret), p_code, v_pol.totp_window);
    SELECT min(u.step) INTO v_step FROM unnest(v_steps) AS u(step) WHERE u.step > v_t.last_step;
    IF v_step IS NOT NULL THEN
      UPDATE vigil.totp AS t SET last_step = v_step WHERE t.account = p_account;
      RETURN 'ok';
    END IF;
    v_result := CASE WHEN cardinality(v_steps) > 0 THEN 'replay' ELSE 'wrong' END;
  ELSE
    v_norm := translate(lower(coalesce(p_code, '')), '- ', '');
    IF v_norm <> '' THEN
      DELETE FROM vigil.recovery_code AS r
       WHERE r.account = p_account AND r.hash = vigil.code_hash(v_norm);
      IF FOUND THEN
        RETURN 'recovery_code';
      END IF;
    END IF;
    v_result := 'wrong';
  END IF;

  v_fails := v_fails || v_now;
  n := cardinality(v_fails);
  IF n > v_pol.totp_max_failures THEN
    v_fails := v_fails[n - v_pol.totp_max_failures + 1 : n];
  END IF;
  UPDATE vigil.totp AS t SET failures = v_fails WHERE t.account = p_account;
  IF cardinality(v_fails) >= v_pol.totp_max_failures THEN
    PERFORM vigil.lock_account_now(p_account, v_now);
  END IF;
  RETURN v_result;
END
$$;

-- Who may change p_account's factor (a new secret, new recovery codes),
-- the rules of vigil.totp_enroll():
--   'a'  the caller is the fleet owner (no host): any account
--   'b'  p_actor = p_account, no active factor, not an administrator, and
--        p_self_without_factor (self-enrolment after the host checked the
--        password); only for enrolment
--   'c'  p_actor = p_account with a valid code of its active factor
--   'd'  p_actor, another account, is an administrator, not blocked, with a
--        valid code of its own
-- The factor of a blocked account is frozen for everyone (as the C++
-- engine: nobody re-enrols it and then "verifies" with the new one), and a
-- locked account's own changes wait for the lock's end. Returns the rule,
-- or NULL after a checked code was refused (a WARNING says why, and the
-- caller must return normally so that the counted code commits). Raises
-- 42501 for the refusals decided before a code is checked. Locks the
-- account's factor row (when it has one) before any code is checked.
CREATE FUNCTION vigil.change_rule(p_fn text, p_account text, p_actor text, p_actor_code text,
                                  p_self_without_factor boolean)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = vigil, pg_temp
AS $$
DECLARE
  v_host text;
  v_active boolean;
  v_r text;
BEGIN
  v_host := vigil.acting_host(p_fn, true);
  IF coalesce(p_account, '') = '' THEN
    RAISE EXCEPTION '%: an account name is needed', p_fn USING ERRCODE = '22023';
  END IF;
  PERFORM 1 FROM vigil.totp t WHERE t.account = p_account FOR UPDATE;
  IF EXISTS (SELECT 1 FROM vigil.block k WHERE k.account = p_account) THEN
    RAISE EXCEPTION '%: % is blocked: its second factor is frozen until an administrator recovers it',
      p_fn, p_account USING ERRCODE = '42501';
  END IF;
  v_active := EXISTS (SELECT 1 FROM vigil.totp t WHERE t.account = p_account AND t.secret IS NOT NULL);
  IF v_host IS NULL THEN
    RETURN 'a';
  END IF;
  IF coalesce(p_actor, '') = '' THEN
    RAISE EXCEPTION '%: the acting account is needed', p_fn USING ERRCODE = '22023';
  END IF;

  IF p_actor = p_account THEN
    IF vigil.account_locked(p_account) THEN
      RAISE EXCEPTION '%: refused (rules b, c): % is locked; try again after the lock ends, or ask an administrator (rule d)',
        p_fn, p_account USING ERRCODE = '42501';
    END IF;
    IF NOT v_active THEN
      IF NOT p_self_without_factor THEN
        RAISE EXCEPTION '%: refused (rule c): % has no active second factor: enrol first',
          p_fn, p_account USING ERRCODE = '42501';
      END IF;
      IF EXISTS (SELECT 1 FROM vigil.admin a WHERE a.account = p_account) THEN
        RAISE EXCEPTION '%: refused (rule b): % is an administrator: an administrator''s first factor is enrolled by another administrator (rule d) or the fleet owner (rule a)',
          p_fn, p_account USING ERRCODE = '42501';
      END IF;
      RETURN 'b';
    END IF;
    IF coalesce(p_actor_code, '') = '' THEN
      RAISE EXCEPTION '%: refused (rule c): % has an active second factor: a current code or an unused recovery code of it is needed',
        p_fn, p_account USING ERRCODE = '42501';
    END IF;
    v_r := vigil.check_code(p_account, p_actor_code);
    IF v_r IN ('ok', 'recovery_code') THEN
      RETURN 'c';
    END IF;
    RAISE WARNING '%: refused (rule c): the code is not a current code or an unused recovery code of % (%)',
      p_fn, p_account, v_r USING ERRCODE = '42501';
    RETURN NULL;
  END IF;

  IF NOT EXISTS (SELECT 1 FROM vigil.admin a WHERE a.account = p_actor) THEN
    RAISE EXCEPTION '%: refused (rule d): % is not an administrator', p_fn, p_actor
      USING ERRCODE = '42501';
  END IF;
  IF EXISTS (SELECT 1 FROM vigil.block k WHERE k.account = p_actor) THEN
    RAISE EXCEPTION '%: refused (rule d): the administrator % is blocked', p_fn, p_actor
      USING ERRCODE = '42501';
  END IF;
  IF coalesce(p_actor_code, '') = '' THEN
    RAISE EXCEPTION '%: refused (rule d): a current code or an unused recovery code of the administrator % is needed',
      p_fn, p_actor USING ERRCODE = '42501';
  END IF;
  v_r := vigil.check_code(p_actor, p_actor_code);
  IF v_r IN ('ok', 'recovery_code') THEN
    RETURN 'd';
  END IF;
  RAISE WARNING '%: refused (rule d): the code is not a current code or an unused recovery code of the administrator % (%)',
    p_fn, p_actor, v_r USING ERRCODE = '42501';
  RETURN NULL;
END
$$;

---------------------------------------------------------------------------
-- Hosts and administrators
---------------------------------------------------------------------------

-- A host's heartbeat: its event cursor (the last seq it applied) and the
-- time. Returns the newest seq and the host's row. A quarantined host may
-- still beat (status shows it); an unknown one is refused (42501).
CREATE FUNCTION vigil.heartbeat(p_applied bigint)
RETURNS TABLE (max_seq bigint, trust_group text, quarantined boolean)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = vigil, pg_temp
AS $$
BEGIN
  IF p_applied IS NULL OR p_applied < 0 THEN
    RAISE EXCEPTION 'vigil.heartbeat: the applied seq must be 0 or more' USING ERRCODE = '22023';
  END IF;
  UPDATE vigil.host AS h SET applied_seq = p_applied, last_seen = now()
   WHERE h.name = session_user
  RETURNING h.trust_group, h.quarantined INTO trust_group, quarantined;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'vigil.heartbeat: % is not a host of the fleet', session_user
      USING ERRCODE = '42501', HINT = 'An administrator adds hosts with vigil.add_host().';
  END IF;
  SELECT s.n INTO max_seq FROM vigil.seq s;
  RETURN NEXT;
END
$$;

-- Makes p_account an administrator of the fleet (true) or finds it one
-- already (false). Superusers only.
CREATE FUNCTION vigil.add_admin(p_account text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = vigil, pg_temp
AS $$
BEGIN
  IF NOT coalesce((SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = session_user), false) THEN
    RAISE EXCEPTION 'vigil.add_admin: superusers only' USING ERRCODE = '42501';
  END IF;
  IF coalesce(p_account, '') = '' THEN
    RAISE EXCEPTION 'vigil.add_admin: an account name is needed' USING ERRCODE = '22023';
  END IF;
  INSERT INTO vigil.admin AS a (account) VALUES (p_account) ON CONFLICT (account) DO NOTHING;
  RETURN FOUND;
END
$$;

-- p_account is no longer an administrator (true), or was none (false). Its
-- pending approvals no longer count (vigil.recover checks). Superusers only.
CREATE FUNCTION vigil.remove_admin(p_account text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = vigil, pg_temp
AS $$
BEGIN
  IF NOT coalesce((SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = session_user), false) THEN
    RAISE EXCEPTION 'vigil.remove_admin: superusers only' USING ERRCODE = '42501';
  END IF;
  DELETE FROM vigil.admin AS a WHERE a.account = p_account;
  RETURN FOUND;
END
$$;

---------------------------------------------------------------------------
-- Blocks made by an administrator
---------------------------------------------------------------------------

-- Blocks p_account fleet-wide for the administrator p_actor, on the calling
-- host (not quarantined). A block only protects, so no code is needed; it
-- is attributed (block.by = p_actor, block.host = the host) and counts in
-- the host's cap (host.auto_blocks against policy.max_auto_blocks_per_host,
-- shared with automatic blocks): past it, 42501. Already blocked: (0,
-- false), nothing written. Else (the event's seq, true).
CREATE FUNCTION vigil.block_account(p_account text, p_reason text, p_actor text)
RETURNS TABLE (seq bigint, changed boolean)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = vigil, pg_temp
AS $$
DECLARE
  v_now timestamptz := date_trunc('second', now());
  v_pol vigil.policy%ROWTYPE;
  v_auto int;
  v_reason text;
  v_details jsonb;
BEGIN
  PERFORM vigil.acting_host('vigil.block_account', false);
  IF coalesce(p_account, '') = '' OR coalesce(p_actor, '') = '' THEN
    RAISE EXCEPTION 'vigil.block_account: the account and the acting administrator are needed'
      USING ERRCODE = '22023';
  END IF;
  seq := 0;
  changed := false;
  IF EXISTS (SELECT 1 FROM vigil.block k WHERE k.account = p_account) THEN
    RETURN NEXT;
    RETURN;
  END IF;

  SELECT * INTO v_pol FROM vigil.policy p WHERE p.id;
  SELECT h.auto_blocks INTO v_auto FROM vigil.host h WHERE h.name = session_user FOR UPDATE;
  IF v_auto >= v_pol.max_auto_blocks_per_host THEN
    RAISE EXCEPTION 'vigil.block_account: host % has made % blocks, the cap (policy max_auto_blocks_per_host = %): % not blocked',
      session_user, v_auto, v_pol.max_auto_blocks_per_host, p_account
      USING ERRCODE = '42501',
            HINT = 'Block from another host, or have a superuser raise the cap, reset the '
                   'host''s count, or quarantine the host.';
  END IF;

  PERFORM set_config('synchronous_commit', 'on', true);
  v_reason := coalesce(nullif(p_reason, ''),
                       format('blocked by the administrator %s on %s', p_actor, session_user));
  v_details := jsonb_build_object('actor', p_actor, 'made_by', 'administrator');
  INSERT INTO vigil.block AS k (account, reason, since, by, host, details)
  VALUES (p_account, v_reason, v_now, p_actor, session_user, v_details)
  ON CONFLICT (account) DO NOTHING;
  IF NOT FOUND THEN
    RETURN NEXT;  -- blocked meanwhile by another transaction
    RETURN;
  END IF;
  UPDATE vigil.host AS h SET auto_blocks = h.auto_blocks + 1 WHERE h.name = session_user;
  seq := vigil.emit('block', p_account, p_actor,
                    jsonb_build_object('reason', v_reason, 'actor', p_actor, 'by', p_actor,
                                       'admin', EXISTS (SELECT 1 FROM vigil.admin a
                                                         WHERE a.account = p_account),
                                       'made_by', 'administrator'));
  changed := true;
  RETURN NEXT;
END
$$;

---------------------------------------------------------------------------
-- The second factor
---------------------------------------------------------------------------

-- A login's second factor, on a host (not quarantined): ok for a current
-- unused code ('ok') or an unused recovery code ('recovery_code'), whose
-- success also forgets the account's wrong codes; otherwise reason is
-- check_code()'s: 'replay', 'wrong', 'no_factor', 'too_many'. Never raises
-- once the code is checked.
CREATE FUNCTION vigil.verify(p_account text, p_code text)
RETURNS TABLE (ok boolean, reason text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = vigil, pg_temp
AS $$
DECLARE
  v_r text;
BEGIN
  PERFORM vigil.acting_host('vigil.verify', false);
  IF coalesce(p_account, '') = '' THEN
    RAISE EXCEPTION 'vigil.verify: an account name is needed' USING ERRCODE = '22023';
  END IF;
  v_r := vigil.check_code(p_account, p_code);
  ok := v_r IN ('ok', 'recovery_code');
  reason := v_r;
  IF ok THEN
    UPDATE vigil.totp AS t SET failures = '{}'
     WHERE t.account = p_account AND cardinality(t.failures) > 0;
  END IF;
  RETURN NEXT;
END
$$;

-- A fresh pending secret for p_account (20 random bytes), returned once in
-- base32; it becomes active with vigil.totp_confirm() within 15 minutes,
-- and until then the active one (if any) stays. Who may: the rules of
-- vigil.change_rule() ('a' to 'd'). A refusal before any code is checked
-- raises 42501 naming the rule; a refused code returns NULL (with a
-- WARNING naming the rule), so that the counted code commits.
CREATE FUNCTION vigil.totp_enroll(p_account text, p_actor text, p_actor_code text)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = vigil, pg_temp
AS $$
DECLARE
  v_secret bytea;
BEGIN
  IF vigil.change_rule('vigil.totp_enroll', p_account, p_actor, p_actor_code, true) IS NULL THEN
    RETURN NULL;
  END IF;
  PERFORM set_config('synchronous_commit', 'on', true);
  v_secret := vigil_crypto.gen_random_bytes(20);
  INSERT INTO vigil.totp AS t (account, pending, pending_at)
  VALUES (p_account, vigil.seal(v_secret), now())
  ON CONFLICT (account) DO UPDATE SET pending = EXCLUDED.pending, pending_at = EXCLUDED.pending_at;
  RETURN vigil.base32(v_secret);
END
$$;

-- The pending secret becomes the active one when p_code is a code of it
-- for a step within now ± totp_window, and the secret is younger than 15
-- minutes: last_step becomes that step (or stays, if later), the wrong
-- codes are forgotten, and the recovery codes of an earlier factor are
-- void. false otherwise (nothing written). The host or the fleet owner
-- calls it; a blocked account's factor is frozen (42501).
CREATE FUNCTION vigil.totp_confirm(p_account text, p_code text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = vigil, pg_temp
AS $$
DECLARE
  v_pol vigil.policy%ROWTYPE;
  v_t vigil.totp%ROWTYPE;
  v_steps bigint[];
BEGIN
  PERFORM vigil.acting_host('vigil.totp_confirm', true);
  IF coalesce(p_account, '') = '' THEN
    RAISE EXCEPTION 'vigil.totp_confirm: an account name is needed' USING ERRCODE = '22023';
  END IF;
  SELECT * INTO v_t FROM vigil.totp t WHERE t.account = p_account FOR UPDATE;
  IF EXISTS (SELECT 1 FROM vigil.block k WHERE k.account = p_account) THEN
    RAISE EXCEPTION 'vigil.totp_confirm: % is blocked: its second factor is frozen until an administrator recovers it',
      p_account USING ERRCODE = '42501';
  END IF;
  IF v_t.account IS NULL OR v_t.pending IS NULL OR v_t.pending_at <= now() - interval '15 minutes'
     OR coalesce(p_code, '') !~ '^[0-9]{6}$' THEN
    RETURN false;
  END IF;
  SELECT * INTO v_pol FROM vigil.policy p WHERE p.id;
  v_steps := vigil.code_steps(vigil.unseal(v_t.pending), p_code, v_pol.totp_window);
  IF cardinality(v_steps) = 0 THEN
    RETURN false;
  END IF;
  PERFORM set_config('synchronous_commit', 'on', true);
  UPDATE vigil.totp AS t
     SET secret = t.pending, pending = NULL, pending_at = NULL,
         last_step = greatest(t.last_step, v_steps[cardinality(v_steps)]),
         confirmed_at = now(), failures = '{}'
   WHERE t.account = p_account;
  DELETE FROM vigil.recovery_code AS r WHERE r.account = p_account;
  RETURN true;
END
$$;

-- New recovery codes for p_account (policy.recovery_code_count, each
-- xxxx-xxxx-xxxx: 60 random bits in lower-case base32), returned once; the
-- old ones are void. The account needs an active factor. Who may: rules
-- 'a', 'c' and 'd' of vigil.change_rule(); a refused code returns no rows
-- (with a WARNING), so that the counted code commits.
CREATE FUNCTION vigil.recovery_codes(p_account text, p_actor text, p_actor_code text)
RETURNS SETOF text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = vigil, pg_temp
AS $$
DECLARE
  v_pol vigil.policy%ROWTYPE;
  v_rule text;
  v_raw text;
  v_made int := 0;
BEGIN
  v_rule := vigil.change_rule('vigil.recovery_codes', p_account, p_actor, p_actor_code, false);
  IF v_rule IS NULL THEN
    RETURN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM vigil.totp t WHERE t.account = p_account AND t.secret IS NOT NULL) THEN
    RAISE EXCEPTION 'vigil.recovery_codes: % has no active second factor: enrol first', p_account
      USING ERRCODE = '42501';
  END IF;
  SELECT * INTO v_pol FROM vigil.policy p WHERE p.id;
  PERFORM set_config('synchronous_commit', 'on', true);
  DELETE FROM vigil.recovery_code AS r WHERE r.account = p_account;
  WHILE v_made < v_pol.recovery_code_count LOOP
    v_raw := lower(left(vigil.base32(vigil_crypto.gen_random_bytes(8)), 12));
    INSERT INTO vigil.recovery_code AS r (account, hash)
    VALUES (p_account, vigil.code_hash(v_raw)) ON CONFLICT DO NOTHING;
    CONTINUE WHEN NOT FOUND;  -- the same code twice (2^-60): draw again
    v_made := v_made + 1;
    RETURN NEXT substr(v_raw, 1, 4) || '-' || substr(v_raw, 5, 4) || '-' || substr(v_raw, 9, 4);
  END LOOP;
END
$$;

---------------------------------------------------------------------------
-- Recovery
---------------------------------------------------------------------------

-- Unblocks p_account, in one transaction, checked here in this order:
--   the calling host exists and is not quarantined (else 42501);
--   p_actor = p_account                   (false, 'self'): never self-service
--   p_actor not an administrator          (false, 'not_admin')
--   p_actor blocked                       (false, 'actor_blocked')
--   p_actor's code (check_code)           (false, 'actor_code_' || its answer)
--   p_account not blocked                 (true, 'not_blocked')
--   the identity of p_account:
--     p_proof given: a code of p_account  (false, 'proof_' || its answer)
--     p_proof NULL (or ''): an approval of another administrator (not
--       p_actor, younger than approval_ttl, still an administrator and not
--       blocked now) is consumed; without one, p_actor's approval is filed
--       or refreshed: (false, 'approval_filed')
--   then the block goes; the buckets acct:<account> and its known devices'
--   are cleared (failures, lock, lock_count, refused, sources); the wrong
--   codes are forgotten; the approval goes; an 'unblock' event is emitted:
--   (true, 'recovered', its seq).
-- seq is 0 but for 'recovered'. Refusals are answers, never errors, once a
-- code was checked: consumed steps and counted wrong codes commit.
CREATE FUNCTION vigil.recover(p_account text, p_actor text, p_actor_code text, p_proof text,
                              p_reason text)
RETURNS TABLE (ok boolean, reason text, seq bigint)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = vigil, pg_temp
AS $$
DECLARE
  v_now timestamptz := date_trunc('second', now());
  v_pol vigil.policy%ROWTYPE;
  v_block vigil.block%ROWTYPE;
  v_appr vigil.approval%ROWTYPE;
  v_r text;
  v_proof text;
  v_approved_by text;
  v_clear_from timestamptz;
BEGIN
  PERFORM vigil.acting_host('vigil.recover', false);
  IF coalesce(p_account, '') = '' OR coalesce(p_actor, '') = '' THEN
    RAISE EXCEPTION 'vigil.recover: the account and the acting administrator are needed'
      USING ERRCODE = '22023';
  END IF;
  ok := false;
  seq := 0;

  IF p_actor = p_account THEN
    reason := 'self';
    RETURN NEXT;
    RETURN;
  END IF;
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

  -- The block row's lock serialises the recoveries of one account.
  SELECT * INTO v_block FROM vigil.block k WHERE k.account = p_account FOR UPDATE;
  IF NOT FOUND THEN
    ok := true;
    reason := 'not_blocked';
    RETURN NEXT;
    RETURN;
  END IF;
  SELECT * INTO v_pol FROM vigil.policy p WHERE p.id;
  PERFORM set_config('synchronous_commit', 'on', true);

  IF nullif(p_proof, '') IS NOT NULL THEN
    v_r := vigil.check_code(p_account, p_proof);
    IF v_r NOT IN ('ok', 'recovery_code') THEN
      reason := 'proof_' || v_r;
      RETURN NEXT;
      RETURN;
    END IF;
    v_proof := CASE v_r WHEN 'ok' THEN 'code' ELSE 'recovery_code' END;
  ELSE
    SELECT * INTO v_appr FROM vigil.approval a WHERE a.account = p_account FOR UPDATE;
    IF FOUND AND v_appr.requested_by <> p_actor AND v_appr.requested_by <> p_account
       AND v_appr.at > v_now - vigil.seconds(v_pol.approval_ttl) * interval '1 second'
       AND EXISTS (SELECT 1 FROM vigil.admin a WHERE a.account = v_appr.requested_by)
       AND NOT EXISTS (SELECT 1 FROM vigil.block k WHERE k.account = v_appr.requested_by) THEN
      v_proof := 'approval';
      v_approved_by := v_appr.requested_by;
    ELSE
      INSERT INTO vigil.approval AS a (account, requested_by, reason, at)
      VALUES (p_account, p_actor, p_reason, v_now)
      ON CONFLICT (account) DO UPDATE
        SET requested_by = EXCLUDED.requested_by, reason = EXCLUDED.reason, at = EXCLUDED.at;
      reason := 'approval_filed';
      RETURN NEXT;
      RETURN;
    END IF;
  END IF;

  -- The lift. Buckets in the order vigil.report() locks them: the
  -- account's, then its known devices'.
  DELETE FROM vigil.block AS k WHERE k.account = p_account;
  UPDATE vigil.bucket AS b
     SET failures = '{}', locked_until = NULL, lock_count = 0, refused = 0, src = '{}',
         src_at = '{}', updated = v_now
   WHERE b.key = 'acct:' || p_account;
  UPDATE vigil.bucket AS b
     SET failures = '{}', locked_until = NULL, lock_count = 0, refused = 0, src = '{}',
         src_at = '{}', updated = v_now
   WHERE starts_with(b.key, 'dev:' || p_account || E'\n');
  UPDATE vigil.totp AS t SET failures = '{}'
   WHERE t.account = p_account AND cardinality(t.failures) > 0;
  DELETE FROM vigil.approval AS a WHERE a.account = p_account;
  seq := vigil.emit('unblock', p_account, p_actor,
                    jsonb_build_object('actor', p_actor, 'reason', p_reason, 'proof', v_proof,
                                       'approved_by', v_approved_by, 'was', v_block.reason));
  ok := true;
  reason := 'recovered';
  RETURN NEXT;
END
$$;

RESET ROLE;

---------------------------------------------------------------------------
-- Privileges
---------------------------------------------------------------------------
-- Nothing for PUBLIC (also on the tables: an explicit ACL). A host may run
-- the calls of its own part, and read the administrators and the pending
-- approvals: never the factors, the recovery codes or the seal key, never
-- the checking or HOTP functions, never pgcrypto.

REVOKE ALL ON ALL TABLES IN SCHEMA vigil FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA vigil FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA vigil FROM PUBLIC;

GRANT SELECT ON vigil.admin, vigil.approval TO vigil_host;
GRANT EXECUTE ON FUNCTION
  vigil.heartbeat(bigint),
  vigil.block_account(text, text, text),
  vigil.verify(text, text),
  vigil.totp_enroll(text, text, text),
  vigil.totp_confirm(text, text),
  vigil.recovery_codes(text, text, text),
  vigil.recover(text, text, text, text, text)
  TO vigil_host;

-- Everything of the schema belongs to vigil_owner: in particular no
-- SECURITY DEFINER function runs as the superuser who ran this file. And
-- the secrets are out of a host's reach.
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
    RAISE EXCEPTION 'vigil schema v2: an object is not owned by vigil_owner';
  END IF;
  IF has_schema_privilege('vigil_host', 'vigil_crypto', 'USAGE')
     OR has_table_privilege('vigil_host', 'vigil.seal_key', 'SELECT')
     OR has_table_privilege('vigil_host', 'vigil.totp', 'SELECT')
     OR has_table_privilege('vigil_host', 'vigil.recovery_code', 'SELECT')
     OR has_function_privilege('vigil_host', 'vigil.check_code(text, text)', 'EXECUTE')
     OR has_function_privilege('vigil_host', 'vigil.unseal(bytea)', 'EXECUTE') THEN
    RAISE EXCEPTION 'vigil schema v2: vigil_host may reach a secret';
  END IF;
END
$$;
