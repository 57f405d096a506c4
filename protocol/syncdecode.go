package protocol

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"
)

// DroppedEvent is an event DecodeSyncPage left out of a page because it
// was malformed or lacked an id or time; the rest of the page is kept. It
// is the error a client reports for such an event.
type DroppedEvent struct {
	// Where places it in the page: "event 3", "feed event 0".
	Where string
	// EventID is the event's id, when it could be read.
	EventID string
	Err     error
}

func (d *DroppedEvent) Error() string {
	s := "protocol: dropped " + d.Where + " of a sync page"
	if d.EventID != "" {
		s += " (" + strconv.Quote(d.EventID) + ")"
	}
	return s + ": " + d.Err.Error()
}

func (d *DroppedEvent) Unwrap() error { return d.Err }

// DecodeSyncPage decodes a sync response and keeps its valid events: an
// event that does not decode, or fails Validate, is left out of the page
// and listed in dropped, so that one bad event cannot block a sync. A response that is not a sync page at all (malformed JSON, a
// wrong type outside the events) is an error, a *DecodeError.
//
// The result is the one encoding/json gives (json.Unmarshal into a
// SyncResponse, then each event decoded as DecodeEvent does), only
// cheaper: the common channel events (an event and its message, or its
// record, strings without escapes) are read by a small scanner, and
// anything else it meets is handed to encoding/json.
func DecodeSyncPage(data []byte) (page *SyncResponse, dropped []*DroppedEvent, err error) {
	page, dropped, ok := decodeSyncPageFast(data)
	if ok {
		return page, dropped, nil
	}
	return decodeSyncPageSlow(data)
}

