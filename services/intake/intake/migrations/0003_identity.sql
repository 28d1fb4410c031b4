-- Issue 10: who submitted a dossier and for whom, where each applicant field came from, idempotency keys
-- scoped per submitter, corrections of registry data, and the citizen's document vault.

ALTER TABLE dossiers
    ALTER COLUMN applicant_personal_id DROP NOT NULL,               -- organisations have none
    ADD COLUMN applicant_kind      text NOT NULL DEFAULT 'citizen' CHECK (applicant_kind IN ('citizen', 'organisation')),
    ADD COLUMN applicant_subject   text,                            -- citizen: opaque subject id (token `sub`)
    ADD COLUMN applicant_tax_code  text,                            -- organisation: tax code
    ADD COLUMN submitter_kind      text CHECK (submitter_kind IN ('citizen', 'officer', 'partner')),
    ADD COLUMN submitter_subject   text,
    ADD COLUMN on_behalf_via       text,                            -- the registry's answer: self, household...
    ADD COLUMN receiving_unit_code text REFERENCES units (code),    -- counter / service centre; null online
    ADD COLUMN field_origins       jsonb NOT NULL DEFAULT '{}'::jsonb; -- {"full_name": "registry", "email": "typed"}

-- An Idempotency-Key is the submitter's own: two callers with the same key never meet.
ALTER TABLE dossiers DROP CONSTRAINT dossiers_idempotency_key_key;
CREATE UNIQUE INDEX dossiers_submitter_idempotency ON dossiers (submitter_kind, submitter_subject, idempotency_key);
CREATE INDEX dossiers_applicant_subject ON dossiers (applicant_subject) WHERE applicant_subject IS NOT NULL;
CREATE INDEX dossiers_submitter_subject ON dossiers (submitter_subject) WHERE submitter_subject IS NOT NULL;
CREATE INDEX dossiers_procedure ON dossiers (procedure_code);

-- A citizen's flag on a field prefilled from the population registry.
CREATE TABLE dossier_corrections (
    id               uuid PRIMARY KEY,
    dossier_id       uuid        NOT NULL REFERENCES dossiers (id),
    field            text        NOT NULL,
    registry_value   text,
    proposed_value   text,
    note             text,
    requested_by     text        NOT NULL,                          -- the citizen's subject
    requested_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dossier_corrections_dossier ON dossier_corrections (dossier_id, requested_at);

-- The citizen's vault: uploads (content in PostgreSQL) and results of earlier dossiers (no file here).
CREATE TABLE documents (
    id             uuid PRIMARY KEY,
    owner_subject  text        NOT NULL,
    kind           text        NOT NULL CHECK (kind IN ('upload', 'result')),
    doc_type       text        NOT NULL,
    file_name      text,
    content_type   text,
    size_bytes     integer,
    sha256         char(64),
    content        bytea,
    dossier_id     uuid,                                            -- results: the dossier that produced it
    dossier_code   text,
    result_number  text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'upload') = (content IS NOT NULL AND sha256 IS NOT NULL))
);
CREATE UNIQUE INDEX documents_owner_hash ON documents (owner_subject, sha256) WHERE kind = 'upload';
CREATE UNIQUE INDEX documents_owner_result ON documents (owner_subject, dossier_id) WHERE kind = 'result';
CREATE INDEX documents_owner_created ON documents (owner_subject, created_at DESC, id DESC);
