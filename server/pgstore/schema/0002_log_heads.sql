-- Each log's counter row holds its head: the id of the event at last_seq
-- beside last_seq, set by the UPDATE that takes the seq. A sync then
-- checks a position at the head without reading the log.
ALTER TABLE channels ADD COLUMN last_event_id text NOT NULL DEFAULT '';
UPDATE channels SET last_event_id = coalesce(
	(SELECT e.id FROM events e WHERE e.cid = channels.cid AND e.seq = channels.last_seq),
	CASE WHEN pruned_seq = last_seq THEN pruned_event_id ELSE '' END);
ALTER TABLE feeds ADD COLUMN last_event_id text NOT NULL DEFAULT '';
UPDATE feeds SET last_event_id = coalesce(
	(SELECT e.id FROM feed_events e WHERE e.user_id = feeds.user_id AND e.seq = feeds.last_seq),
	CASE WHEN pruned_seq = last_seq THEN pruned_event_id ELSE '' END);
