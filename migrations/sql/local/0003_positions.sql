-- Sync protocol v2: a channel's position is (epoch, last_seq, last_event_id):
-- the epoch of its log, the seq of the last event applied, and that event's
-- id. A channel with epoch '' has no position yet: its state is fetched
-- before its events are.
ALTER TABLE channels ADD COLUMN epoch TEXT NOT NULL DEFAULT '';
ALTER TABLE channels ADD COLUMN last_event_id TEXT NOT NULL DEFAULT '';

-- Tombstones remember their channel, so a channel dropped or reset takes
-- its tombstones with it (a reset channel's versions start afresh).
ALTER TABLE tombstones ADD COLUMN cid TEXT NOT NULL DEFAULT '';
CREATE INDEX tombstones_by_channel ON tombstones (cid);

-- The user's position in their membership feed.
CREATE TABLE feed_position (
	user_id  TEXT    PRIMARY KEY,
	epoch    TEXT    NOT NULL,
	seq      INTEGER NOT NULL,
	event_id TEXT    NOT NULL DEFAULT ''
);

-- A message's place in its channel is the seq of its message.new event,
-- as on the server; a message the server has not stored yet (seq 0) comes
-- after all of them, in the order it was written.
ALTER TABLE messages ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
DROP INDEX messages_by_channel;
CREATE INDEX messages_by_place ON messages (cid, (CASE WHEN seq = 0 THEN 9223372036854775807 ELSE seq END), created_at, id);
