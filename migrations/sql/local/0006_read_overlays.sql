-- A pending read mark overlays the user's read of its channel, as pending
-- writes overlay messages and reactions (0005_overlays.sql): the server's
-- read is kept in read_base (no base row: the server has none), server
-- data is applied to it, and the pending marks are replayed over it.
CREATE TABLE read_overlays (
	cid     TEXT NOT NULL,
	user_id TEXT NOT NULL,
	PRIMARY KEY (cid, user_id)
);
CREATE TABLE read_base AS SELECT * FROM reads WHERE 0;
CREATE UNIQUE INDEX read_base_by_key ON read_base (cid, user_id);
