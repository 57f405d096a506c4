package server

import (
	"encoding/json"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/outpostsync/outpost/protocol"
)

// recorder collects what a broker sends, as seqs per recipient.
type recorder struct {
	mu   sync.Mutex
	got  []int64
	sent chan struct{}
}

func (r *recorder) send(data []byte, _ []string) {
	var ev protocol.Event
	_ = json.Unmarshal(data, &ev)
	r.mu.Lock()
	r.got = append(r.got, ev.Seq)
	r.mu.Unlock()
	r.sent <- struct{}{}
}

func (r *recorder) seqs() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func chanEvent(seq int64) Delivery {
	return Delivery{Event: protocol.Event{ID: "e", Type: protocol.EventMessageNew, CID: "team:a", Seq: seq, Epoch: "ep"},
		Log: LogChannel("team:a"), Recipients: []string{"bob"}}
}

// TestBroker_ReordersPerLog: events of one log published out of order go
// out in seq order once the gap fills; ephemeral events and other logs
// are not held up.
func TestBroker_ReordersPerLog(t *testing.T) {
	rec := &recorder{sent: make(chan struct{}, 100)}
	b := newLocalBroker(rec.send, slog.New(slog.DiscardHandler), time.Hour)
	defer b.Close()
	b.Publish([]Delivery{chanEvent(1)})
	b.Publish([]Delivery{chanEvent(3), chanEvent(4)})
	b.Publish([]Delivery{{Event: protocol.Event{Type: protocol.EventTypingStart, CID: "team:a"}, Recipients: []string{"bob"}}})
	other := chanEvent(7)
	other.Log = LogChannel("team:b")
	b.Publish([]Delivery{other})
	if got, want := rec.seqs(), []int64{1, 0, 7}; !slices.Equal(got, want) {
		t.Fatalf("before the gap fills: %v, want %v", got, want)
	}
	b.Publish([]Delivery{chanEvent(2)})
	if got, want := rec.seqs(), []int64{1, 0, 7, 2, 3, 4}; !slices.Equal(got, want) {
		t.Fatalf("after: %v, want %v", got, want)
	}
}

// TestBroker_GapThatNeverFillsIsDeliveredAfterTheWait: an event held for
// a predecessor that never comes goes out after the wait, and the log
// goes on from there; the late predecessor, if it comes, still goes out.
func TestBroker_GapThatNeverFillsIsDeliveredAfterTheWait(t *testing.T) {
	rec := &recorder{sent: make(chan struct{}, 100)}
	b := newLocalBroker(rec.send, slog.New(slog.DiscardHandler), 10*time.Millisecond)
	defer b.Close()
	b.Publish([]Delivery{chanEvent(1)})
	<-rec.sent
	b.Publish([]Delivery{chanEvent(4), chanEvent(3)})
	for range 2 {
		select {
		case <-rec.sent:
		case <-time.After(5 * time.Second):
			t.Fatal("held events never went out")
		}
	}
	b.Publish([]Delivery{chanEvent(5), chanEvent(2)})
	if got, want := rec.seqs(), []int64{1, 3, 4, 5, 2}; !slices.Equal(got, want) {
		t.Fatalf("sent %v, want %v", got, want)
	}
}

// TestBroker_NewEpochIsANewLog: a log's new epoch starts its own order.
func TestBroker_NewEpochIsANewLog(t *testing.T) {
	rec := &recorder{sent: make(chan struct{}, 100)}
	b := newLocalBroker(rec.send, slog.New(slog.DiscardHandler), time.Hour)
	defer b.Close()
	b.Publish([]Delivery{chanEvent(8)})
	fresh := chanEvent(1)
	fresh.Event.Epoch = "new"
	b.Publish([]Delivery{fresh})
	if got, want := rec.seqs(), []int64{8, 1}; !slices.Equal(got, want) {
		t.Fatalf("sent %v, want %v", got, want)
	}
}
