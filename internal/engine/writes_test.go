package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/protocol"
)

// TestWrites_RefusedBeforeQueued: a write the server would refuse for its
// shape is refused by the write call, with a typed error naming the
// field and, for a text, the limit; nothing reaches the outbox.
func TestWrites_RefusedBeforeQueued(t *testing.T) {
	ctx := context.Background()
	m, _, db := startManager(t, managerSetup{})
	long := strings.Repeat("x", protocol.MaxTextBytes+1)
	cases := []struct {
		name  string
		write func() error
		want  string // in the error
	}{
		{"text over the limit", func() error {
			_, err := m.SendMessage(ctx, "team:a", protocol.MessageInput{Text: long})
			return err
		}, "over the limit of 65536 bytes"},
		{"blank text", func() error {
			_, err := m.SendMessage(ctx, "team:a", protocol.MessageInput{Text: " \n"})
			return err
		}, "text is empty"},
		{"bad cid", func() error {
			_, err := m.SendMessage(ctx, "nocolon", protocol.MessageInput{Text: "hi"})
			return err
		}, "not of the form type:id"},
		{"bad message id", func() error {
			_, err := m.SendMessage(ctx, "team:a", protocol.MessageInput{ID: "a b", Text: "hi"})
			return err
		}, "message id has the invalid character ' '"},
		{"edit over the limit", func() error {
			_, err := m.UpdateMessage(ctx, "team:a", "m1", protocol.UpdateMessageRequest{Text: long})
			return err
		}, "over the limit"},
		{"emoji reaction", func() error {
			_, err := m.SendReaction(ctx, "team:a", "m1", protocol.SendReactionRequest{Type: "👍"})
			return err
		}, "reaction type has the invalid character '👍' at byte 0"},
		{"emoji unreaction", func() error {
			_, err := m.DeleteReaction(ctx, "team:a", "m1", "ok👍")
			return err
		}, "invalid character '👍' at byte 2"},
		{"delete with empty id", func() error {
			_, err := m.DeleteMessage(ctx, "team:a", "", false)
			return err
		}, "message id is empty"},
		{"read of a bad cid", func() error {
			_, err := m.MarkRead(ctx, ":a", protocol.MarkReadRequest{})
			return err
		}, "cid type is empty"},
	}
	for _, c := range cases {
		err := c.write()
		var ve *protocol.ValidationError
		if !errors.Is(err, store.ErrInvalidTask) || !errors.As(err, &ve) {
			t.Errorf("%s: err = %v, want ErrInvalidTask and a *protocol.ValidationError", c.name, err)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %q, want it to say %q", c.name, err, c.want)
		}
	}
	pending, err := db.PendingTasks(ctx)
	if err != nil || len(pending) != 0 {
		t.Fatalf("outbox = %d tasks, %v; want none queued", len(pending), err)
	}
	// At the limit exactly is fine.
	if _, err := m.SendMessage(ctx, "team:a", protocol.MessageInput{Text: long[1:]}); err != nil {
		t.Fatalf("text of exactly MaxTextBytes: %v", err)
	}
}

// TestWrites_PendingCountNeverLags: Status().Pending counts a write as
// soon as the write call returns, even while the worker recounts the
// outbox at the same moment (each offline write asks for a drain, and an
// offline drain recounts): a recount that read the outbox before a write
// committed must not overwrite the write's count.
func TestWrites_PendingCountNeverLags(t *testing.T) {
	ctx := context.Background()
	m, _, _ := startManager(t, managerSetup{})
	for i := range 300 {
		if _, err := m.SendMessage(ctx, "team:a", protocol.MessageInput{Text: "offline"}); err != nil {
			t.Fatal(err)
		}
		if got := m.Status().Pending; got != i+1 {
			t.Fatalf("after write %d: Status().Pending = %d, want %d", i+1, got, i+1)
		}
	}
}
