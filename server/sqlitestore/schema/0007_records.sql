-- Records: the app's data in named collections, one row per record
-- (a tombstone once deleted), kept as the JSON of protocol.Record. A
-- channel's live records are paged in (collection, id) order.
CREATE TABLE records (
	cid        TEXT    NOT NULL,
	collection TEXT    NOT NULL,
	id         TEXT    NOT NULL,
	deleted    INTEGER NOT NULL DEFAULT 0,
	data       TEXT    NOT NULL,
	PRIMARY KEY (cid, collection, id)
) WITHOUT ROWID;

-- The collections' rules, every installed version; the highest is in
-- force. source is the rules' canonical JSON, hash its SHA-256.
CREATE TABLE record_rules (
	version    INTEGER PRIMARY KEY,
	hash       TEXT    NOT NULL,
	source     TEXT    NOT NULL,
	created_at INTEGER NOT NULL
);
