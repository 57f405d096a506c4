-- The server's identity: a random id made once with the database. Every
-- node sharing the database reports it, a restored copy keeps it, a new
-- database gets a new one. Clients bind their stores to it (see
-- protocol.Hello).
CREATE TABLE server_identity (
	id        integer PRIMARY KEY CHECK (id = 1),
	server_id text    NOT NULL
);
INSERT INTO server_identity (id, server_id) VALUES (1, replace(gen_random_uuid()::text, '-', ''));
