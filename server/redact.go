package server

import (
	"encoding/json"
	"errors"
	"slices"

	"github.com/outpostsync/outpost/protocol"
)

// Removal is redaction: a hard delete or a truncate removes messages for
// good, in the write's own transaction, under the channel's lock. The
// messages' rows go (leaving tombstones, so their ids are never stored
// again), and every event of the log that carried their content is
// rewritten in place to its redacted form (protocol.Event.Redact), keeping
// its seq and id. So no read path (sync from any position, a stream's
// replay, state, queries) can return what was removed; stored answers to
// idempotent writes are redacted when they are replayed (redactAnswer).

// redactPage is how many events redactEvents rewrites per read.
const redactPage = 500

// redactEvents rewrites the events of cid's log before beforeSeq that
// carry a message's content: those of messageID, or with "" those of
// every message.
func redactEvents(tx Tx, cid, messageID string, beforeSeq int64) error {
	after := int64(0)
	for {
		evs, err := tx.ContentEvents(cid, messageID, after, beforeSeq, redactPage)
		if err != nil {
			return err
		}
		for _, e := range evs {
			var ev protocol.Event
			if err := json.Unmarshal(e.Payload, &ev); err != nil {
				return err
			}
			payload, err := json.Marshal(ev.Redact())
			if err != nil {
				return err
			}
			if err := tx.RedactEvent(cid, e.Seq, payload); err != nil {
				return err
			}
			after = e.Seq
		}
		if len(evs) < redactPage {
			return nil
		}
	}
}

// removeMessage removes m for good (tx.DeleteMessage: its row, its
// reactions, and a tombstone of its id), and stores, for the retention
// window as every idempotent answer, the answer to a repeat of its send
// (repeatOfRemoved): a send applied and then removed, whose answer its
// author did not get, is answered as applied, and nothing comes back.
func removeMessage(tx Tx, m protocol.Message) error {
	answer, err := json.Marshal(protocol.MessageResponse{Message: *protocol.RemovedMessage(&m)})
	if err != nil {
		return err
	}
	if err := tx.PutIdempotentResult("", removedSendKey(m.UserID, m.ID), answer); err != nil {
		return err
	}
	return tx.DeleteMessage(m.ID)
}

// removedSendKey is the key, among the server's own idempotent answers
// (user ""), of the answer to a repeat of author's send of a removed
// message.
func removedSendKey(author, id string) string { return "removed-send:" + author + ":" + id }

// repeatOfRemoved answers a send by user in cid of the removed message
// id: a repeat of its author's send (in the retention window) gets the
// message as removed, with success; any other is refused for good.
func repeatOfRemoved(tx Tx, cid, user, id string) (any, error) {
	stored, err := tx.IdempotentResult("", removedSendKey(user, id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if err == nil {
		var resp protocol.MessageResponse
		if err := json.Unmarshal(stored, &resp); err != nil {
			return nil, err
		}
		if resp.Message.CID == cid {
			return resp, nil
		}
	}
	return nil, protocol.NewAPIError(protocol.CodeNotFound, "message %s was deleted for good: its id cannot be sent again", id)
}

// messageRemoved reports whether the message id was removed for good.
func messageRemoved(tx Tx, id string) (bool, error) {
	removed, err := tx.RemovedMessages([]string{id})
	return len(removed) > 0, err
}

// storedAnswer is the part of a stored answer that may carry messages:
// the fields of MessageResponse, ReactionResponse and ChannelResponse.
type storedAnswer struct {
	Message   *protocol.Message   `json:"message"`
	Messages  []protocol.Message  `json:"messages"`
	Reactions []protocol.Reaction `json:"reactions"`
}

// redactAnswer returns a stored answer to an idempotent write as it may be
// replayed now: a message removed since is reduced to its id
// (protocol.RemovedMessage) and taken out of message lists, with its
// reactions. An answer that names no removed message is returned as is.
func redactAnswer(tx Tx, stored []byte) ([]byte, error) {
	var a storedAnswer
	if err := json.Unmarshal(stored, &a); err != nil {
		return stored, nil // not an object: no message in it
	}
	var ids []string
	if a.Message != nil {
		ids = append(ids, a.Message.ID)
	}
	for _, m := range a.Messages {
		ids = append(ids, m.ID)
	}
	for _, r := range a.Reactions {
		ids = append(ids, r.MessageID)
	}
	if len(ids) == 0 {
		return stored, nil
	}
	removed, err := tx.RemovedMessages(uniqueIDs(ids))
	if err != nil || len(removed) == 0 {
		return stored, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(stored, &fields); err != nil {
		return nil, err
	}
	gone := func(id string) bool { return slices.Contains(removed, id) }
	set := func(name string, v any) error {
		data, err := json.Marshal(v)
		fields[name] = data
		return err
	}
	if a.Message != nil && gone(a.Message.ID) {
		if err := set("message", protocol.RemovedMessage(a.Message)); err != nil {
			return nil, err
		}
		delete(fields, "reaction")
	}
	if _, ok := fields["messages"]; ok {
		if err := set("messages", slices.DeleteFunc(a.Messages, func(m protocol.Message) bool { return gone(m.ID) })); err != nil {
			return nil, err
		}
	}
	if _, ok := fields["reactions"]; ok {
		if err := set("reactions", slices.DeleteFunc(a.Reactions, func(r protocol.Reaction) bool { return gone(r.MessageID) })); err != nil {
			return nil, err
		}
	}
	return json.Marshal(fields)
}
