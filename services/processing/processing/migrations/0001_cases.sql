-- A case per dossier received from intake, and its workflow steps (the process control sheet, form 05).
CREATE TABLE IF NOT EXISTS dossiers (
    id                    uuid PRIMARY KEY,
    code                  text        NOT NULL UNIQUE,
    procedure_code        text        NOT NULL,
    procedure_name        text        NOT NULL,
    procedure_version     integer     NOT NULL,
    channel               text        NOT NULL,
    applicant_personal_id text        NOT NULL,
    applicant_name        text        NOT NULL,
    unit_code             text        NOT NULL,
    unit_name             text        NOT NULL,
    status                text        NOT NULL CHECK (status IN
                              ('submitted', 'processing', 'approved', 'rejected', 'result_issued', 'completed')),
    received_at           timestamptz NOT NULL,
    due_at                timestamptz NOT NULL,
    current_step          text,
    current_handler       text,
    rejection_reason      text,
    result_number         text,
    result_issued_at      timestamptz,
    timeliness            text CHECK (timeliness IN ('early', 'on_time', 'late')),
    return_method         text CHECK (return_method IN ('online', 'counter', 'post')),
    completed_at          timestamptz,
    version               integer     NOT NULL DEFAULT 1,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);

-- The work queue: open dossiers by due date, optionally per unit.
CREATE INDEX IF NOT EXISTS dossiers_open_by_due ON dossiers (due_at, id)
    WHERE status IN ('submitted', 'processing', 'approved', 'result_issued');
CREATE INDEX IF NOT EXISTS dossiers_open_by_unit_due ON dossiers (unit_code, due_at, id)
    WHERE status IN ('submitted', 'processing', 'approved', 'result_issued');

CREATE TABLE IF NOT EXISTS steps (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dossier_id    uuid        NOT NULL REFERENCES dossiers (id),
    seq           integer     NOT NULL,
    step          text        NOT NULL,
    name_vi       text        NOT NULL,
    unit_code     text        NOT NULL,
    unit_name     text        NOT NULL,
    handler       text,
    handler_name  text,
    entered_at    timestamptz NOT NULL,
    due_at        timestamptz NOT NULL,
    completed_at  timestamptz,
    outcome       text,
    note          text,
    UNIQUE (dossier_id, seq)
);
