-- Issue 10: dossier.submitted.v2 carries no personal data. Whom to tell, and how, arrives separately as
-- dossier.contact.v1 on the restricted personal topic, in any order relative to the dossier's events.

-- A dossier's contact: the recipient by opaque subject (token `sub`), never by personal id number.
ALTER TABLE recipients ADD COLUMN IF NOT EXISTS recipient_subject text;
ALTER TABLE recipients DROP COLUMN IF EXISTS personal_id;
CREATE INDEX IF NOT EXISTS recipients_by_code ON recipients (dossier_code, recipient_subject);

-- Each notification names its recipient; the in-app inbox records when it was read.
ALTER TABLE notifications ADD COLUMN IF NOT EXISTS recipient_subject text;
ALTER TABLE notifications ADD COLUMN IF NOT EXISTS read_at timestamptz;
-- App rows used to carry the applicant's personal id as their "address": gone.
UPDATE notifications SET recipient = NULL WHERE channel = 'app' AND recipient IS NOT NULL;
-- GET /me/notifications (newest first), all and unread only.
CREATE INDEX IF NOT EXISTS notifications_inbox ON notifications (recipient_subject, created_at DESC, id DESC)
    WHERE channel = 'app';
CREATE INDEX IF NOT EXISTS notifications_inbox_unread ON notifications (recipient_subject, created_at DESC, id DESC)
    WHERE channel = 'app' AND read_at IS NULL;

-- Dossier events that arrived before the dossier's contact: kept here, rendered and delivered when the
-- contact arrives (both in transactions serialised per dossier by an advisory lock).
CREATE TABLE IF NOT EXISTS pending_events (
    event_id     text PRIMARY KEY,
    dossier_id   uuid        NOT NULL,
    dossier_code text        NOT NULL,
    event_type   text        NOT NULL,
    data         jsonb       NOT NULL,
    occurred_at  timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS pending_events_by_dossier ON pending_events (dossier_id);
