package pgstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/outpostsync/outpost/server"
)

// unavailable wraps err in server.ErrStoreUnavailable when it means the
// database could not be reached or the same request may succeed later.
// Other errors are returned as they are.
func unavailable(err error) error {
	if err == nil || errors.Is(err, server.ErrStoreUnavailable) || !temporary(err) {
		return err
	}
	return fmt.Errorf("%w: %w", server.ErrStoreUnavailable, err)
}

// retryable reports whether err aborted a transaction that may simply be
// run again: a deadlock, a serialization failure, or an idempotency key
// stored meanwhile by another transaction (run again, the write finds
// its answer).
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	return pgErr.Code == "40P01" || pgErr.Code == "40001" ||
		(pgErr.Code == "23505" && (pgErr.ConstraintName == "idempotency_pkey" || pgErr.ConstraintName == "record_rules_pkey"))
}

func temporary(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// The caller gave up: the server answers it as a timeout.
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case len(pgErr.Code) == 5 && pgErr.Code[:2] == "08": // connection exception
			return true
		case pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03": // shutdown, crash, cannot connect now
			return true
		case pgErr.Code == "40001", pgErr.Code == "40P01": // serialization failure, deadlock
			return true
		case pgErr.Code == "25P03": // idle in transaction timeout
			return true
		case pgErr.Code == "53300": // too many connections
			return true
		}
		return false
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) || pgconn.Timeout(err) || pgconn.SafeToRetry(err) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, net.ErrClosed)
}
