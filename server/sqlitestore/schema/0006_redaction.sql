-- Removal is redaction. Each event that carries a message's content (the
-- message's own events, and reactions, which carry the message) names
-- the message in message_id; it is NULL for every other event, and once
-- the event is redacted. A hard delete or a truncate finds there the
-- events it rewrites in place.
ALTER TABLE events ADD COLUMN message_id TEXT;
UPDATE events SET message_id = coalesce(json_extract(payload, '$.message.id'), json_extract(payload, '$.reaction.message_id'))
WHERE NOT coalesce(json_extract(payload, '$.hard_delete'), 0) AND NOT coalesce(json_extract(payload, '$.redacted'), 0);
CREATE INDEX events_by_message ON events (message_id) WHERE message_id IS NOT NULL;

-- Tombstones of the messages removed for good. Retention never prunes
-- them: a removed id is never stored again.
CREATE TABLE removed_messages (
	id TEXT PRIMARY KEY
) WITHOUT ROWID;
INSERT INTO removed_messages (id) SELECT substr(key, 9) FROM idempotency WHERE user_id = '' AND key LIKE 'deleted:%';
DELETE FROM idempotency WHERE user_id = '' AND key LIKE 'deleted:%';

-- The messages an earlier truncate removed are removed for good too.
WITH cut AS (SELECT cid, max(seq) AS seq FROM events WHERE json_extract(payload, '$.type') = 'channel.truncated' GROUP BY cid)
INSERT INTO removed_messages (id) SELECT DISTINCT e.message_id FROM events e JOIN cut ON cut.cid = e.cid
WHERE e.message_id IS NOT NULL AND e.seq < cut.seq AND e.message_id NOT IN (SELECT id FROM messages)
ON CONFLICT (id) DO NOTHING;

-- What was removed before this version is redacted now: the events of
-- hard-deleted messages, and those of the messages before each
-- channel's last truncate; a hard delete keeps the message's id alone.
-- The redacted forms are protocol.Event.Redact's and
-- protocol.RemovedMessage's.
WITH cut AS (SELECT cid, max(seq) AS seq FROM events WHERE json_extract(payload, '$.type') = 'channel.truncated' GROUP BY cid)
UPDATE events SET message_id = NULL, payload = json_object('id', id, 'type', json_extract(payload, '$.type'), 'cid', cid,
	'seq', seq, 'epoch', json_extract(payload, '$.epoch'), 'created_at', json_extract(payload, '$.created_at'),
	'message', json_object('id', message_id, 'cid', cid, 'redacted', json('true')), 'redacted', json('true'))
WHERE message_id IN (SELECT id FROM removed_messages)
	OR (message_id IS NOT NULL AND seq < coalesce((SELECT seq FROM cut WHERE cut.cid = events.cid), 0));
UPDATE events SET payload = json_set(payload, '$.message', json_object('id', json_extract(payload, '$.message.id'),
	'cid', cid, 'version', json_extract(payload, '$.message.version'), 'redacted', json('true')))
WHERE json_extract(payload, '$.hard_delete');

-- A channel truncated before this version says where, as far as its log
-- still knows: its last channel.truncated event's seq.
WITH cut AS (SELECT cid, max(seq) AS seq FROM events WHERE json_extract(payload, '$.type') = 'channel.truncated' GROUP BY cid)
UPDATE channels SET data = json_set(data, '$.truncated_seq', (SELECT seq FROM cut WHERE cut.cid = channels.cid))
WHERE cid IN (SELECT cid FROM cut);
