package protocol

import (
	"encoding/json"
)

// DecodeRecordsPage decodes a page of a channel's records (GET
// /channels/{cid}/records). The result is the one encoding/json gives
// (DecodeLenient into a RecordsResponse), only cheaper: records of the
// plain form the server writes are read by the sync pages' scanner, and
// a page with anything else is handed to encoding/json whole.
func DecodeRecordsPage(data []byte) (*RecordsResponse, error) {
	if page, ok := decodeRecordsPageFast(data); ok {
		return page, nil
	}
	var page RecordsResponse
	if err := DecodeLenient(data, &page, "records page"); err != nil {
		return nil, err
	}
	return &page, nil
}

// decodeRecordsPageFast reads the page's top-level "records" array with
// the scanner and the rest with encoding/json; ok is false for a page
// not of that plain shape.
func decodeRecordsPageFast(data []byte) (*RecordsResponse, bool) {
	var recs []Record
	rest, ok := spliceOut(data, "records", func(s *scanner) (ok bool) {
		recs, ok = s.records()
		return ok
	})
	if !ok {
		return nil, false
	}
	var page RecordsResponse
	if json.Unmarshal(rest, &page) != nil {
		return nil, false
	}
	page.Records = recs
	return &page, true
}

// records reads an array of records of the plain form.
func (s *scanner) records() ([]Record, bool) {
	if !s.byte('[') {
		return nil, false
	}
	out := []Record{}
	if s.byte(']') {
		return out, true
	}
	for {
		out = append(out, Record{})
		if !s.record(&out[len(out)-1]) {
			return nil, false
		}
		if s.byte(']') {
			return out, true
		}
		if !s.byte(',') {
			return nil, false
		}
	}
}

// record reads a record of the plain form: its fields each at most once,
// none null, its field names without escapes; each field's value is
// kept as it is, checked as encoding/json checks a json.RawMessage.
func (s *scanner) record(r *Record) bool {
	return s.object(func(key []byte) (bit uint16, ok bool) {
		switch string(key) {
		case "cid":
			return 1 << 0, s.name(&r.CID)
		case "collection":
			return 1 << 1, s.name(&r.Collection)
		case "id":
			return 1 << 2, s.string(&r.ID)
		case "fields":
			r.Fields = map[string]json.RawMessage{}
			return 1 << 3, s.object(func(name []byte) (uint16, bool) {
				v, ok := s.raw()
				r.Fields[s.intern(name)] = append(json.RawMessage(nil), v...)
				return 0, ok
			})
		case "field_versions":
			r.FieldVersions = map[string]int64{}
			return 1 << 4, s.object(func(name []byte) (uint16, bool) {
				v, ok := s.int()
				r.FieldVersions[s.intern(name)] = v
				return 0, ok
			})
		case "version":
			r.Version, ok = s.int()
			return 1 << 5, ok
		case "created_by":
			return 1 << 6, s.name(&r.CreatedBy)
		case "created_at":
			r.CreatedAt, ok = s.time()
			return 1 << 7, ok
		case "updated_by":
			return 1 << 8, s.name(&r.UpdatedBy)
		case "updated_at":
			r.UpdatedAt, ok = s.time()
			return 1 << 9, ok
		case "deleted":
			r.Deleted, ok = s.bool()
			return 1 << 10, ok
		}
		return 0, false
	})
}

// maxNames bounds the strings a scanner keeps to share (intern).
const maxNames = 4096

// intern returns v as a string, the same string for the same bytes
// across a page: the names records repeat (channel, collection, field
// names, users) are allocated once a page.
func (s *scanner) intern(v []byte) string {
	if n, ok := s.names[string(v)]; ok {
		return n
	}
	n := string(v)
	if s.names == nil {
		s.names = map[string]string{}
	}
	if len(s.names) < maxNames {
		s.names[n] = n
	}
	return n
}

// name reads a string without escapes into dst, interned.
func (s *scanner) name(dst *string) bool {
	v, ok := s.str()
	if ok {
		*dst = s.intern(v)
	}
	return ok
}

// strings reads an array of strings without escapes, interned.
func (s *scanner) strings(dst *[]string) bool {
	if !s.byte('[') {
		return false
	}
	out := []string{}
	if !s.byte(']') {
		for {
			var v string
			if !s.name(&v) {
				return false
			}
			out = append(out, v)
			if s.byte(']') {
				break
			}
			if !s.byte(',') {
				return false
			}
		}
	}
	*dst = out
	return true
}

// bool reads true or false.
func (s *scanner) bool() (bool, bool) {
	s.ws()
	for _, lit := range [...]string{"false", "true"} {
		if len(s.d)-s.i >= len(lit) && string(s.d[s.i:s.i+len(lit)]) == lit {
			s.i += len(lit)
			return lit == "true", s.delimited()
		}
	}
	return false, false
}

// delimited reports whether a literal just read ends where a JSON value
// may end.
func (s *scanner) delimited() bool {
	if s.i == len(s.d) {
		return true
	}
	switch s.d[s.i] {
	case ',', '}', ']', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}

// raw reads any JSON value and returns it as it is (a part of d): a
// string without escapes or a number is checked here, anything else by
// encoding/json.
func (s *scanner) raw() (json.RawMessage, bool) {
	s.ws()
	start := s.i
	if s.i < len(s.d) && s.d[s.i] == '"' {
		if _, ok := s.str(); ok {
			return s.d[start:s.i], true
		}
		s.i = start
	} else if s.number() {
		return s.d[start:s.i], true
	}
	s.i = start
	if !s.skip(0) || !json.Valid(s.d[start:s.i]) {
		return nil, false
	}
	return s.d[start:s.i], true
}

// number reads a number as JSON writes it; on false, s.i is left where
// it was.
func (s *scanner) number() bool {
	j := s.i
	digits := func() int {
		n := 0
		for j < len(s.d) && s.d[j] >= '0' && s.d[j] <= '9' {
			j++
			n++
		}
		return n
	}
	if j < len(s.d) && s.d[j] == '-' {
		j++
	}
	first := j
	if n := digits(); n == 0 || (n > 1 && s.d[first] == '0') {
		return false
	}
	if j < len(s.d) && s.d[j] == '.' {
		j++
		if digits() == 0 {
			return false
		}
	}
	if j < len(s.d) && (s.d[j] == 'e' || s.d[j] == 'E') {
		j++
		if j < len(s.d) && (s.d[j] == '+' || s.d[j] == '-') {
			j++
		}
		if digits() == 0 {
			return false
		}
	}
	i := s.i
	s.i = j
	if !s.delimited() {
		s.i = i
		return false
	}
	return true
}
