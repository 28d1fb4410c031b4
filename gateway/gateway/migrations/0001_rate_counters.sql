-- Rate-limit counters shared by every gateway replica: one row per (window, bucket).
-- UNLOGGED: no WAL, so the counters cost little; after a PostgreSQL crash the table comes back empty, which
-- only forgives the current window's counts.
CREATE UNLOGGED TABLE rate_counters (
    window_start bigint NOT NULL,  -- unix seconds, a multiple of the window length
    bucket text NOT NULL,          -- e.g. citizen:<sub>, client:<client_id>, ip:<address>, lookup:<address>
    n integer NOT NULL,
    PRIMARY KEY (window_start, bucket)  -- window first: old windows are deleted by a range on the key
);
