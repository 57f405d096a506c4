-- The part of each channel's history the store holds: its messages with
-- seqs from held_from up to its position (last_seq), every one of them
-- as the server had it, with no hole. held_from = 1 reaches the start of
-- the channel's history; 0 means the channel has no state yet.
ALTER TABLE channels ADD COLUMN held_from INTEGER NOT NULL DEFAULT 0;
-- After a reset of the channel by the server, the held rows below
-- held_from and down to backfill_to are fetched again (re-checked);
-- 0 when nothing is to re-check.
ALTER TABLE channels ADD COLUMN backfill_to INTEGER NOT NULL DEFAULT 0;
-- Set when the server reset the channel's position: 1 when only its log
-- was pruned (the next state is applied exactly, the held rows below it
-- re-checked), 2 when the server lost the history the store followed
-- (the next state replaces the held rows).
ALTER TABLE channels ADD COLUMN state_reset INTEGER NOT NULL DEFAULT 0;
-- A store from before holds, for each channel with a position, the
-- latest messages of a state and every one after it: the range from its
-- oldest held message on.
UPDATE channels SET held_from = coalesce(
	(SELECT min(m.seq) FROM messages m WHERE m.cid = channels.cid AND m.status = 'sent' AND m.seq > 0),
	last_seq + 1)
WHERE epoch <> '' AND stub = 0;
