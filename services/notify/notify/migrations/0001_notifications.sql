-- The applicant of each dossier, learnt from its submitted event; later events of the dossier look it up.
CREATE TABLE IF NOT EXISTS recipients (
    dossier_id      uuid PRIMARY KEY,
    dossier_code    text        NOT NULL,
    personal_id     text        NOT NULL,
    full_name       text        NOT NULL,
    email           text,
    phone           text,
    channels        text[]      NOT NULL DEFAULT '{app}',
    procedure_name  text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- One row per (event, channel). App rows are the in-app inbox (delivered at once); email rows are the
-- sender's own outbox: pending until sent, retried with backoff, failed after max attempts.
CREATE TABLE IF NOT EXISTS notifications (
    id               uuid PRIMARY KEY,
    dossier_id       uuid        NOT NULL,
    dossier_code     text        NOT NULL,
    event_id         text        NOT NULL,
    event_type       text        NOT NULL,
    channel          text        NOT NULL CHECK (channel IN ('app', 'email', 'sms')),
    recipient        text,
    subject          text        NOT NULL,
    body             text        NOT NULL,
    status           text        NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'delivered')),
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    sent_at          timestamptz,
    UNIQUE (event_id, channel)
);
CREATE INDEX IF NOT EXISTS notifications_by_code ON notifications (dossier_code, created_at, id);
CREATE INDEX IF NOT EXISTS notifications_due_email ON notifications (next_attempt_at)
    WHERE channel = 'email' AND status = 'pending';

-- Wakes the email sender (LISTEN notify_email) as soon as the consumer's transaction commits.
CREATE OR REPLACE FUNCTION notifications_email_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('notify_email', '');
    RETURN NULL;
END $$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS notifications_email_notify ON notifications;
CREATE TRIGGER notifications_email_notify AFTER INSERT ON notifications
    FOR EACH ROW WHEN (NEW.channel = 'email' AND NEW.status = 'pending')
    EXECUTE FUNCTION notifications_email_notify();
