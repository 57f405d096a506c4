-- The change log: one row per write transaction of the store that the app
-- hears about (writes queued, the server's answers, sync pages, live
-- events, resets), saying what changed, so that every process on the store
-- hears the changes the others make. origin is the process (the open
-- store) that wrote it; channels and messages are JSON arrays of ids,
-- records a JSON array of [cid, collection, id] triples.
-- Only the newest rows are kept (see internal/changelog).
CREATE TABLE change_log (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    origin   TEXT    NOT NULL,
    kind     INTEGER NOT NULL,
    channels TEXT    NOT NULL DEFAULT '[]',
    messages TEXT    NOT NULL DEFAULT '[]',
    records  TEXT    NOT NULL DEFAULT '[]',
    many     INTEGER NOT NULL DEFAULT 0,
    reset    INTEGER NOT NULL DEFAULT 0
);
