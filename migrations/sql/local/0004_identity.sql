-- The identity a store is bound to: the user and the server it holds the
-- data of. One row; an open for another user or server is refused (or, on
-- request, wipes the store first).
CREATE TABLE store_identity (
	id         INTEGER PRIMARY KEY CHECK (id = 1),
	user_id    TEXT    NOT NULL,
	server_url TEXT    NOT NULL,
	bound_at   INTEGER NOT NULL
);
