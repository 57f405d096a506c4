-- A channel whose records are being fetched whole, page by page (after a
-- sync fetched its state): the fetch goes on from after (the key of the
-- last page stored, collection/id; '' before the first) until its last
-- page, also after a restart. When the channel held live records before
-- the fetch (sweep = 1), the key of every record the pages bring is noted
-- in record_fetch_seen, and the last page's transaction turns each live
-- record the pages did not bring, at a version up to upto (the first
-- page's position), into a tombstone: the server deleted it meanwhile.
CREATE TABLE record_fetches (
	cid   TEXT    PRIMARY KEY,
	after TEXT    NOT NULL DEFAULT '',
	upto  INTEGER NOT NULL DEFAULT 0,
	sweep INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE record_fetch_seen (
	cid        TEXT NOT NULL,
	collection TEXT NOT NULL,
	id         TEXT NOT NULL,
	PRIMARY KEY (cid, collection, id)
) WITHOUT ROWID;
