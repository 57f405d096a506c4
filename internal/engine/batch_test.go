package engine_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/internal/engine"
	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/protocol"
)

func queueSends(tb testing.TB, m *engine.Manager, n int) []string {
	tb.Helper()
	var want []string
	for i := range n {
		id := fmt.Sprintf("m%03d", i)
		if _, err := m.SendMessage(context.Background(), "team:a", protocol.MessageInput{ID: id, Text: id}); err != nil {
			tb.Fatal(err)
		}
		want = append(want, "send:"+id)
	}
	return want
}

// TestManager_BatchDrain: a long outbox leaves in batches of at most
// DrainBatchSize, in order; a refused op fails alone while the rest of its
// batch applies; a batch that fails whole, or an op that fails for a
// temporary reason, is retried from there without reordering or
// duplicates.
func TestManager_BatchDrain(t *testing.T) {
	ctx := context.Background()
	m, conn, db := startManager(t, managerSetup{opts: engine.Options{DrainBatchSize: 40}})
	want := queueSends(t, m, 100)
	conn.mu.Lock()
	// Batch 1 (m000-m039): m005 is refused for good.
	conn.writeErrs = make([]error, 5)
	conn.writeErrs = append(conn.writeErrs, protocol.NewAPIError(protocol.CodeInput, "no"))
	// Batch 2 fails whole, once.
	conn.batchErrs = []error{nil, &protocol.APIError{Code: protocol.CodeInternal, StatusCode: 503}}
	conn.mu.Unlock()
	conn.setOnline(true)
	waitFor(t, "outbox empty", func() bool { st := m.Status(); return st.Synced && st.Pending == 0 })

	want = append(want[:5:5], want[6:]...)
	if got := conn.writesSoFar(); !equal(got, want) {
		t.Errorf("writes = %v,\nwant %v", got, want)
	}
	sizes, calls := conn.batches()
	if fmt.Sprint(sizes) != "[40 40 20]" || calls != 4 {
		t.Errorf("batches = %v in %d calls, want [40 40 20] in 4", sizes, calls)
	}
	failed, _ := db.FailedTasks(ctx)
	if len(failed) != 1 || failed[0].ID != "m005" {
		t.Errorf("failed = %+v, want m005", failed)
	}
	for _, id := range []string{"m000", "m004", "m006", "m099"} {
		if msg, _ := db.Message(ctx, id); msg.Status != store.StatusSent {
			t.Errorf("%s: status %q, want sent", id, msg.Status)
		}
	}
	if st := m.Status(); st.Failed != 1 {
		t.Errorf("status failed = %d, want 1", st.Failed)
	}
}

// TestManager_BatchTemporaryOpFailureKeepsOrder: an op that fails for a
// temporary reason stops the drain there: the ops before it are done, it
// and the ones after it are sent again later, in order.
func TestManager_BatchTemporaryOpFailureKeepsOrder(t *testing.T) {
	m, conn, _ := startManager(t, managerSetup{})
	want := queueSends(t, m, 10)
	conn.mu.Lock()
	conn.writeErrs = []error{nil, nil, nil, &protocol.APIError{Code: protocol.CodeTimeout, StatusCode: 408}}
	conn.mu.Unlock()
	conn.setOnline(true)
	waitFor(t, "outbox empty", func() bool { st := m.Status(); return st.Synced && st.Pending == 0 })
	// m004..m009 went through once in the first batch and again on retry:
	// the fake answers repeats from its store, so the writes log shows them
	// twice but the server holds each once.
	got := conn.writesSoFar()
	if !equal(got[:3], want[:3]) || !equal(got[len(got)-7:], want[3:]) {
		t.Errorf("writes = %v, want m000-m002, then m003-m009 in order on retry", got)
	}
	conn.mu.Lock()
	n := len(conn.messages)
	conn.mu.Unlock()
	if n != 10 {
		t.Errorf("server holds %d messages, want 10", n)
	}
}

// TestManager_BatchRefusedWhole: a batch the server refuses whole for a
// permanent reason (413) is sent again as batches of one, so that each
// task meets its own fate: a batch of one refused whole fails only its
// task. A batch that fails whole for a temporary reason (an undecodable
// answer, a 503) stops the drain and is retried whole.
func TestManager_BatchRefusedWhole(t *testing.T) {
	tooBig := protocol.NewAPIError(protocol.CodePayloadTooBig, "request body over 1 bytes")
	for _, tc := range []struct {
		name       string
		errs       []error
		wantSizes  string
		wantCalls  int
		wantFailed []string
	}{
		// m000-m004 refused whole, then m000 alone too: m000 fails.
		{"permanent", []error{tooBig, tooBig}, "[1 1 1 1 3]", 7, []string{"m000"}},
		{"decode error", []error{&client.DecodeError{Op: "batch", StatusCode: 200, Err: errors.New("unexpected EOF")}},
			"[5 3]", 3, nil},
		{"unavailable", []error{&protocol.APIError{Code: protocol.CodeInternal, StatusCode: 503}}, "[5 3]", 3, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, conn, db := startManager(t, managerSetup{opts: engine.Options{DrainBatchSize: 5}})
			conn.mu.Lock()
			conn.batchErrs = tc.errs
			conn.mu.Unlock()
			want := queueSends(t, m, 8)
			conn.setOnline(true)
			waitFor(t, "outbox empty", func() bool { st := m.Status(); return st.Synced && st.Pending == 0 })
			var failedIDs []string
			failed, _ := db.FailedTasks(context.Background())
			for _, f := range failed {
				failedIDs = append(failedIDs, f.ID)
			}
			if fmt.Sprint(failedIDs) != fmt.Sprint(tc.wantFailed) {
				t.Errorf("failed = %v, want %v", failedIDs, tc.wantFailed)
			}
			want = slices.DeleteFunc(want, func(w string) bool { return slices.Contains(tc.wantFailed, strings.TrimPrefix(w, "send:")) })
			if got := conn.writesSoFar(); !equal(got, want) {
				t.Errorf("writes = %v, want %v", got, want)
			}
			if sizes, calls := conn.batches(); fmt.Sprint(sizes) != tc.wantSizes || calls != tc.wantCalls {
				t.Errorf("batches = %v in %d calls, want %s in %d", sizes, calls, tc.wantSizes, tc.wantCalls)
			}
		})
	}
}

// TestManager_DrainBatchSizeOne: with DrainBatchSize 1 every task still
// leaves as a batch, of one op.
func TestManager_DrainBatchSizeOne(t *testing.T) {
	m, conn, _ := startManager(t, managerSetup{opts: engine.Options{DrainBatchSize: 1}})
	want := queueSends(t, m, 3)
	conn.setOnline(true)
	waitFor(t, "outbox empty", func() bool { st := m.Status(); return st.Synced && st.Pending == 0 })
	if got := conn.writesSoFar(); !equal(got, want) {
		t.Errorf("writes = %v, want %v", got, want)
	}
	if sizes, calls := conn.batches(); fmt.Sprint(sizes) != "[1 1 1]" || calls != 3 {
		t.Errorf("batches = %v in %d calls, want [1 1 1] in 3", sizes, calls)
	}
}
