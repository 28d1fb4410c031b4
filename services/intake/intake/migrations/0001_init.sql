-- Competent units (agencies, service centres, delegated bodies) that receive and process dossiers.
CREATE TABLE units (
    code        text PRIMARY KEY,           -- e.g. 000.26.01.H29
    name        text NOT NULL,
    level       text NOT NULL CHECK (level IN ('province', 'commune', 'commune_police', 'delegated'))
);

-- The procedure catalogue, versioned: a dossier keeps the version it was received under.
CREATE TABLE procedures (
    code             text    NOT NULL,       -- national catalogue code, e.g. 1.001193
    version          integer NOT NULL,
    is_current       boolean NOT NULL DEFAULT true,
    name             text    NOT NULL,
    field            text    NOT NULL,       -- lĩnh vực
    level            text    NOT NULL CHECK (level IN ('province', 'commune', 'commune_police', 'delegated')),
    unit_code        text    NOT NULL REFERENCES units (code),
    processing_days  integer NOT NULL CHECK (processing_days >= 0),
    fee_vnd          integer NOT NULL DEFAULT 0,
    fee_online_vnd   integer,
    fee_note         text,
    online_level     text    NOT NULL CHECK (online_level IN ('full', 'partial')),
    components       jsonb   NOT NULL DEFAULT '[]'::jsonb,
    legal_basis      text,
    effective_from   date    NOT NULL DEFAULT DATE '2025-07-01',
    PRIMARY KEY (code, version)
);
CREATE UNIQUE INDEX procedures_one_current ON procedures (code) WHERE is_current;

-- Per unit and day, the last sequence number used in dossier codes.
CREATE TABLE dossier_sequences (
    unit_code  text    NOT NULL,
    day        date    NOT NULL,
    last       integer NOT NULL,
    PRIMARY KEY (unit_code, day)
);

CREATE TABLE dossiers (
    id                  uuid PRIMARY KEY,
    code                text        NOT NULL UNIQUE,
    procedure_code      text        NOT NULL,
    procedure_version   integer     NOT NULL,
    procedure_snapshot  jsonb       NOT NULL,   -- the rules the dossier was received under
    unit_code           text        NOT NULL REFERENCES units (code),
    channel             text        NOT NULL,
    applicant_personal_id char(12)  NOT NULL,
    applicant           jsonb       NOT NULL,   -- prefilled from the population database + contact
    form_data           jsonb       NOT NULL DEFAULT '{}'::jsonb,
    components          jsonb       NOT NULL DEFAULT '[]'::jsonb,
    notify_channels     text[]      NOT NULL,
    submitted_at        timestamptz NOT NULL,
    received_at         timestamptz NOT NULL,
    appointment_at      timestamptz NOT NULL,
    idempotency_key     text UNIQUE,
    request_hash        text,
    FOREIGN KEY (procedure_code, procedure_version) REFERENCES procedures (code, version)
);
CREATE INDEX dossiers_applicant ON dossiers (applicant_personal_id, submitted_at DESC);
