-- Who was a member of a channel at each place in its log: a span per
-- membership, from the seq of the event that began it (member.added, or
-- the log's last seq when it was stored without one) to the seq of the
-- event that ended it (member.removed, channel.deleted), NULL while it
-- lasts. The follower delivers another node's event at seq s to the
-- users of the spans with from_seq <= s <= to_seq: the members before
-- it, plus those it adds. Spans that end at or before the log's
-- pruned_seq are pruned with it.
CREATE TABLE member_spans (
	cid      text   NOT NULL,
	user_id  text   NOT NULL,
	from_seq bigint NOT NULL,
	to_seq   bigint
);
CREATE UNIQUE INDEX member_spans_open ON member_spans (cid, user_id) WHERE to_seq IS NULL;
CREATE INDEX member_spans_by_channel ON member_spans (cid, to_seq);

-- Today's members: members since before any event a node still has to
-- deliver.
INSERT INTO member_spans (cid, user_id, from_seq) SELECT cid, user_id, 0 FROM members;
