-- Outpost server store, version 1. Entities are kept as the JSON of their
-- wire type, with the columns queries need beside it. Times are INTEGER
-- Unix microseconds.
CREATE TABLE users (
	id   TEXT PRIMARY KEY,
	data TEXT NOT NULL
);

CREATE TABLE channels (
	cid           TEXT    PRIMARY KEY,
	last_activity INTEGER NOT NULL,
	last_seq      INTEGER NOT NULL DEFAULT 0,
	-- created_at of the newest event retention pruned, 0 if none.
	pruned_at     INTEGER NOT NULL DEFAULT 0,
	data          TEXT    NOT NULL
);

CREATE TABLE members (
	cid     TEXT NOT NULL,
	user_id TEXT NOT NULL,
	data    TEXT NOT NULL,
	PRIMARY KEY (cid, user_id)
);
CREATE INDEX members_by_user ON members (user_id);

CREATE TABLE messages (
	id         TEXT    PRIMARY KEY,
	cid        TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	data       TEXT    NOT NULL
);
CREATE INDEX messages_by_channel ON messages (cid, created_at, id);

CREATE TABLE reactions (
	message_id TEXT NOT NULL,
	user_id    TEXT NOT NULL,
	type       TEXT NOT NULL,
	data       TEXT NOT NULL,
	PRIMARY KEY (message_id, user_id, type)
);

CREATE TABLE reads (
	cid     TEXT NOT NULL,
	user_id TEXT NOT NULL,
	data    TEXT NOT NULL,
	PRIMARY KEY (cid, user_id)
);

-- The event log. pos is commit order; (cid, seq) numbers each channel's
-- events from 1.
CREATE TABLE events (
	pos        INTEGER PRIMARY KEY AUTOINCREMENT,
	id         TEXT    NOT NULL UNIQUE,
	cid        TEXT    NOT NULL,
	seq        INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	payload    TEXT    NOT NULL,
	UNIQUE (cid, seq)
);
CREATE INDEX events_by_time ON events (created_at);

-- Answers to writes made with an Idempotency-Key, per user.
CREATE TABLE idempotency (
	user_id    TEXT    NOT NULL,
	key        TEXT    NOT NULL,
	result     TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (user_id, key)
);
