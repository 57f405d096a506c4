-- A task the drain has taken to send is claimed: a later edit or delete of
-- the same message may no longer fold into it (the server may have it
-- already), and is queued after it instead.
ALTER TABLE pending_tasks ADD COLUMN claimed INTEGER NOT NULL DEFAULT 0;
