-- Removal is redaction. Each event that carries a message's content (the
-- message's own events, and reactions, which carry the message) names
-- the message in message_id; it is NULL for every other event, and once
-- the event is redacted. A hard delete or a truncate finds there the
-- events it rewrites in place.
ALTER TABLE events ADD COLUMN message_id text;
UPDATE events SET message_id = coalesce(payload::jsonb #>> '{message,id}', payload::jsonb #>> '{reaction,message_id}')
WHERE NOT coalesce((payload::jsonb ->> 'hard_delete')::boolean, false)
	AND NOT coalesce((payload::jsonb ->> 'redacted')::boolean, false);
CREATE INDEX events_by_message ON events (message_id) WHERE message_id IS NOT NULL;

-- Tombstones of the messages removed for good. Retention never prunes
-- them: a removed id is never stored again.
CREATE TABLE removed_messages (
	id text PRIMARY KEY
);
INSERT INTO removed_messages (id) SELECT substr(key, 9) FROM idempotency WHERE user_id = '' AND key LIKE 'deleted:%'
ON CONFLICT DO NOTHING;
DELETE FROM idempotency WHERE user_id = '' AND key LIKE 'deleted:%';

-- The messages an earlier truncate removed are removed for good too.
WITH cut AS (SELECT cid, max(seq) AS seq FROM events WHERE payload::jsonb ->> 'type' = 'channel.truncated' GROUP BY cid)
INSERT INTO removed_messages (id) SELECT DISTINCT e.message_id FROM events e JOIN cut ON cut.cid = e.cid
WHERE e.message_id IS NOT NULL AND e.seq < cut.seq AND e.message_id NOT IN (SELECT id FROM messages)
ON CONFLICT (id) DO NOTHING;

-- What was removed before this version is redacted now: the events of
-- hard-deleted messages, and those of the messages before each
-- channel's last truncate; a hard delete keeps the message's id alone.
-- The redacted forms are protocol.Event.Redact's and
-- protocol.RemovedMessage's.
WITH cut AS (SELECT cid, max(seq) AS seq FROM events WHERE payload::jsonb ->> 'type' = 'channel.truncated' GROUP BY cid)
UPDATE events SET message_id = NULL, payload = jsonb_build_object('id', id, 'type', payload::jsonb ->> 'type', 'cid', cid,
	'seq', seq, 'epoch', payload::jsonb ->> 'epoch', 'created_at', payload::jsonb ->> 'created_at',
	'message', jsonb_build_object('id', message_id, 'cid', cid, 'redacted', true), 'redacted', true)::text
WHERE message_id IN (SELECT id FROM removed_messages)
	OR (message_id IS NOT NULL AND seq < coalesce((SELECT seq FROM cut WHERE cut.cid = events.cid), 0));
UPDATE events SET payload = jsonb_set(payload::jsonb, '{message}', jsonb_build_object('id', payload::jsonb #>> '{message,id}',
	'cid', cid, 'version', (payload::jsonb #>> '{message,version}')::bigint, 'redacted', true))::text
WHERE coalesce((payload::jsonb ->> 'hard_delete')::boolean, false);

-- A channel truncated before this version says where, as far as its log
-- still knows: its last channel.truncated event's seq.
WITH cut AS (SELECT cid, max(seq) AS seq FROM events WHERE payload::jsonb ->> 'type' = 'channel.truncated' GROUP BY cid)
UPDATE channels SET data = jsonb_set(data::jsonb, '{truncated_seq}', to_jsonb(cut.seq))::text
FROM cut WHERE cut.cid = channels.cid;
