package server

import (
	"context"
	"log/slog"
	"sync"
)

// CommitFeed is implemented by a Store that several server nodes share
// (package pgstore): it tells each node of the events the other nodes
// commit, so that the node delivers them to its own connections without
// a sync. A server on such a store delivers through a cluster broker.
type CommitFeed interface {
	// Follow calls fn with the stored events other nodes commit, from
	// (at the latest) when the store was opened until ctx ends, each log's events in seq order
	// as far as commits allow, and with their recipients. It waits for
	// the database while it is unreachable, and returns when ctx ends.
	Follow(ctx context.Context, fn func(ds []Delivery))
	// Committed tells the other nodes' Follow, at once, that this node
	// committed events. It never blocks.
	Committed()
	// Broadcast passes events of no log (typing and other ephemeral
	// events) to the other nodes' Follow, at most once and only while
	// they are connected: what is not stored cannot be caught up. It
	// never blocks; under load it may drop them.
	Broadcast(ds []Delivery)
}

// clusterBroker delivers this node's commits at once, and those of the
// other nodes as CommitFeed reports them, through one ordering broker,
// so that each log's events reach a connection in seq order.
type clusterBroker struct {
	feed   CommitFeed
	local  Broker
	log    *slog.Logger
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

func newClusterBroker(ctx context.Context, feed CommitFeed, local Broker, log *slog.Logger) *clusterBroker {
	ctx, cancel := context.WithCancel(ctx)
	b := &clusterBroker{feed: feed, local: local, log: log, cancel: cancel}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		feed.Follow(ctx, local.Publish)
	}()
	return b
}

// Publish delivers this node's events, wakes the other nodes for the
// stored ones, and passes them the ephemeral ones.
func (b *clusterBroker) Publish(ds []Delivery) {
	b.local.Publish(ds)
	committed := false
	var ephemeral []Delivery
	for _, d := range ds {
		if d.Log != "" {
			committed = true
		} else {
			ephemeral = append(ephemeral, d)
		}
	}
	if committed {
		b.feed.Committed()
	}
	if len(ephemeral) > 0 {
		b.feed.Broadcast(ephemeral)
	}
}

// Close stops following and the ordering broker.
func (b *clusterBroker) Close() {
	b.once.Do(func() {
		b.cancel()
		b.wg.Wait()
		b.local.Close()
	})
}
