-- Placeholder for the migration another branch adds as version 5: drop
-- this file when that branch is merged.
SELECT 1;
