-- Issue 8: SMS and OTT channels beside e-mail and the in-app inbox; delivery states, every attempt and the
-- provider's receipt; the citizen's preferences; the fallback chain; dead letters; provider rate limits.

ALTER TABLE notifications DROP CONSTRAINT IF EXISTS notifications_channel_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_channel_check CHECK (channel IN ('app', 'email', 'sms', 'ott'));

-- queued -> sending -> delivered | failed_temporary (retried) | failed_permanent. Old rows: pending -> queued,
-- sent (accepted by the SMTP server, our proof of delivery for e-mail) -> delivered, failed -> failed_permanent.
ALTER TABLE notifications DROP CONSTRAINT IF EXISTS notifications_status_check;
UPDATE notifications SET status = CASE status WHEN 'pending' THEN 'queued' WHEN 'sent' THEN 'delivered'
                                              WHEN 'failed' THEN 'failed_permanent' ELSE status END;
ALTER TABLE notifications ADD CONSTRAINT notifications_status_check
    CHECK (status IN ('queued', 'sending', 'delivered', 'failed_temporary', 'failed_permanent'));

-- The idempotency key of every provider call: uuid5 of (event id, recipient subject, channel), the same after any
-- redelivery or restart (domain.idempotency_key); old rows keep their id. UNIQUE (event_id, channel) stays the
-- "exactly once per event, recipient and channel" guard: a dossier has one recipient.
ALTER TABLE notifications ADD COLUMN IF NOT EXISTS idempotency_key uuid;
UPDATE notifications SET idempotency_key = id WHERE idempotency_key IS NULL;
ALTER TABLE notifications ALTER COLUMN idempotency_key SET NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS notifications_by_idempotency_key ON notifications (idempotency_key);
ALTER TABLE notifications ADD COLUMN IF NOT EXISTS template_version integer NOT NULL DEFAULT 1;
-- The event's payload (no personal data: dossier events carry none), to render a fallback channel's message.
ALTER TABLE notifications ADD COLUMN IF NOT EXISTS event_data jsonb;
ALTER TABLE notifications ADD COLUMN IF NOT EXISTS fallback_of uuid REFERENCES notifications (id);
ALTER TABLE notifications ADD COLUMN IF NOT EXISTS accepted_at timestamptz;
ALTER TABLE notifications ADD COLUMN IF NOT EXISTS provider_message_id text;
ALTER TABLE notifications ADD COLUMN IF NOT EXISTS receipt jsonb;
ALTER TABLE notifications ADD COLUMN IF NOT EXISTS delivered_at timestamptz;
UPDATE notifications SET delivered_at = sent_at WHERE status = 'delivered' AND delivered_at IS NULL;

-- What the deliverer claims: due rows not yet accepted by their provider (a 'sending' row whose lease ran out was
-- being sent by a process that died).
DROP INDEX IF EXISTS notifications_due_email;
CREATE INDEX IF NOT EXISTS notifications_due ON notifications (next_attempt_at)
    WHERE status IN ('queued', 'sending', 'failed_temporary') AND accepted_at IS NULL;
CREATE INDEX IF NOT EXISTS notifications_by_provider_message ON notifications (provider_message_id)
    WHERE provider_message_id IS NOT NULL;

DROP TRIGGER IF EXISTS notifications_email_notify ON notifications;
DROP FUNCTION IF EXISTS notifications_email_notify();
-- Wakes the deliverer (LISTEN notify_delivery) as soon as the consumer's transaction commits.
CREATE OR REPLACE FUNCTION notifications_delivery_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('notify_delivery', '');
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER notifications_delivery_notify AFTER INSERT OR UPDATE OF status ON notifications
    FOR EACH ROW WHEN (NEW.status = 'queued' AND NEW.channel <> 'app')
    EXECUTE FUNCTION notifications_delivery_notify();

-- Every try of a notification, with what the provider answered.
CREATE TABLE IF NOT EXISTS delivery_attempts (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    notification_id     uuid        NOT NULL REFERENCES notifications (id),
    attempt             integer     NOT NULL,
    channel             text        NOT NULL,
    started_at          timestamptz NOT NULL,
    finished_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    outcome             text        NOT NULL
        CHECK (outcome IN ('accepted', 'failed_temporary', 'failed_permanent', 'rate_limited')),
    detail              text,
    provider_message_id text
);
CREATE INDEX IF NOT EXISTS delivery_attempts_by_notification ON delivery_attempts (notification_id, id);

-- A citizen's preferences, by opaque subject (token `sub`).
CREATE TABLE IF NOT EXISTS notification_preferences (
    recipient_subject text PRIMARY KEY,
    channels          text[]      NOT NULL DEFAULT '{}',
    quiet_start       time,
    quiet_end         time,
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- What never got through (no fallback left): operators list and replay them.
CREATE TABLE IF NOT EXISTS dead_letters (
    id              uuid PRIMARY KEY,
    notification_id uuid        NOT NULL REFERENCES notifications (id),
    dossier_code    text        NOT NULL,
    channel         text        NOT NULL,
    error           text        NOT NULL,
    attempts        integer     NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    replayed_at     timestamptz,
    replayed_by     text
);
CREATE UNIQUE INDEX IF NOT EXISTS dead_letters_open ON dead_letters (notification_id) WHERE replayed_at IS NULL;
CREATE INDEX IF NOT EXISTS dead_letters_by_time ON dead_letters (created_at DESC, id DESC);

-- A provider's 429 slows its channel for every replica until this time (Retry-After).
CREATE TABLE IF NOT EXISTS channel_throttles (
    channel text PRIMARY KEY,
    until   timestamptz NOT NULL
);
