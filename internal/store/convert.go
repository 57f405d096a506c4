package store

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"time"
)

// Times are stored as INTEGER Unix nanoseconds so server times round-trip
// exactly; NULL means unset.

func nanos(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

func nanosPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return nanos(*t)
}

func fromNanos(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

func fromNanosPtr(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := time.Unix(0, n.Int64).UTC()
	return &t
}

// jsonArg stores free-form JSON as TEXT, or NULL when absent.
func jsonArg(raw json.RawMessage) any {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	return string(raw)
}

func fromJSON(s sql.NullString) json.RawMessage {
	if !s.Valid {
		return nil
	}
	return json.RawMessage(s.String)
}

func countsArg(m map[string]int) any {
	if m == nil {
		return nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil
	}
	return string(b)
}

func fromCounts(s sql.NullString) map[string]int {
	if !s.Valid {
		return nil
	}
	var m map[string]int
	if json.Unmarshal([]byte(s.String), &m) != nil {
		return nil
	}
	return m
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
