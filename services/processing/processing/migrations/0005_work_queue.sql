-- Issue 6: officers' work queues per unit and role, and the predicted completion date.

-- The roles the procedure's definition gives the dossier's current step ({} once the dossier is final), kept on the
-- row so that "the steps my roles may take" is an index condition, not a look-up in the definition per row.
ALTER TABLE dossiers ADD COLUMN IF NOT EXISTS current_roles text[] NOT NULL DEFAULT '{}';
UPDATE dossiers d
SET current_roles = ARRAY(SELECT jsonb_array_elements_text(s -> 'roles'))
FROM procedure_versions v, jsonb_array_elements(v.definition -> 'steps') s
WHERE v.code = d.procedure_code AND v.version = d.procedure_version AND s ->> 'key' = d.current_step
  AND d.status IN ('submitted', 'processing', 'supplement_requested', 'approved', 'result_issued');

-- The queue is read in (due_at, id) order within the unit holding the current step (dossiers_open_by_current_unit_due,
-- 0004, serves the whole unit and the overdue / due-soon ranges; dossiers_open_by_due_v2 the whole province).
-- One partial index per role a step names, so an officer's own queue (the steps one of their roles may take) is a
-- range scan of exactly those rows; the unit head and the provincial operator see the whole unit.
-- The predicates must stay textually what repository.work_queue writes (the planner proves them from the query).
CREATE INDEX IF NOT EXISTS dossiers_queue_receiving_officer ON dossiers (current_unit_code, due_at, id)
    WHERE status IN ('submitted', 'processing', 'supplement_requested', 'approved', 'result_issued')
      AND current_roles @> '{receiving_officer}'::text[];
CREATE INDEX IF NOT EXISTS dossiers_queue_specialist ON dossiers (current_unit_code, due_at, id)
    WHERE status IN ('submitted', 'processing', 'supplement_requested', 'approved', 'result_issued')
      AND current_roles @> '{specialist}'::text[];
CREATE INDEX IF NOT EXISTS dossiers_queue_approver ON dossiers (current_unit_code, due_at, id)
    WHERE status IN ('submitted', 'processing', 'supplement_requested', 'approved', 'result_issued')
      AND current_roles @> '{approver}'::text[];
-- The filters by procedure, by step and by status, each a range of its own within the unit.
CREATE INDEX IF NOT EXISTS dossiers_queue_by_procedure ON dossiers (current_unit_code, procedure_code, due_at, id)
    WHERE status IN ('submitted', 'processing', 'supplement_requested', 'approved', 'result_issued');
CREATE INDEX IF NOT EXISTS dossiers_queue_by_step ON dossiers (current_unit_code, current_step, due_at, id)
    WHERE status IN ('submitted', 'processing', 'supplement_requested', 'approved', 'result_issued');
CREATE INDEX IF NOT EXISTS dossiers_queue_by_status ON dossiers (current_unit_code, status, due_at, id)
    WHERE status IN ('submitted', 'processing', 'supplement_requested', 'approved', 'result_issued');

-- How long each dossier that got its result took, in office time from receipt (the legal clock's start) to the
-- result, without the office time it waited for the applicant's supplements: one row per dossier, written in the
-- transaction that gives the result.
CREATE TABLE IF NOT EXISTS completion_samples (
    dossier_id      uuid             PRIMARY KEY REFERENCES dossiers (id),
    procedure_code  text             NOT NULL,
    unit_code       text             NOT NULL,
    completed_at    timestamptz      NOT NULL,
    working_seconds double precision NOT NULL CHECK (working_seconds >= 0)
);
CREATE INDEX IF NOT EXISTS completion_samples_recent
    ON completion_samples (procedure_code, unit_code, completed_at DESC, dossier_id);

-- Per procedure and competent unit, the median and 80th percentile of the most recent samples (processing's
-- prediction_window setting), recomputed under this row's lock by every completion: the tracking reads one row.
CREATE TABLE IF NOT EXISTS completion_stats (
    procedure_code  text             NOT NULL,
    unit_code       text             NOT NULL,
    sample_size     integer          NOT NULL DEFAULT 0,
    median_seconds  double precision,
    p80_seconds     double precision,
    updated_at      timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (procedure_code, unit_code)
);
