-- Records: the app's own data, one row per record of a collection in a
-- channel (protocol.Record). This table's shape is stable: an app may keep
-- tables of its own in step with it through views, or through triggers
-- declared in its migrations, which run in the store's transactions (the
-- sync that changes a record, a reset, the rollback of a refused write).
--
--   cid, collection, id  the record's key
--   fields               its fields, a JSON object (the pending writes'
--                        result while writes are pending: see
--                        record_overlays)
--   field_versions       JSON object: the version of each top-level field
--   version              the seq of its last change in the channel's log;
--                        0 for a record created here and not yet sent
--   created_by, created_at, updated_by, updated_at (unix nanoseconds)
--   deleted              1 for a tombstone (fields '{}'): a deleted record
--                        stays as a row so that an older event cannot
--                        bring it back
CREATE TABLE records (
	cid            TEXT    NOT NULL,
	collection     TEXT    NOT NULL,
	id             TEXT    NOT NULL,
	fields         TEXT    NOT NULL DEFAULT '{}',
	field_versions TEXT    NOT NULL DEFAULT '{}',
	version        INTEGER NOT NULL DEFAULT 0,
	created_by     TEXT    NOT NULL DEFAULT '',
	created_at     INTEGER,
	updated_by     TEXT    NOT NULL DEFAULT '',
	updated_at     INTEGER,
	deleted        INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (cid, collection, id)
);
CREATE INDEX records_by_collection ON records (collection, id);

-- A record a pending write changed is overlaid, as messages are
-- (0005_overlays.sql): its server version waits in record_base (no base
-- row: the server has none), server data is applied to it and the
-- pending writes replayed over it, and a refused write rolls back to it.
CREATE TABLE record_overlays (
	cid        TEXT NOT NULL,
	collection TEXT NOT NULL,
	id         TEXT NOT NULL,
	PRIMARY KEY (cid, collection, id)
);
CREATE TABLE record_base AS SELECT * FROM records WHERE 0;
CREATE UNIQUE INDEX record_base_by_key ON record_base (cid, collection, id);

-- A record write names its record: its channel (cid), collection and id.
ALTER TABLE pending_tasks ADD COLUMN collection TEXT NOT NULL DEFAULT '';
ALTER TABLE pending_tasks ADD COLUMN record_id TEXT NOT NULL DEFAULT '';
CREATE INDEX pending_tasks_by_record ON pending_tasks (cid, collection, record_id) WHERE record_id <> '';
ALTER TABLE failed_tasks ADD COLUMN collection TEXT NOT NULL DEFAULT '';
ALTER TABLE failed_tasks ADD COLUMN record_id TEXT NOT NULL DEFAULT '';
CREATE INDEX failed_tasks_by_record ON failed_tasks (cid, collection, record_id) WHERE record_id <> '';
-- The server's error body of a refusal (protocol.APIError as JSON: its
-- path, the server's record, a conflict's both values); NULL when the
-- refusal had none.
ALTER TABLE failed_tasks ADD COLUMN refusal TEXT;
