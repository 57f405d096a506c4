package client

// A WriteOption sets an optional parameter of a write call (UpdateMessage,
// DeleteMessage, SendReaction, MarkRead, AddMembers and the other writes
// whose entity has no client-made id of its own).
type WriteOption func(*writeOptions)

type writeOptions struct {
	idemKey string // the Idempotency-Key header, if not empty
}

// IdempotencyKey sets a write's idempotency key: a client-made id for the
// write itself, sent as the Idempotency-Key header, so that repeating the
// call after an error the client could not read (a timeout, a lost
// connection) applies it once. Pass the same key on every attempt of one
// write. Without it (or with ""), no header is sent.
func IdempotencyKey(key string) WriteOption {
	return func(o *writeOptions) { o.idemKey = key }
}

func writeOpts(opts []WriteOption) writeOptions {
	var o writeOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	return o
}
