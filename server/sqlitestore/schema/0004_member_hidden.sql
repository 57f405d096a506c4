-- A member may hide a channel from their own list (POST
-- /channels/{cid}/hide): a flag of the membership, private to its user.
ALTER TABLE members ADD COLUMN hidden INTEGER NOT NULL DEFAULT 0;
