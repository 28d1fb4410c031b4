-- Issue 6: each procedure version is a definition (motcua_common.procedures.ProcedureDefinition) stored whole;
-- the version used for a dossier is the one in force on its receipt date (effective dates), not a flag.

-- Where each unit is, in the codes of the `vietnam-provinces` package (current units since 2025-07-01): the
-- province, and for commune-level units the ward or commune. An inter-agency step of a given level (e.g. the
-- commune police) goes to the unit of that level in the competent unit's area.
ALTER TABLE units
    ADD COLUMN province_code integer,
    ADD COLUMN ward_code     integer;
UPDATE units SET province_code = 1 WHERE code IN ('000.00.01.H29', '000.26.01.H29', '000.26.02.H29');  -- Hà Nội
UPDATE units SET ward_code = 70 WHERE code IN ('000.26.01.H29', '000.26.02.H29');                    -- Phường Hoàn Kiếm

-- The units the shipped catalogue needs (demo codes in the style of the existing ones; not official codes).
INSERT INTO units (code, name, level, province_code, ward_code) VALUES
    ('000.10.00.H29', 'Sở Tư pháp thành phố Hà Nội', 'province', 1, NULL),
    ('000.11.00.H29', 'Phòng Đăng ký kinh doanh - Sở Tài chính thành phố Hà Nội', 'province', 1, NULL),
    ('000.12.00.H29', 'Bảo hiểm xã hội thành phố Hà Nội', 'province', 1, NULL),
    ('VCCI.HN', 'Liên đoàn Thương mại và Công nghiệp Việt Nam (VCCI)', 'delegated', 1, NULL)
ON CONFLICT (code) DO NOTHING;

-- The province's assignment of each procedure to its competent unit: the unit a newly published version is
-- processed by (an operator may name another unit of the same level when publishing).
CREATE TABLE procedure_units (
    procedure_code text PRIMARY KEY,
    unit_code      text NOT NULL REFERENCES units (code)
);
INSERT INTO procedure_units (procedure_code, unit_code) VALUES
    ('1.001193', '000.26.01.H29'),
    ('1.000894', '000.26.01.H29'),
    ('1.000656', '000.26.01.H29'),
    ('1.004873', '000.26.01.H29'),
    ('2.000815', '000.26.01.H29'),
    ('1.004222', '000.26.02.H29'),
    ('1.004194', '000.26.02.H29'),
    ('MC-XOA-THUONG-TRU', '000.26.02.H29'),
    ('MC-LY-LICH-TU-PHAP', '000.10.00.H29'),
    ('MC-GPXD-NHA-O', '000.26.01.H29'),
    ('MC-DKDN-THANH-LAP', '000.11.00.H29'),
    ('MC-CO-UU-DAI', 'VCCI.HN'),
    ('MC-BHYT-TRE-EM', '000.12.00.H29'),
    ('MC-MAI-TANG', '000.12.00.H29'),
    ('1.007073', '000.26.01.H29'),
    ('MC-LT-KHAI-SINH', '000.26.01.H29'),
    ('1.011537', '000.26.01.H29')
ON CONFLICT (procedure_code) DO NOTHING;

-- The versions: the whole definition (JSON), who published it and when, and the end of its window as the catalogue
-- keeps it (the day before its successor comes into force, or the definition's own effective_to). The rows seeded
-- by 0002 have no definition until the shipped files are loaded (`make migrate`), which fills them.
ALTER TABLE procedures
    ADD COLUMN definition   jsonb,
    ADD COLUMN effective_to date,
    ADD COLUMN published_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN published_by text,
    ADD COLUMN source       text NOT NULL DEFAULT 'shipped' CHECK (source IN ('shipped', 'operator'));
DROP INDEX procedures_one_current;
ALTER TABLE procedures DROP COLUMN is_current;
CREATE INDEX procedures_in_force ON procedures (code, effective_from DESC);

-- What a dossier was charged and the legal time it runs on, and the bundle it belongs to (Project 06 groups: one
-- dossier per member, linked by bundle_id).
ALTER TABLE dossiers
    ADD COLUMN fee_vnd        integer,
    ADD COLUMN budget         jsonb,
    ADD COLUMN bundle_id      uuid,
    ADD COLUMN bundle_code    text,
    ADD COLUMN bundle_version integer;
UPDATE dossiers SET
    fee_vnd = CASE WHEN channel = 'online' AND procedure_snapshot->>'fee_online_vnd' IS NOT NULL
                   THEN (procedure_snapshot->>'fee_online_vnd')::integer
                   ELSE (procedure_snapshot->>'fee_vnd')::integer END,
    budget = jsonb_build_object('working_days', (procedure_snapshot->>'processing_days')::integer)
WHERE fee_vnd IS NULL;
ALTER TABLE dossiers ALTER COLUMN fee_vnd SET NOT NULL, ALTER COLUMN budget SET NOT NULL;
CREATE INDEX dossiers_bundle ON dossiers (bundle_id) WHERE bundle_id IS NOT NULL;
