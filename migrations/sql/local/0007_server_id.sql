-- The server a store is bound to, by the id the server says in its hello
-- (protocol.Hello), and the last hello the store met, so that an offline
-- start knows the server's settings. One row, made at the first hello.
-- server_id is '' while the store is not bound: a store that synced
-- before stores were bound by id binds after a sync that needed no reset.
-- store_identity.server_url is no longer written or checked.
CREATE TABLE server_binding (
	id        INTEGER PRIMARY KEY CHECK (id = 1),
	server_id TEXT    NOT NULL,
	hello     TEXT    NOT NULL,
	met_at    INTEGER NOT NULL
);
