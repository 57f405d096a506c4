package syncmanager_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/syncmanager"
)

// batchConn is a fakeConn that takes batches: each op runs through the
// fake's single write, so writeErrs still fail single ops; batchErrs fail
// whole batch calls, in turn, before anything is applied.
type batchConn struct {
	*fakeConn
	bmu       sync.Mutex
	batchErrs []error
	sizes     []int // ops per batch call that reached the "server"
	calls     int
}

func (b *batchConn) Batch(ctx context.Context, req protocol.BatchRequest) (*protocol.BatchResponse, error) {
	b.bmu.Lock()
	b.calls++
	if len(b.batchErrs) > 0 {
		err := b.batchErrs[0]
		b.batchErrs = b.batchErrs[1:]
		if err != nil {
			b.bmu.Unlock()
			return nil, err
		}
	}
	b.sizes = append(b.sizes, len(req.Ops))
	b.bmu.Unlock()
	out := &protocol.BatchResponse{}
	for _, op := range req.Ops {
		var res protocol.BatchResult
		var mr *protocol.MessageResponse
		var err error
		switch op.Type {
		case protocol.OpSendMessage:
			var body protocol.SendMessageRequest
			_ = json.Unmarshal(op.Body, &body)
			mr, err = b.SendMessage(ctx, op.CID, body)
			res.Status = 201
		case protocol.OpUpdateMessage:
			var body protocol.UpdateMessageRequest
			_ = json.Unmarshal(op.Body, &body)
			mr, err = b.UpdateMessage(ctx, op.MessageID, body, op.Key)
			res.Status = 200
		default:
			err = protocol.NewAPIError(protocol.CodeNotAllowed, "not in the fake")
		}
		if err != nil {
			ae, ok := protocol.AsAPIError(err)
			if !ok {
				return nil, err
			}
			res = protocol.BatchResult{Status: ae.StatusCode, Error: ae}
		} else {
			res.Message = &mr.Message
		}
		out.Results = append(out.Results, res)
	}
	return out, nil
}

func (b *batchConn) batchSizes() ([]int, int) {
	b.bmu.Lock()
	defer b.bmu.Unlock()
	return append([]int(nil), b.sizes...), b.calls
}

func queueSends(tb testing.TB, m *syncmanager.Manager, n int) []string {
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
	conn := &batchConn{fakeConn: newFakeConn("bob")}
	conn.addChannel("team:a")
	db := openStore(t)
	m, err := syncmanager.New(conn, db, syncmanager.Options{DrainBatchSize: 40, RetryMinDelay: 1e6, RetryMaxDelay: 5e6})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if err := m.Init(ctx); err != nil {
		t.Fatal(err)
	}
	want := queueSends(t, m, 100)
	conn.mu.Lock()
	// Batch 1 (m000-m039): m005 is refused for good.
	conn.writeErrs = make([]error, 5)
	conn.writeErrs = append(conn.writeErrs, protocol.NewAPIError(protocol.CodeInput, "no"))
	conn.mu.Unlock()
	conn.bmu.Lock()
	// Batch 2 fails whole, once.
	conn.batchErrs = []error{nil, &protocol.APIError{Code: protocol.CodeInternal, StatusCode: 503}}
	conn.bmu.Unlock()
	conn.setOnline(true)
	waitFor(t, "outbox empty", func() bool { st := m.Status(); return st.Synced && st.Pending == 0 })

	want = append(want[:5:5], want[6:]...)
	if got := conn.writesSoFar(); !equal(got, want) {
		t.Errorf("writes = %v,\nwant %v", got, want)
	}
	sizes, calls := conn.batchSizes()
	if fmt.Sprint(sizes) != "[40 40 20]" || calls != 4 {
		t.Errorf("batches = %v in %d calls, want [40 40 20] in 4", sizes, calls)
	}
	failed, _ := db.GetFailedTasks(ctx, "bob")
	if len(failed) != 1 || failed[0].ID != "m005" {
		t.Errorf("failed = %+v, want m005", failed)
	}
	for _, id := range []string{"m000", "m004", "m006", "m099"} {
		if msg, _ := db.Message(ctx, id); msg.Status != offlinedb.StatusSent {
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
	conn := &batchConn{fakeConn: newFakeConn("bob")}
	conn.addChannel("team:a")
	db := openStore(t)
	m := newManagerFor(t, conn, db, syncmanager.Options{})
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

// TestManager_BatchFallbacks: a server without the batch endpoint (404)
// gets the tasks one by one from then on; a batch refused whole for a
// permanent reason (413) is resent one by one, so each task meets its own
// fate.
func TestManager_BatchFallbacks(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		wantCalls int
	}{
		{"no endpoint", protocol.NewAPIError(protocol.CodeNotFound, "no such endpoint: /batch"), 1},
		{"too large", protocol.NewAPIError(protocol.CodePayloadTooBig, "request body over 1 bytes"), 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := &batchConn{fakeConn: newFakeConn("bob"), batchErrs: []error{tc.err}}
			conn.addChannel("team:a")
			db := openStore(t)
			m := newManagerFor(t, conn, db, syncmanager.Options{DrainBatchSize: 5})
			want := queueSends(t, m, 8)
			conn.setOnline(true)
			waitFor(t, "outbox empty", func() bool { st := m.Status(); return st.Synced && st.Pending == 0 })
			if got := conn.writesSoFar(); !equal(got, want) {
				t.Errorf("writes = %v, want %v", got, want)
			}
			if _, calls := conn.batchSizes(); calls != tc.wantCalls {
				t.Errorf("batch calls = %d, want %d", calls, tc.wantCalls)
			}
		})
	}
}

func newManagerFor(tb testing.TB, conn syncmanager.Conn, db *offlinedb.DB, opts syncmanager.Options) *syncmanager.Manager {
	tb.Helper()
	opts.RetryMinDelay, opts.RetryMaxDelay = 1e6, 5e6
	m, err := syncmanager.New(conn, db, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	if err := m.Init(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return m
}
