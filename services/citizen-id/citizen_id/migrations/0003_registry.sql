-- Issue 10: the registry answers only for a caller it can name.
-- Opaque subject ids, households (mandates for minors and wards), written authorizations, a mock business
-- registry with its authorizations, a richer access log, and correction requests from citizens.

-- The `sub` of the citizen's tokens and the reference other services keep (never the personal id itself).
-- Nullable only so that rows seeded before this migration can be backfilled by the seed.
ALTER TABLE citizens ADD COLUMN subject text COLLATE "C";
CREATE UNIQUE INDEX citizens_subject_key ON citizens (subject);

-- What the seed has loaded already, so that a re-run can stop after one cheap query.
CREATE TABLE seed_state (
    name          text        PRIMARY KEY,
    random_seed   bigint      NOT NULL,
    count         bigint      NOT NULL,
    secret_hash   text        NOT NULL,
    seeded_at     timestamptz NOT NULL DEFAULT now()
);

-- Households (hộ gia đình) as the residence registry records them. Relations are to the head.
-- The members' dates of birth are part of the household record, so a mandate (is this a minor of my household?)
-- is decided here, without reading the population record of the person asked about.
CREATE TABLE households (
    id            bigint      PRIMARY KEY,
    ward_code     text        NOT NULL,
    address       text        NOT NULL
);

CREATE TABLE household_members (
    household_id  bigint      NOT NULL REFERENCES households (id),
    personal_id   char(12)    NOT NULL,
    relation      text        NOT NULL CHECK (relation IN ('head', 'spouse', 'child', 'ward', 'parent', 'other')),
    date_of_birth date        NOT NULL,
    PRIMARY KEY (household_id, personal_id)
);
CREATE INDEX household_members_person_idx ON household_members (personal_id);

-- Written authorizations (giấy ủy quyền): the grantor lets the grantee act for them within the validity period.
CREATE TABLE authorizations (
    id            bigint      PRIMARY KEY,
    grantor_id    char(12)    NOT NULL,
    grantee_id    char(12)    NOT NULL CHECK (grantee_id <> grantor_id),
    scope         text        NOT NULL,
    valid_from    date        NOT NULL,
    valid_to      date        NOT NULL CHECK (valid_to >= valid_from),
    document_ref  text        NOT NULL
);
CREATE INDEX authorizations_grantee_idx ON authorizations (grantee_id, grantor_id);
CREATE INDEX authorizations_grantor_idx ON authorizations (grantor_id);

-- The mock national business registry (đăng ký doanh nghiệp).
CREATE TABLE companies (
    tax_code              char(10)  PRIMARY KEY CHECK (tax_code ~ '^[0-9]{10}$'),
    name                  text      NOT NULL,
    address               text      NOT NULL,
    legal_representative  char(12)  NOT NULL,
    status                text      NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'dissolved'))
);
CREATE INDEX companies_representative_idx ON companies (legal_representative);

-- A company's authorization of a person to carry out procedures for it.
CREATE TABLE business_authorizations (
    id            bigint      PRIMARY KEY,
    tax_code      char(10)    NOT NULL REFERENCES companies (tax_code),
    grantee_id    char(12)    NOT NULL,
    scope         text        NOT NULL,
    valid_from    date        NOT NULL,
    valid_to      date        NOT NULL CHECK (valid_to >= valid_from),
    document_ref  text        NOT NULL
);
CREATE INDEX business_authorizations_grantee_idx ON business_authorizations (grantee_id, tax_code);

-- Every read names its caller (kind + subject/username/client id, never a name), the service it came through,
-- the mandate it used, the purpose and the dossier. Organisation reads have a tax code instead of a personal id.
ALTER TABLE access_log ALTER COLUMN personal_id DROP NOT NULL;
ALTER TABLE access_log
    ADD COLUMN tax_code      char(10),
    ADD COLUMN caller_kind   text,
    ADD COLUMN caller_id     text,
    ADD COLUMN caller_unit   text,
    ADD COLUMN via_service   text,
    ADD COLUMN on_behalf_via text,
    ADD COLUMN dossier_ref   text,
    ADD CONSTRAINT access_log_target_chk CHECK ((personal_id IS NULL) <> (tax_code IS NULL));
CREATE INDEX access_log_company_time_idx ON access_log (tax_code, accessed_at DESC, id DESC) WHERE tax_code IS NOT NULL;

-- A citizen flagged a field prefilled from the registry as wrong (event registry.correction_requested.v1).
CREATE TABLE correction_requests (
    correction_id   uuid        PRIMARY KEY,
    personal_id     char(12)    NOT NULL,
    field           text        NOT NULL,
    registry_value  text,
    proposed_value  text,
    note            text,
    dossier_id      uuid        NOT NULL,
    dossier_code    text        NOT NULL,
    requested_at    timestamptz NOT NULL,
    status          text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'accepted', 'rejected')),
    event_id        text        NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX correction_requests_person_idx ON correction_requests (personal_id, requested_at DESC);
