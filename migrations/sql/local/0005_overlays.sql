-- Optimistic overlays. A message or reaction row a pending write changed
-- is "overlaid": its server version is kept in message_base or
-- reaction_base (no base row: the server has none), so that server data
-- is applied to the server version and the pending writes replayed over
-- it, and a refused write rolls back to it. The base tables have the
-- columns of messages and reactions, in their order.
CREATE TABLE message_overlays (
	id  TEXT PRIMARY KEY,
	cid TEXT NOT NULL
);
CREATE TABLE reaction_overlays (
	message_id TEXT NOT NULL,
	user_id    TEXT NOT NULL,
	type       TEXT NOT NULL,
	cid        TEXT NOT NULL,
	PRIMARY KEY (message_id, user_id, type)
);
CREATE TABLE message_base AS SELECT * FROM messages WHERE 0;
CREATE UNIQUE INDEX message_base_by_id ON message_base (id);
CREATE TABLE reaction_base AS SELECT * FROM reactions WHERE 0;
CREATE UNIQUE INDEX reaction_base_by_key ON reaction_base (message_id, user_id, type);
