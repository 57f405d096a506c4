-- A version reserved for another branch, which replaces this file with its
-- own migration when both are merged.
SELECT 1;
