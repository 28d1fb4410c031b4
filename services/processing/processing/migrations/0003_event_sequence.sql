-- Issue 5: every dossier event carries a per-dossier sequence number (CloudEvents `sequence`): 1 is intake's
-- dossier.submitted, then 2, 3… for processing's events in the order processing commits them. The last number
-- given is kept on the dossier row (the next event, under the row lock, takes event_sequence + 1).
-- Until now each action bumped `version` once and published one event, so version = the events so far.
ALTER TABLE dossiers ADD COLUMN IF NOT EXISTS event_sequence integer;
UPDATE dossiers SET event_sequence = version WHERE event_sequence IS NULL;
ALTER TABLE dossiers ALTER COLUMN event_sequence SET DEFAULT 1;
ALTER TABLE dossiers ALTER COLUMN event_sequence SET NOT NULL;
