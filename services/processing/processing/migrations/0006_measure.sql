-- Issue 9: statistics, ratings and follow-ups (processing/measure/). The projection tables are written only by the
-- measure consumer (its own consumer group on the dossier topic, idempotent through the inbox) and can be emptied
-- and rebuilt by replaying the topic; nothing here reads the dossiers table.

-- What the projection remembers of each dossier, to attribute its later events (which name neither the procedure
-- nor the receiving centre) and to count each change once.
CREATE TABLE IF NOT EXISTS measure_dossiers (
    dossier_id      uuid        PRIMARY KEY,
    unit_code       text        NOT NULL,
    centre_code     text,
    procedure_code  text        NOT NULL,
    channel         text        NOT NULL,
    closed          boolean     NOT NULL DEFAULT false,
    overdue         boolean     NOT NULL DEFAULT false
);

-- The units and service centres the figures are about, as the events named them (kind: unit = competent unit,
-- centre = where dossiers were received at a counter for another unit).
CREATE TABLE IF NOT EXISTS measure_units (
    code  text PRIMARY KEY,
    name  text NOT NULL,
    kind  text NOT NULL CHECK (kind IN ('unit', 'centre'))
);

-- The counters, per grain (day or month: the month rows are the same counts kept a second time, so a year is 12
-- rows, not 365), kind, unit, procedure ('*' = all procedures of the unit) and bucket (the day, or the month's first
-- day, in Asia/Ho_Chi_Minh). Flows count what happened in the bucket; in_progress and overdue are stocks, read as
-- the running sum of their deltas up to the end of a period.
CREATE TABLE IF NOT EXISTS measure_counts (
    grain                   text    NOT NULL CHECK (grain IN ('day', 'month')),
    kind                    text    NOT NULL CHECK (kind IN ('unit', 'centre')),
    procedure_code          text    NOT NULL,
    bucket                  date    NOT NULL,
    unit_code               text    NOT NULL,
    received_online         integer NOT NULL DEFAULT 0,
    received_counter        integer NOT NULL DEFAULT 0,
    received_service_centre integer NOT NULL DEFAULT 0,
    received_post           integer NOT NULL DEFAULT 0,
    resolved_early          integer NOT NULL DEFAULT 0,
    resolved_on_time        integer NOT NULL DEFAULT 0,
    resolved_late           integer NOT NULL DEFAULT 0,
    processing_days_sum     double precision NOT NULL DEFAULT 0,
    processing_days_count   integer NOT NULL DEFAULT 0,
    paid_online             integer NOT NULL DEFAULT 0,
    results_electronic      integer NOT NULL DEFAULT 0,
    once_only_components    integer NOT NULL DEFAULT 0,
    components_total        integer NOT NULL DEFAULT 0,
    supplement_requests     integer NOT NULL DEFAULT 0,
    refusals                integer NOT NULL DEFAULT 0,
    in_progress_delta       integer NOT NULL DEFAULT 0,
    overdue_delta           integer NOT NULL DEFAULT 0,
    PRIMARY KEY (grain, kind, procedure_code, bucket, unit_code)
);
-- Every query of the figures reads ranges of (grain, kind, procedure, bucket) for all units: from this covering
-- index alone (index-only scans), whatever the table's size. The price: counter updates are not HOT.
CREATE INDEX IF NOT EXISTS measure_counts_covering ON measure_counts (grain, kind, procedure_code, bucket)
    INCLUDE (unit_code, received_online, received_counter, received_service_centre, received_post, resolved_early,
             resolved_on_time, resolved_late, processing_days_sum, processing_days_count, paid_online,
             results_electronic, once_only_components, components_total, supplement_requests, refusals,
             in_progress_delta, overdue_delta);
-- One unit's series (the charts).
CREATE INDEX IF NOT EXISTS measure_counts_by_unit ON measure_counts (grain, kind, unit_code, procedure_code, bucket);

-- Citizens' ratings of returned dossiers (primary data of this service, not a projection): one per dossier.
CREATE TABLE IF NOT EXISTS ratings (
    dossier_id     uuid        PRIMARY KEY,
    dossier_code   text        NOT NULL,
    unit_code      text        NOT NULL,
    centre_code    text,
    procedure_code text        NOT NULL,
    rated_by       text        NOT NULL,
    overall        smallint    NOT NULL CHECK (overall BETWEEN 1 AND 5),
    steps          jsonb       NOT NULL DEFAULT '[]',
    comment        text,
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- The ratings' counts per grain, kind, unit, procedure and bucket, written in the rating's transaction.
CREATE TABLE IF NOT EXISTS rating_counts (
    grain           text    NOT NULL CHECK (grain IN ('day', 'month')),
    kind            text    NOT NULL CHECK (kind IN ('unit', 'centre')),
    procedure_code  text    NOT NULL,
    bucket          date    NOT NULL,
    unit_code       text    NOT NULL,
    ratings         integer NOT NULL DEFAULT 0,
    score_sum       integer NOT NULL DEFAULT 0,
    satisfied       integer NOT NULL DEFAULT 0,
    PRIMARY KEY (grain, kind, procedure_code, bucket, unit_code)
);
CREATE INDEX IF NOT EXISTS rating_counts_covering ON rating_counts (grain, kind, procedure_code, bucket)
    INCLUDE (unit_code, ratings, score_sum, satisfied);

-- A low rating opens a follow-up for the head of the unit that processed the dossier.
CREATE TABLE IF NOT EXISTS follow_ups (
    id            uuid        PRIMARY KEY,
    dossier_id    uuid        NOT NULL REFERENCES ratings (dossier_id),
    dossier_code  text        NOT NULL,
    unit_code     text        NOT NULL,
    due_at        timestamptz NOT NULL,
    status        text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    closed_at     timestamptz,
    closed_by     text,
    note          text
);
CREATE INDEX IF NOT EXISTS follow_ups_by_unit ON follow_ups (unit_code, status, due_at, id);
CREATE INDEX IF NOT EXISTS follow_ups_by_status ON follow_ups (status, due_at, id);

-- The national portal's periodic statistics: one report per period, unit and kind, claimed in the transaction that
-- writes its event to the outbox (every replica runs the reporting loop; each report is made once).
CREATE TABLE IF NOT EXISTS portal_reports (
    period      text        NOT NULL,
    start       date        NOT NULL,
    kind        text        NOT NULL,
    unit_code   text        NOT NULL,
    reported_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (period, start, kind, unit_code)
);
