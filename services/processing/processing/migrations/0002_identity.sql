-- Issue 10: dossier.submitted.v2 carries no personal data. A case records who it is for and who filed it by
-- opaque subject ids (or an organisation's tax code), never names or personal id numbers.
ALTER TABLE dossiers ADD COLUMN IF NOT EXISTS applicant_kind      text;
ALTER TABLE dossiers ADD COLUMN IF NOT EXISTS applicant_subject   text;
ALTER TABLE dossiers ADD COLUMN IF NOT EXISTS applicant_tax_code  text;
ALTER TABLE dossiers ADD COLUMN IF NOT EXISTS submitter_kind      text;
ALTER TABLE dossiers ADD COLUMN IF NOT EXISTS submitter_subject   text;
ALTER TABLE dossiers ADD COLUMN IF NOT EXISTS receiving_unit_code text;
-- The personal data the v1 event brought goes: processing has no use for it.
ALTER TABLE dossiers DROP COLUMN IF EXISTS applicant_name;
ALTER TABLE dossiers DROP COLUMN IF EXISTS applicant_personal_id;

-- Each citizen's dossiers (as applicant or as submitter), newest first: one row per (subject, dossier), so
-- GET /me/dossiers is one index range scan in (received_at DESC, dossier_id DESC) order.
CREATE TABLE IF NOT EXISTS dossier_parties (
    subject     text        NOT NULL,
    dossier_id  uuid        NOT NULL REFERENCES dossiers (id),
    received_at timestamptz NOT NULL,
    applicant   boolean     NOT NULL DEFAULT false,
    submitter   boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (subject, dossier_id)
);
CREATE INDEX IF NOT EXISTS dossier_parties_by_subject_newest
    ON dossier_parties (subject, received_at DESC, dossier_id DESC);
