-- A version reserved for another branch (issue 21), which replaces this
-- file with its own migration when both are merged.
SELECT 1;
