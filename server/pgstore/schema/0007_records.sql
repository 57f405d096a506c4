-- Records: the app's data in named collections, one row per record
-- (a tombstone once deleted), kept as the JSON text of protocol.Record.
-- A channel's live records are paged in (collection, id) order.
CREATE TABLE records (
	cid        text    NOT NULL,
	collection text    NOT NULL,
	id         text    NOT NULL,
	deleted    boolean NOT NULL DEFAULT false,
	data       text    NOT NULL,
	PRIMARY KEY (cid, collection, id)
);

-- The collections' rules, every installed version; the highest is in
-- force. source is the rules' canonical JSON, hash its SHA-256.
CREATE TABLE record_rules (
	version    bigint PRIMARY KEY,
	hash       text   NOT NULL,
	source     text   NOT NULL,
	created_at bigint NOT NULL
);
