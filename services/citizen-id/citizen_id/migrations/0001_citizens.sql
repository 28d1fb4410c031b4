-- The mock national population database (CSDL quốc gia về dân cư): one row per citizen.
-- Addresses use the administrative units in force since 1 Jul 2025 (province + ward/commune).
CREATE TABLE citizens (
    personal_id       char(12)    PRIMARY KEY CHECK (personal_id ~ '^[0-9]{12}$'),
    full_name         text        NOT NULL,
    family_name       text        NOT NULL,
    middle_name       text        NOT NULL DEFAULT '',
    given_name        text        NOT NULL,
    date_of_birth     date        NOT NULL,
    sex               text        NOT NULL CHECK (sex IN ('male', 'female')),
    province_code     text        NOT NULL,
    province_name     text        NOT NULL,
    ward_code         text        NOT NULL,
    ward_name         text        NOT NULL,
    street            text        NOT NULL,
    permanent_address text        NOT NULL,
    email             text,
    phone             text,
    status            text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'deceased')),
    created_at        timestamptz NOT NULL DEFAULT now()
);

-- Every lookup of a citizen's data, with its stated purpose: the citizen can see all of them.
CREATE TABLE access_log (
    id            bigserial   PRIMARY KEY,
    personal_id   char(12)    NOT NULL REFERENCES citizens (personal_id),
    purpose       text        NOT NULL CHECK (purpose <> ''),
    requested_by  text        NOT NULL,
    fields        text[]      NOT NULL,
    accessed_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX access_log_citizen_time_idx ON access_log (personal_id, accessed_at DESC, id DESC);
