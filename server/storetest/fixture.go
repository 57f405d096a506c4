package storetest

import (
	"context"
	"fmt"

	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
)

// MessageText is the text of the messages AppendMessages writes: about as
// long as people write in chat.
const MessageText = "a message of ordinary length, about as long as people write in chat"

// AppendMessages writes n message.new events by alice straight into st,
// round-robin over cids (which must exist), in transactions of 5,000:
// the fixture of the sync and catch-up benchmarks. Message ids are
// m000000001 and on, event ids e000000001 and on, numbered from first,
// so calls may follow each other.
func AppendMessages(ctx context.Context, st server.Store, cids []string, first, n int) error {
	for done := 0; done < n; {
		k := min(5000, n-done)
		err := st.Update(ctx, func(tx server.Tx) error {
			now := tx.Now()
			for i := range k {
				idx := first + done + i
				cid := cids[idx%len(cids)]
				evID := fmt.Sprintf("e%09d", idx)
				pos, err := tx.NextPosition(cid, evID)
				if err != nil {
					return err
				}
				m := protocol.Message{ID: fmt.Sprintf("m%09d", idx), CID: cid, UserID: "alice", Text: MessageText,
					CreatedAt: now, UpdatedAt: now, Version: pos.Seq, Seq: pos.Seq}
				if err := tx.PutMessage(m); err != nil {
					return err
				}
				if err := tx.AppendEvent(protocol.Event{ID: evID, Type: protocol.EventMessageNew, CID: cid, Seq: pos.Seq,
					Epoch: pos.Epoch, CreatedAt: now, UserID: "alice", Message: &m}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("storetest: append messages: %w", err)
		}
		done += k
	}
	return nil
}