// decodeSyncPageSlow is DecodeSyncPage with encoding/json alone.
func decodeSyncPageSlow(data []byte) (*SyncResponse, []*DroppedEvent, error) {
	type plain SyncResponse
	var page SyncResponse
	var dropped []*DroppedEvent
	keepValid := func(evs []Event, what string) []Event {
		kept := evs[:0]
		for i := range evs {
			if err := evs[i].Validate(); err != nil {
				dropped = append(dropped, &DroppedEvent{Where: what + "event " + strconv.Itoa(i), EventID: evs[i].ID, Err: err})
				continue
			}
			kept = append(kept, evs[i])
		}
		return kept
	}
	if err := json.Unmarshal(data, (*plain)(&page)); err == nil {
		page.Events = keepValid(page.Events, "")
		page.Feed.Events = keepValid(page.Feed.Events, "feed ")
		return &page, dropped, nil
	}
	// Some event did not decode: take the page apart and decode each.
	var raw struct {
		plain
		Events []json.RawMessage `json:"events"`
		Feed   struct {
			FeedPage
			Events []json.RawMessage `json:"events"`
		} `json:"feed"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, nil, &DecodeError{What: "sync response", Err: err}
	}
	decodeEach := func(raw []json.RawMessage, what string) []Event {
		out := make([]Event, 0, len(raw))
		for i, r := range raw {
			ev, err := DecodeEvent(r)
			if err != nil {
				dropped = append(dropped, &DroppedEvent{Where: what + "event " + strconv.Itoa(i), Err: err})
				continue
			}
			out = append(out, *ev)
		}
		return out
	}
	page = SyncResponse(raw.plain)
	page.Feed = raw.Feed.FeedPage
	page.Events = decodeEach(raw.Events, "")
	page.Feed.Events = decodeEach(raw.Feed.Events, "feed ")
	return &page, dropped, nil
}

// decodeSyncPageFast reads the page's top-level "events" array itself and
// the rest of the page with encoding/json. ok is false when the page is
// not the plain shape it reads (or is malformed): the caller then decodes
// it all with encoding/json, which says what is wrong.
func decodeSyncPageFast(data []byte) (page *SyncResponse, dropped []*DroppedEvent, ok bool) {
	var evs []Event
	rest, ok := spliceOut(data, "events", func(s *scanner) bool {
		evs, dropped, ok = s.events()
		return ok
	})
	if !ok {
		return nil, nil, false
	}
	p, more, err := decodeSyncPageSlow(rest)
	if err != nil {
		return nil, nil, false
	}
	p.Events = evs
	return p, append(dropped, more...), true
}

// spliceOut reads the JSON object data, whose top-level key key (met
// once, and no other key encoding/json would match to it) read reads
// with a scanner, and returns data with that array replaced by [], for
// encoding/json to read the rest. ok is false when data is not of that
// shape, or read says false.
func spliceOut(data []byte, key string, read func(s *scanner) bool) (rest []byte, ok bool) {
	s := scanner{d: data}
	if !s.byte('{') {
		return nil, false
	}
	start, end := -1, -1
	if !s.byte('}') {
		for {
			k, ok := s.str()
			if !ok || !s.byte(':') {
				return nil, false
			}
			s.ws()
			switch {
			case string(k) == key:
				if start >= 0 {
					return nil, false // twice: encoding/json's rules decide
				}
				start = s.i
				if !read(&s) {
					return nil, false
				}
				end = s.i
			case bytes.EqualFold(k, []byte(key)):
				return nil, false // encoding/json matches it to the same field
			default:
				if !s.skip(0) {
					return nil, false
				}
			}
			if s.byte('}') {
				break
			}
			if !s.byte(',') {
				return nil, false
			}
		}
	}
	s.ws()
	if s.i != len(data) || start < 0 {
		return nil, false
	}
	rest = make([]byte, 0, len(data)-(end-start)+2)
	rest = append(rest, data[:start]...)
	rest = append(rest, "[]"...)
	rest = append(rest, data[end:]...)
	return rest, true
}

// scanner reads JSON from d at i. Its readers return false for anything
// outside the plain forms they take, malformed input included.
type scanner struct {
	d     []byte
	i     int
	names map[string]string // see intern
}

func (s *scanner) ws() {
	for s.i < len(s.d) {
		switch s.d[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// byte consumes c, after white space, if it comes next.
func (s *scanner) byte(c byte) bool {
	s.ws()
	if s.i < len(s.d) && s.d[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str reads a string without escapes, of valid UTF-8, and returns its
// contents (a part of d).
func (s *scanner) str() ([]byte, bool) {
	s.ws()
	if s.i >= len(s.d) || s.d[s.i] != '"' {
		return nil, false
	}
	start := s.i + 1
	ascii := true
	for j := start; j < len(s.d); j++ {
		switch c := s.d[j]; {
		case c == '"':
			v := s.d[start:j]
			if !ascii && !utf8.Valid(v) {
				return nil, false
			}
			s.i = j + 1
			return v, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= 0x80:
			ascii = false
		}
	}
	return nil, false
}

// int reads an integer in int64's range, written as JSON's integers are.
func (s *scanner) int() (int64, bool) {
	s.ws()
	j := s.i
	if j < len(s.d) && s.d[j] == '-' {
		j++
	}
	digits := j
	for j < len(s.d) && s.d[j] >= '0' && s.d[j] <= '9' {
		j++
	}
	if j == digits || (s.d[digits] == '0' && j > digits+1) {
		return 0, false
	}
	if j < len(s.d) && (s.d[j] == '.' || s.d[j] == 'e' || s.d[j] == 'E') {
		return 0, false
	}
	n, err := strconv.ParseInt(string(s.d[s.i:j]), 10, 64)
	if err != nil {
		return 0, false
	}
	s.i = j
	return n, true
}

// time reads a time as time.Time's UnmarshalJSON does.
func (s *scanner) time() (time.Time, bool) {
	s.ws()
	start := s.i
	var t time.Time
	if _, ok := s.str(); !ok {
		return t, false
	}
	if err := t.UnmarshalJSON(s.d[start:s.i]); err != nil {
		return t, false
	}
	return t, true
}

// skip passes over one value. It follows strings and nesting but checks
// little else: what it passes over is checked by encoding/json after.
func (s *scanner) skip(depth int) bool {
	s.ws()
	if s.i >= len(s.d) || depth > 10000 {
		return false
	}
	switch s.d[s.i] {
	case '"':
		for j := s.i + 1; j < len(s.d); j++ {
			switch s.d[j] {
			case '\\':
				j++
			case '"':
				s.i = j + 1
				return true
			}
		}
		return false
	case '{', '[':
		end := byte('}')
		if s.d[s.i] == '[' {
			end = ']'
		}
		s.i++
		if s.byte(end) {
			return true
		}
		for {
			if end == '}' {
				if !s.skip(depth+1) || !s.byte(':') {
					return false
				}
			}
			if !s.skip(depth + 1) {
				return false
			}
			if s.byte(end) {
				return true
			}
			if !s.byte(',') {
				return false
			}
		}
	default:
		j := s.i
		for j < len(s.d) {
			c := s.d[j]
			if c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r' {
				break
			}
			j++
		}
		if j == s.i {
			return false
		}
		s.i = j
		return true
	}
}

// maxEventsGuess bounds the room events makes for a page's events at
// first: twice the largest page a server gives by default.
const maxEventsGuess = 4096

// events reads the page's events array. An event the scanner does not
// take is decoded by DecodeEvent; if it is not even JSON, the page is
// malformed and ok is false.
func (s *scanner) events() (evs []Event, dropped []*DroppedEvent, ok bool) {
	if !s.byte('[') {
		return nil, nil, false
	}
	evs = []Event{}
	if s.byte(']') {
		return evs, nil, true
	}
	for n := 0; ; n++ {
		s.ws()
		start := s.i
		var ev Event
		if s.event(&ev) {
			if n == 0 {
				// The first event's size says about how many the page
				// holds (a page's events are much alike): room for them
				// at once, where appending would copy them over and
				// over; bounded, so a small first event of a large page
				// costs no more than appending.
				evs = make([]Event, 0, min((len(s.d)-start)/(s.i-start+1)+1, maxEventsGuess))
			}
			if err := ev.Validate(); err != nil {
				dropped = append(dropped, &DroppedEvent{Where: "event " + strconv.Itoa(n), EventID: ev.ID, Err: err})
			} else {
				evs = append(evs, ev)
			}
		} else {
			s.i = start
			if !s.skip(0) || !json.Valid(s.d[start:s.i]) {
				return nil, nil, false
			}
			e, err := DecodeEvent(s.d[start:s.i])
			if err != nil {
				dropped = append(dropped, &DroppedEvent{Where: "event " + strconv.Itoa(n), Err: err})
			} else {
				evs = append(evs, *e)
			}
		}
		if s.byte(']') {
			return evs, dropped, true
		}
		if !s.byte(',') {
			return nil, nil, false
		}
	}
}

// event reads an event of the plain form: the fields every channel event
// has and a message or a record and its changed fields, each at most
// once, none null.
func (s *scanner) event(ev *Event) bool {
	return s.object(func(key []byte) (bit uint16, ok bool) {
		switch string(key) {
		case "id":
			return 1 << 0, s.string(&ev.ID)
		case "type":
			var t string
			ok = s.string(&t)
			ev.Type = EventType(t)
			return 1 << 1, ok
		case "cid":
			return 1 << 2, s.string(&ev.CID)
		case "seq":
			ev.Seq, ok = s.int()
			return 1 << 3, ok
		case "epoch":
			return 1 << 4, s.string(&ev.Epoch)
		case "created_at":
			ev.CreatedAt, ok = s.time()
			return 1 << 5, ok
		case "user_id":
			return 1 << 6, s.string(&ev.UserID)
		case "message":
			ev.Message = new(Message)
			return 1 << 7, s.message(ev.Message)
		case "record":
			ev.Record = new(Record)
			return 1 << 8, s.record(ev.Record)
		case "changed":
			return 1 << 9, s.strings(&ev.Changed)
		}
		return 0, false
	})
}

// message reads a message of the plain form: no deletion, reaction
// counts or extra data; each field at most once, none null.
func (s *scanner) message(m *Message) bool {
	return s.object(func(key []byte) (bit uint16, ok bool) {
		switch string(key) {
		case "id":
			return 1 << 0, s.string(&m.ID)
		case "cid":
			return 1 << 1, s.string(&m.CID)
		case "user_id":
			return 1 << 2, s.string(&m.UserID)
		case "text":
			return 1 << 3, s.string(&m.Text)
		case "parent_id":
			return 1 << 4, s.string(&m.ParentID)
		case "seq":
			m.Seq, ok = s.int()
			return 1 << 5, ok
		case "created_at":
			m.CreatedAt, ok = s.time()
			return 1 << 6, ok
		case "updated_at":
			m.UpdatedAt, ok = s.time()
			return 1 << 7, ok
		case "version":
			m.Version, ok = s.int()
			return 1 << 8, ok
		}
		return 0, false
	})
}

// object reads a JSON object whose every key field knows: field reads the
// key's value and returns the key's bit (distinct per key) and whether
// the value was of the plain form. An unknown key, a bad value or a key
// seen twice makes the object not plain (false).
func (s *scanner) object(field func(key []byte) (bit uint16, ok bool)) bool {
	if !s.byte('{') {
		return false
	}
	if s.byte('}') {
		return true
	}
	var seen uint16
	for {
		key, ok := s.str()
		if !ok || !s.byte(':') {
			return false
		}
		bit, ok := field(key)
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		if s.byte('}') {
			return true
		}
		if !s.byte(',') {
			return false
		}
	}
}

func (s *scanner) string(dst *string) bool {
	v, ok := s.str()
	if ok {
		*dst = string(v)
	}
	return ok
}
