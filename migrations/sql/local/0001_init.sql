-- Outpost local store, version 1.
-- Times are INTEGER Unix nanoseconds (NULL when unset), so that server times
-- round-trip exactly. version columns hold the per-channel sequence number of
-- the event that last changed the row (users: the user's own counter); an
-- upsert only wins with a higher version.

-- Channels the user is in. stub = 1 when the row was made only because an
-- event named the channel before its own data arrived.
CREATE TABLE channels (
	cid             TEXT    PRIMARY KEY,
	type            TEXT    NOT NULL,
	id              TEXT    NOT NULL,
	name            TEXT    NOT NULL DEFAULT '',
	created_by      TEXT    NOT NULL DEFAULT '',
	created_at      INTEGER,
	updated_at      INTEGER,
	deleted_at      INTEGER,
	truncated_at    INTEGER,
	last_message_at INTEGER,
	member_count    INTEGER NOT NULL DEFAULT 0,
	hidden          INTEGER NOT NULL DEFAULT 0,
	hidden_version  INTEGER NOT NULL DEFAULT 0,
	version         INTEGER NOT NULL DEFAULT 0,
	last_seq        INTEGER NOT NULL DEFAULT 0,
	stub            INTEGER NOT NULL DEFAULT 0,
	extra           TEXT
);
CREATE INDEX channels_activity ON channels (coalesce(last_message_at, updated_at, created_at));

-- Messages have no foreign key to channels: a pending message must outlive a
-- reset of the cached channel rows, and an event for an unknown channel must
-- never fail a batch.
CREATE TABLE messages (
	id              TEXT    PRIMARY KEY,
	cid             TEXT    NOT NULL,
	user_id         TEXT    NOT NULL DEFAULT '',
	text            TEXT    NOT NULL DEFAULT '',
	parent_id       TEXT    NOT NULL DEFAULT '',
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER,
	deleted_at      INTEGER,
	reaction_counts TEXT,
	version         INTEGER NOT NULL DEFAULT 0,
	extra           TEXT,
	-- status is local: 'sent' for server data, 'pending' for an optimistic
	-- write still in the outbox, 'failed' for one the server refused.
	status          TEXT    NOT NULL DEFAULT 'sent' CHECK (status IN ('sent', 'pending', 'failed')),
	error           TEXT
);
CREATE INDEX messages_by_channel ON messages (cid, created_at, id);
CREATE INDEX messages_unsent ON messages (status) WHERE status <> 'sent';

CREATE TABLE reactions (
	message_id TEXT    NOT NULL,
	user_id    TEXT    NOT NULL,
	type       TEXT    NOT NULL,
	cid        TEXT    NOT NULL,
	score      INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER,
	updated_at INTEGER,
	version    INTEGER NOT NULL DEFAULT 0,
	extra      TEXT,
	status     TEXT    NOT NULL DEFAULT 'sent' CHECK (status IN ('sent', 'pending', 'failed')),
	error      TEXT,
	PRIMARY KEY (message_id, user_id, type)
);
CREATE INDEX reactions_by_channel ON reactions (cid);

-- Members and reads are server data only, so they hang off their channel.
CREATE TABLE members (
	cid        TEXT    NOT NULL REFERENCES channels (cid) ON DELETE CASCADE,
	user_id    TEXT    NOT NULL,
	role       TEXT    NOT NULL DEFAULT '',
	created_at INTEGER,
	updated_at INTEGER,
	version    INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (cid, user_id)
);

CREATE TABLE reads (
	cid                  TEXT    NOT NULL REFERENCES channels (cid) ON DELETE CASCADE,
	user_id              TEXT    NOT NULL,
	last_read_at         INTEGER,
	last_read_message_id TEXT    NOT NULL DEFAULT '',
	unread_messages      INTEGER NOT NULL DEFAULT 0,
	version              INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (cid, user_id)
);

CREATE TABLE users (
	id         TEXT    PRIMARY KEY,
	name       TEXT    NOT NULL DEFAULT '',
	image      TEXT    NOT NULL DEFAULT '',
	created_at INTEGER,
	updated_at INTEGER,
	version    INTEGER NOT NULL DEFAULT 0,
	extra      TEXT
);

-- Tombstones remember what was deleted, and at which version, so that a late
-- or repeated event cannot bring it back. kind is 'channel', 'message',
-- 'reaction' or 'member'; key names the row.
CREATE TABLE tombstones (
	kind    TEXT    NOT NULL,
	key     TEXT    NOT NULL,
	version INTEGER NOT NULL,
	PRIMARY KEY (kind, key)
);

-- The outbox. seq gives FIFO order; task_id is the client-made id that makes
-- the write exactly-once on the server.
CREATE TABLE pending_tasks (
	seq             INTEGER PRIMARY KEY AUTOINCREMENT,
	task_id         TEXT    NOT NULL UNIQUE,
	user_id         TEXT    NOT NULL,
	type            TEXT    NOT NULL,
	cid             TEXT    NOT NULL DEFAULT '',
	message_id      TEXT    NOT NULL DEFAULT '',
	payload         TEXT    NOT NULL,
	attempts        INTEGER NOT NULL DEFAULT 0,
	last_error      TEXT    NOT NULL DEFAULT '',
	created_at      INTEGER NOT NULL,
	next_attempt_at INTEGER
);

-- Tasks the server refused for good, kept with the reason so the app can show
-- them; nothing leaves the outbox silently.
CREATE TABLE failed_tasks (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	task_id    TEXT    NOT NULL UNIQUE,
	user_id    TEXT    NOT NULL,
	type       TEXT    NOT NULL,
	cid        TEXT    NOT NULL DEFAULT '',
	message_id TEXT    NOT NULL DEFAULT '',
	payload    TEXT    NOT NULL,
	attempts   INTEGER NOT NULL DEFAULT 0,
	error      TEXT    NOT NULL,
	error_code INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL,
	failed_at  INTEGER NOT NULL
);

-- The sync checkpoint: server time of the last applied state, per user.
CREATE TABLE user_sync_status (
	user_id        TEXT    PRIMARY KEY,
	last_synced_at INTEGER NOT NULL
);

-- Who uses this store. Survives a reset, like the outbox.
CREATE TABLE local_user (
	user_id  TEXT    PRIMARY KEY,
	added_at INTEGER NOT NULL
);
