package server

import (
	"encoding/json"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/outpostsync/outpost/protocol"
)

// Delivery is one event on its way to the connections of its recipients.
type Delivery struct {
	Event protocol.Event
	// Log names the log Event.Seq is a place in: LogChannel(cid) or
	// LogFeed(user); "" for an event of no log (ephemeral), which is
	// delivered at once.
	Log        string
	Recipients []string
}

// LogChannel and LogFeed name logs in Delivery.Log.
func LogChannel(cid string) string { return "c:" + cid }

// LogFeed names a user's membership feed in Delivery.Log.
func LogFeed(user string) string { return "f:" + user }

// Broker carries committed events to the connections of their recipients.
//
// The server calls Publish after each commit, from the goroutine that
// committed, with the write's events in the order it made them. Two
// commits of one log may reach Publish out of seq order (nothing holds a
// lock across commit and publish); the Broker delivers each log's events
// in seq order as far as it can without waiting long, so that a client
// seldom sees a false gap. Publish never blocks on a connection.
//
// The in-process broker serves one node. A broker for several nodes also
// learns of other nodes' commits from the store.
type Broker interface {
	Publish(ds []Delivery)
	// Close stops the broker's timers; later Publish calls are dropped.
	Close()
}

// defaultReorderWait is how long the in-process broker holds an event
// whose predecessor in its log has not been published yet
// (Config.ReorderWait). After it, the event goes out anyway: the
// predecessor's commit failed to publish, or is slow, and the client
// syncs over the gap.
const defaultReorderWait = 50 * time.Millisecond

// maxOrderedLogs bounds the logs whose next seq the broker remembers;
// beyond it, logs with nothing held are forgotten (their next event is
// then taken as in order).
const maxOrderedLogs = 100_000

// localBroker is the in-process Broker. It keeps, per log and epoch, the
// next seq to deliver, holds events that come early until the gap before
// them fills or the reorder wait passes, and hands events to send (the hub).
type localBroker struct {
	send func(data []byte, recipients []string)
	log  *slog.Logger
	wait time.Duration

	mu     sync.Mutex // guards the fields below; held while sending, so a log's events go out in order
	logs   map[string]*logOrder
	closed bool
}

type logOrder struct {
	next  int64 // the seq to deliver next
	held  map[int64]outgoing
	timer *time.Timer
	gen   int // tells a stale timer from the current one
}

type outgoing struct {
	seq        int64
	data       []byte
	recipients []string
}

func newLocalBroker(send func(data []byte, recipients []string), log *slog.Logger, wait time.Duration) *localBroker {
	return &localBroker{send: send, log: log, wait: wait, logs: map[string]*logOrder{}}
}

// Publish delivers ds, each log's events in seq order.
func (b *localBroker) Publish(ds []Delivery) {
	out := make([]outgoing, 0, len(ds))
	keys := make([]string, 0, len(ds))
	for _, d := range ds {
		// Encoding happens outside the lock, once for all recipients.
		data, err := json.Marshal(d.Event)
		if err != nil {
			b.log.Error("server: event does not marshal", "error", err)
			continue
		}
		key := ""
		if d.Log != "" && d.Event.Seq > 0 {
			key = d.Log + "@" + d.Event.Epoch
		}
		out = append(out, outgoing{seq: d.Event.Seq, data: data, recipients: d.Recipients})
		keys = append(keys, key)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	for i, o := range out {
		b.publishLocked(keys[i], o)
	}
}

func (b *localBroker) publishLocked(key string, o outgoing) {
	if key == "" {
		b.send(o.data, o.recipients)
		return
	}
	lo := b.logs[key]
	if lo == nil {
		if len(b.logs) >= maxOrderedLogs {
			b.forgetIdleLocked()
		}
		lo = &logOrder{next: o.seq}
		b.logs[key] = lo
	}
	switch {
	case o.seq < lo.next:
		// Late: its wait ran out before it came. Deliver it anyway; the
		// client drops what it already has.
		b.send(o.data, o.recipients)
	case o.seq == lo.next:
		b.send(o.data, o.recipients)
		lo.next++
		b.flushLocked(lo)
	default:
		if lo.held == nil {
			lo.held = map[int64]outgoing{}
		}
		lo.held[o.seq] = o
		if lo.timer == nil {
			lo.gen++
			gen := lo.gen
			lo.timer = time.AfterFunc(b.wait, func() { b.expire(key, lo, gen) })
		}
	}
}

// flushLocked delivers the held events that follow on from lo.next.
func (b *localBroker) flushLocked(lo *logOrder) {
	for {
		o, ok := lo.held[lo.next]
		if !ok {
			break
		}
		delete(lo.held, lo.next)
		b.send(o.data, o.recipients)
		lo.next++
	}
	if len(lo.held) == 0 && lo.timer != nil {
		lo.timer.Stop()
		lo.timer = nil
	}
}

// expire delivers what lo holds, in seq order, over the gap that did not
// fill in time.
func (b *localBroker) expire(key string, lo *logOrder, gen int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.logs[key] != lo || lo.gen != gen || lo.timer == nil {
		return
	}
	lo.timer = nil
	seqs := make([]int64, 0, len(lo.held))
	for seq := range lo.held {
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	for _, seq := range seqs {
		b.send(lo.held[seq].data, lo.held[seq].recipients)
		delete(lo.held, seq)
		lo.next = seq + 1
	}
}

func (b *localBroker) forgetIdleLocked() {
	for key, lo := range b.logs {
		if len(lo.held) == 0 {
			delete(b.logs, key)
		}
	}
}

// Close stops the timers; what is held is dropped (its clients sync).
func (b *localBroker) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for _, lo := range b.logs {
		if lo.timer != nil {
			lo.timer.Stop()
			lo.timer = nil
		}
	}
}
