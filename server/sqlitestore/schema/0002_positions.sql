-- Sync protocol v2: positions instead of timestamps. Each channel's log
-- gets an epoch and remembers where retention cut it; each user gets a
-- membership feed, a log of the same kind; messages are ordered by the
-- seq of their message.new event.

ALTER TABLE channels ADD COLUMN epoch TEXT NOT NULL DEFAULT '';
-- The channels of a database from before epochs begin one now: positions
-- handed out before this upgrade are answered with a per-channel reset.
UPDATE channels SET epoch = lower(hex(randomblob(16)));
ALTER TABLE channels ADD COLUMN pruned_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE channels ADD COLUMN pruned_event_id TEXT NOT NULL DEFAULT '';
-- Where retention cut each log, as far as the old schema knows it: every
-- event below the first kept one is gone.
UPDATE channels SET pruned_seq = coalesce((SELECT min(seq) - 1 FROM events WHERE events.cid = channels.cid), last_seq)
WHERE pruned_at > 0;
ALTER TABLE channels DROP COLUMN pruned_at;

ALTER TABLE messages ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
-- A message's place is the seq of its message.new event; a message whose
-- event was pruned goes before the others, in the order of its time.
UPDATE messages SET seq = coalesce(
	(SELECT e.seq FROM events e WHERE e.cid = messages.cid
		AND json_extract(e.payload, '$.type') = 'message.new'
		AND json_extract(e.payload, '$.message.id') = messages.id),
	-1 - (SELECT count(*) FROM messages m2 WHERE m2.cid = messages.cid
		AND (m2.created_at > messages.created_at OR (m2.created_at = messages.created_at AND m2.id > messages.id))));
UPDATE messages SET data = json_set(data, '$.seq', seq) WHERE seq <> 0;
DROP INDEX messages_by_channel;
CREATE INDEX messages_by_channel ON messages (cid, seq, id);

-- The event log, kept in (cid, seq) order: a sync reads a run of one
-- channel's events, which then sit side by side on disk. The commit-order
-- pos of version 1 has no use left.
CREATE TABLE channel_events (
	cid        TEXT    NOT NULL,
	seq        INTEGER NOT NULL,
	id         TEXT    NOT NULL UNIQUE,
	created_at INTEGER NOT NULL,
	payload    TEXT    NOT NULL,
	PRIMARY KEY (cid, seq)
) WITHOUT ROWID;
INSERT INTO channel_events (cid, seq, id, created_at, payload) SELECT cid, seq, id, created_at, payload FROM events;
DROP TABLE events;
ALTER TABLE channel_events RENAME TO events;
CREATE INDEX events_by_time ON events (created_at, cid);

-- Membership feeds: one log per user, begun at the user's first feed
-- event.
CREATE TABLE feeds (
	user_id         TEXT    PRIMARY KEY,
	epoch           TEXT    NOT NULL,
	last_seq        INTEGER NOT NULL DEFAULT 0,
	pruned_seq      INTEGER NOT NULL DEFAULT 0,
	pruned_event_id TEXT    NOT NULL DEFAULT ''
);

CREATE TABLE feed_events (
	user_id    TEXT    NOT NULL,
	seq        INTEGER NOT NULL,
	id         TEXT    NOT NULL UNIQUE,
	created_at INTEGER NOT NULL,
	payload    TEXT    NOT NULL,
	PRIMARY KEY (user_id, seq)
) WITHOUT ROWID;
CREATE INDEX feed_events_by_time ON feed_events (created_at, user_id);
