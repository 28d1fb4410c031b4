-- Issue 7: indexes no query of intake uses, each one more index entry (and WAL) per submitted dossier.
-- - dossiers_applicant (applicant_personal_id, submitted_at): nothing looks dossiers up by personal id (a citizen's
--   own dossiers are processing's read model, by subject);
-- - dossiers_applicant_subject, dossiers_submitter_subject: nothing looks intake's dossiers up by subject either;
--   a submitter's idempotency key is found through dossiers_submitter_idempotency
--   (submitter_kind, submitter_subject, idempotency_key).
-- Kept: the primary key (the vault consumer's look-up by id), code (reads by code), dossiers_submitter_idempotency
-- (idempotency), dossiers_procedure (the once-only score), dossiers_bundle (a bundle's dossiers; partial, so no
-- entry for a single dossier).
DROP INDEX IF EXISTS dossiers_applicant;
DROP INDEX IF EXISTS dossiers_applicant_subject;
DROP INDEX IF EXISTS dossiers_submitter_subject;
