-- Outpost server store on PostgreSQL, version 1. Entities are kept as the
-- JSON text of their wire type, with the columns queries need beside it.
-- Times are bigint Unix microseconds, as in the SQLite store.
CREATE TABLE users (
	id   text PRIMARY KEY,
	data text NOT NULL
);

-- A channel's row is its log's counter: NextPosition takes the next seq
-- with UPDATE ... RETURNING, whose row lock orders the channel's commits.
CREATE TABLE channels (
	cid             text   PRIMARY KEY,
	epoch           text   NOT NULL,
	last_activity   bigint NOT NULL,
	last_seq        bigint NOT NULL DEFAULT 0,
	pruned_seq      bigint NOT NULL DEFAULT 0,
	pruned_event_id text   NOT NULL DEFAULT '',
	data            text   NOT NULL
);

CREATE TABLE members (
	cid     text NOT NULL,
	user_id text NOT NULL,
	data    text NOT NULL,
	PRIMARY KEY (cid, user_id)
);
CREATE INDEX members_by_user ON members (user_id, cid);

CREATE TABLE messages (
	id         text   PRIMARY KEY,
	cid        text   NOT NULL,
	seq        bigint NOT NULL,
	created_at bigint NOT NULL,
	data       text   NOT NULL
);
CREATE INDEX messages_by_channel ON messages (cid, seq, id);

CREATE TABLE reactions (
	message_id text NOT NULL,
	user_id    text NOT NULL,
	type       text NOT NULL,
	data       text NOT NULL,
	PRIMARY KEY (message_id, user_id, type)
);

CREATE TABLE reads (
	cid     text NOT NULL,
	user_id text NOT NULL,
	data    text NOT NULL,
	PRIMARY KEY (cid, user_id)
);

-- Channel logs. xid is the writing transaction's id: the cross-node
-- broker reads the events of transactions that committed below a
-- watermark (see docs/ARCHITECTURE.md).
CREATE TABLE events (
	cid        text   NOT NULL,
	seq        bigint NOT NULL,
	id         text   NOT NULL UNIQUE,
	created_at bigint NOT NULL,
	payload    text   NOT NULL,
	xid        xid8   NOT NULL DEFAULT pg_current_xact_id(),
	-- The node that wrote it (the session's outpost.node): a node's
	-- broker skips its own, which it delivered at commit.
	node       text   NOT NULL DEFAULT coalesce(current_setting('outpost.node', true), ''),
	PRIMARY KEY (cid, seq)
);
CREATE INDEX events_by_time ON events (created_at, cid);
CREATE INDEX events_by_xid ON events (xid);

-- Membership feeds: one log per user, begun at its first event.
CREATE TABLE feeds (
	user_id         text   PRIMARY KEY,
	epoch           text   NOT NULL,
	last_seq        bigint NOT NULL DEFAULT 0,
	pruned_seq      bigint NOT NULL DEFAULT 0,
	pruned_event_id text   NOT NULL DEFAULT ''
);

CREATE TABLE feed_events (
	user_id    text   NOT NULL,
	seq        bigint NOT NULL,
	id         text   NOT NULL UNIQUE,
	created_at bigint NOT NULL,
	payload    text   NOT NULL,
	xid        xid8   NOT NULL DEFAULT pg_current_xact_id(),
	node       text   NOT NULL DEFAULT coalesce(current_setting('outpost.node', true), ''),
	PRIMARY KEY (user_id, seq)
);
CREATE INDEX feed_events_by_time ON feed_events (created_at, user_id);
CREATE INDEX feed_events_by_xid ON feed_events (xid);

-- Answers to writes made with an Idempotency-Key, unique per user.
CREATE TABLE idempotency (
	user_id    text   NOT NULL,
	key        text   NOT NULL,
	result     text   NOT NULL,
	created_at bigint NOT NULL,
	PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_by_time ON idempotency (created_at);
