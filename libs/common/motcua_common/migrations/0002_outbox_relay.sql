-- Outbox relay hardening (issue 5): per-row failures, parking, short leases instead of held row locks.
--   failures         failed publish attempts blamed on the row itself (a broker outage does not count); reset by
--                    an operator's retry. `attempts` keeps counting every try, `last_error` the last failure.
--   next_attempt_at  the row (and so its key) waits until then after a failure (exponential backoff).
--   parked_at        set after too many failures: the relay skips the row, and later rows of its topic and key wait behind it,
--                    until an operator retries it (python -m motcua_common.outbox_admin).
--   leased_by/until  the relay that claimed the row and until when; a crashed relay's lease simply expires.
ALTER TABLE outbox
    ADD COLUMN IF NOT EXISTS failures        integer NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS next_attempt_at timestamptz,
    ADD COLUMN IF NOT EXISTS parked_at       timestamptz,
    ADD COLUMN IF NOT EXISTS leased_by       text,
    ADD COLUMN IF NOT EXISTS leased_until    timestamptz;

-- The relay's "is this (topic, key) held?" probe: only rows that failed, are parked or leased are in it (a handful).
CREATE INDEX IF NOT EXISTS outbox_held ON outbox (key)
    WHERE published_at IS NULL AND (parked_at IS NOT NULL OR next_attempt_at IS NOT NULL OR leased_until IS NOT NULL);
