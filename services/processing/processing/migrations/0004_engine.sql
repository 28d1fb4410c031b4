-- Issue 6: procedures as data, run by one generic engine; the dossier's whole lifecycle.

-- Every published procedure version, as intake's catalogue announced it (procedure.version_published). A dossier
-- runs on the version it was received under, so versions are never changed or removed here.
CREATE TABLE IF NOT EXISTS procedure_versions (
    code          text        NOT NULL,
    version       integer     NOT NULL,
    definition    jsonb       NOT NULL,
    published_at  timestamptz NOT NULL,
    stored_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (code, version)
);

-- A dossier.submitted whose procedure version has not arrived yet waits here; the version's arrival opens it.
CREATE TABLE IF NOT EXISTS pending_submissions (
    dossier_id         uuid        PRIMARY KEY,
    procedure_code     text        NOT NULL,
    procedure_version  integer     NOT NULL,
    event_id           text        NOT NULL,
    data               jsonb       NOT NULL,
    stored_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS pending_submissions_by_version ON pending_submissions (procedure_code, procedure_version);

ALTER TABLE dossiers DROP CONSTRAINT IF EXISTS dossiers_status_check;
ALTER TABLE dossiers ADD CONSTRAINT dossiers_status_check CHECK (status IN
    ('submitted', 'processing', 'supplement_requested', 'approved', 'result_issued', 'completed', 'rejected',
     'refused'));
-- The unit holding the current step (the receiving unit, the competent unit or another agency), every unit that
-- held a step (they may read the dossier), and the unit chosen per unit level at a transfer ({level: {code, name}}).
ALTER TABLE dossiers ADD COLUMN IF NOT EXISTS current_unit_code text;
ALTER TABLE dossiers ADD COLUMN IF NOT EXISTS current_unit_name text;
ALTER TABLE dossiers ADD COLUMN IF NOT EXISTS involved_units text[] NOT NULL DEFAULT '{}';
ALTER TABLE dossiers ADD COLUMN IF NOT EXISTS agency_units jsonb NOT NULL DEFAULT '{}';
-- The legal clock: when it started (at receipt), the legal due date (moved by supplement pauses and restarts, never
-- by an extension: timeliness is classified against it) beside due_at, the current appointment (also moved by
-- extensions); while the applicant supplements, paused_at.
ALTER TABLE dossiers ADD COLUMN IF NOT EXISTS clock_started_at timestamptz;
ALTER TABLE dossiers ADD COLUMN IF NOT EXISTS legal_due_at timestamptz;
ALTER TABLE dossiers ADD COLUMN IF NOT EXISTS paused_at timestamptz;
ALTER TABLE dossiers ADD COLUMN IF NOT EXISTS supplement_count integer NOT NULL DEFAULT 0;
-- Overdue and due-soon detection: due_soon_at is when the due-soon window (office time before due_at) opens; the
-- marks are set in the transaction that writes the event and cleared when due_at moves.
ALTER TABLE dossiers ADD COLUMN IF NOT EXISTS due_soon_at timestamptz;
ALTER TABLE dossiers ADD COLUMN IF NOT EXISTS overdue_notified_at timestamptz;
ALTER TABLE dossiers ADD COLUMN IF NOT EXISTS due_soon_notified_at timestamptz;
-- Linked dossiers (Project 06 bundles) and the fee, as dossier.submitted announced them.
ALTER TABLE dossiers ADD COLUMN IF NOT EXISTS bundle jsonb;
ALTER TABLE dossiers ADD COLUMN IF NOT EXISTS fee_vnd integer;
ALTER TABLE dossiers ADD COLUMN IF NOT EXISTS refused_at timestamptz;
UPDATE dossiers SET current_unit_code = unit_code, current_unit_name = unit_name WHERE current_unit_code IS NULL;
UPDATE dossiers SET legal_due_at = due_at WHERE legal_due_at IS NULL;
UPDATE dossiers SET involved_units = ARRAY[unit_code] WHERE involved_units = '{}';
ALTER TABLE dossiers ALTER COLUMN current_unit_code SET NOT NULL;
ALTER TABLE dossiers ALTER COLUMN current_unit_name SET NOT NULL;
ALTER TABLE dossiers ALTER COLUMN legal_due_at SET NOT NULL;

-- The work queue now lists the unit holding the current step, and the open statuses include supplement_requested.
DROP INDEX IF EXISTS dossiers_open_by_due;
DROP INDEX IF EXISTS dossiers_open_by_unit_due;
CREATE INDEX IF NOT EXISTS dossiers_open_by_due_v2 ON dossiers (due_at, id)
    WHERE status IN ('submitted', 'processing', 'supplement_requested', 'approved', 'result_issued');
CREATE INDEX IF NOT EXISTS dossiers_open_by_current_unit_due ON dossiers (current_unit_code, due_at, id)
    WHERE status IN ('submitted', 'processing', 'supplement_requested', 'approved', 'result_issued');
-- The detectors' scans: running dossiers not yet announced overdue / due soon, by due date.
CREATE INDEX IF NOT EXISTS dossiers_overdue_watch ON dossiers (due_at)
    WHERE overdue_notified_at IS NULL AND status IN ('submitted', 'processing', 'approved', 'result_issued');
CREATE INDEX IF NOT EXISTS dossiers_due_soon_watch ON dossiers (due_soon_at)
    WHERE due_soon_notified_at IS NULL AND status IN ('submitted', 'processing', 'approved', 'result_issued');

-- Each step of the process control sheet (form 05): the action that ended it.
ALTER TABLE steps ADD COLUMN IF NOT EXISTS action text;

-- Supplement requests (form 02) and the applicant's answer to each.
CREATE TABLE IF NOT EXISTS supplement_requests (
    dossier_id            uuid        NOT NULL REFERENCES dossiers (id),
    seq                   integer     NOT NULL,
    step                  text        NOT NULL,
    unit_code             text        NOT NULL,
    unit_name             text        NOT NULL,
    requested_by          text        NOT NULL,
    requested_by_name     text,
    requested_at          timestamptz NOT NULL,
    reason                text        NOT NULL,
    components_requested  text[]      NOT NULL DEFAULT '{}',
    status_before         text        NOT NULL,
    clock_rule            text        NOT NULL CHECK (clock_rule IN ('pause', 'restart')),
    due_at_request        timestamptz NOT NULL,
    supplemented_at       timestamptz,
    supplemented_by_kind  text,
    supplemented_by       text,
    note                  text,
    document_ids          uuid[],
    due_at_resume         timestamptz,
    PRIMARY KEY (dossier_id, seq)
);

-- Extensions (form 04: apology and new appointment).
CREATE TABLE IF NOT EXISTS extensions (
    dossier_id        uuid        NOT NULL REFERENCES dossiers (id),
    seq               integer     NOT NULL,
    unit_code         text        NOT NULL,
    unit_name         text        NOT NULL,
    extended_by       text        NOT NULL,
    extended_by_name  text,
    extended_at       timestamptz NOT NULL,
    reason            text        NOT NULL,
    previous_due_at   timestamptz NOT NULL,
    new_due_at        timestamptz NOT NULL,
    PRIMARY KEY (dossier_id, seq)
);

-- Why the dossier's due date is what it is: every change (receipt, pause, resume, restart, extension).
CREATE TABLE IF NOT EXISTS due_changes (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dossier_id      uuid        NOT NULL REFERENCES dossiers (id),
    changed_at      timestamptz NOT NULL,
    kind            text        NOT NULL CHECK (kind IN ('received', 'paused', 'resumed', 'restarted', 'extended')),
    reason          text        NOT NULL,
    previous_due_at timestamptz,
    due_at          timestamptz
);
CREATE INDEX IF NOT EXISTS due_changes_by_dossier ON due_changes (dossier_id, changed_at, id);

-- Idempotent officer and citizen writes (Idempotency-Key): the first answer is replayed to a retry.
CREATE TABLE IF NOT EXISTS idempotent_requests (
    caller        text        NOT NULL,
    key           text        NOT NULL,
    operation     text        NOT NULL,
    request_hash  text        NOT NULL,
    status_code   integer     NOT NULL,
    response      jsonb       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, key)
);

-- Unit names as dossier.submitted announced them, to name the unit of a step after a transfer.
CREATE TABLE IF NOT EXISTS units (
    code  text PRIMARY KEY,
    name  text NOT NULL
);
INSERT INTO units (code, name) SELECT DISTINCT ON (unit_code) unit_code, unit_name FROM dossiers
    ON CONFLICT DO NOTHING;
