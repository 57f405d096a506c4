package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/outpostsync/outpost/protocol"
)

// Rules are the record rules of a server: for each collection, what a
// record must be and who may write it. They live in the store, so that
// every node of a cluster judges a write alike; a write is judged by the
// rules in force when it arrives. Without rules the server takes
// free-form records in any collection, within DefaultMaxRecordBytes, from
// any member, the later write of a field winning.
//
// A rules file (outpostd --install-rules FILE) is Rules as JSON:
//
//	{"collections": {"tasks": {
//	    "schema": {"type": "object", "required": ["title"],
//	               "properties": {"title": {"type": "string"}, "done": {"type": "boolean"}}},
//	    "max_record_bytes": 4096,
//	    "conflict": "refuse",
//	    "create": "member", "update": "member", "delete": "creator"}}}
type Rules struct {
	// Collections are the collections records may be written in, by
	// name (an identifier, as protocol.ValidateID says). A collection
	// not listed is refused.
	Collections map[string]CollectionRules `json:"collections"`
}

// CollectionRules are one collection's rules. Each field's zero value is
// the default it names.
type CollectionRules struct {
	// Schema is a JSON Schema (draft 2020-12 unless its $schema says
	// otherwise) a record's fields, as one JSON object, must pass. It
	// may not refer to other documents. Empty means any object.
	Schema json.RawMessage `json:"schema,omitempty"`
	// MaxRecordBytes bounds a record's fields as compact JSON. Zero means
	// protocol.DefaultMaxRecordBytes; at most protocol.MaxRecordBytes.
	MaxRecordBytes int `json:"max_record_bytes,omitempty"`
	// Conflict is what happens to a patch that sets a field changed
	// after the version the patch was based on. Zero means
	// ConflictLaterWins.
	Conflict ConflictRule `json:"conflict,omitempty"`
	// Create, Update (replace and patch) and Delete say who may write
	// the collection's records. Zero means WhoMember. Create takes
	// neither WhoCreator nor, for it, a record's creator.
	Create Who `json:"create,omitempty"`
	Update Who `json:"update,omitempty"`
	Delete Who `json:"delete,omitempty"`
}

// ConflictRule decides between two writes of one field of a record.
type ConflictRule string

const (
	// ConflictLaterWins: the later write in the channel's log wins, field
	// by field, whatever the version it was based on. A late offline
	// edit of a field beats a newer online edit of the same field.
	ConflictLaterWins ConflictRule = "later-wins"
	// ConflictRefuse: a patch that sets or unsets a field changed after
	// its base_version is refused (409, code 41), with both values.
	ConflictRefuse ConflictRule = "refuse"
)

// Who names the members who may make a kind of record write.
type Who string

const (
	WhoMember    Who = "member"    // any member
	WhoCreator   Who = "creator"   // the record's creator, moderators and the owner
	WhoModerator Who = "moderator" // moderators and the owner
	WhoOwner     Who = "owner"     // the owner alone
	WhoNobody    Who = "nobody"    // nobody
)

// allows reports whether a member with role (and, with creator, the
// record's creator) may write.
func (w Who) allows(role string, creator bool) bool {
	switch w {
	case "", WhoMember:
		return true
	case WhoCreator:
		return creator || role == protocol.RoleModerator || role == protocol.RoleOwner
	case WhoModerator:
		return role == protocol.RoleModerator || role == protocol.RoleOwner
	case WhoOwner:
		return role == protocol.RoleOwner
	}
	return false
}

// RulesError says why rules were refused: Path names the offending part
// ("collections.tasks.schema"); a rules file's errors also carry the file
// and line.
type RulesError struct {
	File   string
	Line   int
	Path   string
	Reason string

	keys []string // Path's keys, to find its line
}

func (e *RulesError) Error() string {
	var b strings.Builder
	b.WriteString("record rules: ")
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

// compiledRules are Rules ready to judge writes. nil collections means
// no rules: free-form records.
type compiledRules struct {
	version     int64
	hash        string
	collections map[string]*compiledCollection
}

type compiledCollection struct {
	CollectionRules
	schema *jsonschema.Schema // nil: any object
}

// freeForm is the collection every name stands for without rules.
var freeForm = &compiledCollection{CollectionRules: CollectionRules{MaxRecordBytes: protocol.DefaultMaxRecordBytes}}

// collection returns the rules of the collection name, or a 400 for a
// collection the rules do not know.
func (r *compiledRules) collection(name string) (*compiledCollection, error) {
	if r.collections == nil {
		return freeForm, nil
	}
	c, ok := r.collections[name]
	if !ok {
		return nil, recordError(protocol.CodeInput, "/collection", nil, "collection %q is not in the server's record rules", name)
	}
	return c, nil
}

// canonical returns rules as the compact JSON the store keeps and its
// hash: equal rules give equal bytes (map keys sorted, schemas compacted).
func (r Rules) canonical() ([]byte, string, error) {
	c := Rules{Collections: make(map[string]CollectionRules, len(r.Collections))}
	for name, cr := range r.Collections {
		if len(cr.Schema) > 0 {
			var buf bytes.Buffer
			if err := json.Compact(&buf, cr.Schema); err != nil {
				return nil, "", &RulesError{Path: "collections." + name + ".schema", Reason: "not JSON: " + err.Error(),
					keys: []string{"collections", name, "schema"}}
			}
			cr.Schema = buf.Bytes()
		}
		c.Collections[name] = cr
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(b)
	return b, hex.EncodeToString(sum[:]), nil
}

// compile checks rules and compiles their schemas. Every error is a
// *RulesError naming the part at fault.
func (r Rules) compile() (*compiledRules, error) {
	if r.Collections == nil {
		return nil, &RulesError{Path: "collections", Reason: "is missing: list the collections records may be written in"}
	}
	out := &compiledRules{collections: make(map[string]*compiledCollection, len(r.Collections))}
	names := make([]string, 0, len(r.Collections))
	for name := range r.Collections {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		cr := r.Collections[name]
		path := "collections." + name
		bad := func(field, format string, args ...any) error {
			keys := []string{"collections", name}
			if field != "" {
				keys = append(keys, strings.TrimPrefix(field, "."))
			}
			return &RulesError{Path: path + field, Reason: fmt.Sprintf(format, args...), keys: keys}
		}
		if err := protocol.ValidateID("collection name", name); err != nil {
			return nil, bad("", "%v", err)
		}
		switch {
		case cr.MaxRecordBytes < 0 || cr.MaxRecordBytes > protocol.MaxRecordBytes:
			return nil, bad(".max_record_bytes", "want 0 (the default, %d) to %d", protocol.DefaultMaxRecordBytes, protocol.MaxRecordBytes)
		case cr.MaxRecordBytes == 0:
			cr.MaxRecordBytes = protocol.DefaultMaxRecordBytes
		}
		switch cr.Conflict {
		case "", ConflictLaterWins, ConflictRefuse:
		default:
			return nil, bad(".conflict", "%q: want %q or %q", cr.Conflict, ConflictLaterWins, ConflictRefuse)
		}
		for _, w := range []struct {
			field string
			who   Who
		}{{".create", cr.Create}, {".update", cr.Update}, {".delete", cr.Delete}} {
			switch w.who {
			case "", WhoMember, WhoModerator, WhoOwner, WhoNobody:
			case WhoCreator:
				if w.field == ".create" {
					return nil, bad(w.field, "%q: a record being created has no creator yet", w.who)
				}
			default:
				return nil, bad(w.field, "%q: want %s, %s, %s, %s or %s", w.who, WhoMember, WhoCreator, WhoModerator, WhoOwner, WhoNobody)
			}
		}
		cc := &compiledCollection{CollectionRules: cr}
		if len(cr.Schema) > 0 {
			s, err := compileSchema(name, cr.Schema)
			if err != nil {
				return nil, bad(".schema", "%v", err)
			}
			cc.schema = s
		}
		out.collections[name] = cc
	}
	return out, nil
}

// noLoader refuses every reference to another document: a schema must be
// whole, so that every node compiles it alike without fetching anything.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("schemas may not refer to other documents (%s)", url)
}

func compileSchema(name string, schema json.RawMessage) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		return nil, fmt.Errorf("not JSON: %v", err)
	}
	if _, ok := doc.(map[string]any); !ok {
		if _, ok := doc.(bool); !ok {
			return nil, errors.New("a schema is a JSON object (or true or false)")
		}
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{})
	url := "outpost:///collections/" + name + ".json"
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	return c.Compile(url)
}

var schemaPrinter = message.NewPrinter(language.English)

// validate checks fields against the collection's schema and returns a
// 400 naming the first offending value.
func (c *compiledCollection) validate(fields map[string]json.RawMessage) error {
	if c.schema == nil {
		return nil
	}
	inst := make(map[string]any, len(fields))
	for k, v := range fields {
		d, err := jsonschema.UnmarshalJSON(bytes.NewReader(v))
		if err != nil {
			return recordError(protocol.CodeInput, fieldPath(k), nil, "not JSON: %v", err)
		}
		inst[k] = d
	}
	err := c.schema.Validate(inst)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return recordError(protocol.CodeInput, "/fields", nil, "%v", err)
	}
	leaf := ve
	for len(leaf.Causes) > 0 {
		leaf = leaf.Causes[0]
	}
	path := "/fields"
	for _, tok := range leaf.InstanceLocation {
		path += "/" + pointerEscape(tok)
	}
	// Name the field itself when the error is about a field of an
	// object: one that is missing, or not allowed.
	switch k := leaf.ErrorKind.(type) {
	case *kind.Required:
		if len(k.Missing) > 0 {
			path += "/" + pointerEscape(k.Missing[0])
		}
	case *kind.AdditionalProperties:
		if len(k.Properties) > 0 {
			path += "/" + pointerEscape(k.Properties[0])
		}
	}
	return recordError(protocol.CodeInput, path, nil, "fails the collection's schema at %s: %s", path,
		leaf.ErrorKind.LocalizedString(schemaPrinter))
}

// ParseRules reads a rules file: Rules as JSON, decoded strictly, every
// schema compiled. An error is a *RulesError with file (name), line and
// reason.
func ParseRules(name string, data []byte) (Rules, error) {
	var r Rules
	if err := protocol.DecodeStrict(data, &r, "rules"); err != nil {
		re := &RulesError{File: name, Reason: err.Error()}
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		var dk *protocol.DuplicateKeyError
		switch {
		case errors.As(err, &se):
			re.Line = lineAt(data, se.Offset)
		case errors.As(err, &te):
			re.Line, re.Path = lineAt(data, te.Offset), te.Field
		case errors.As(err, &dk):
			re.Line = lineOfKey(data, dk.Key, 2)
		default:
			// encoding/json names an unknown field only in its text.
			if _, name, ok := strings.Cut(err.Error(), "unknown field "); ok {
				if k, err := strconv.Unquote(name); err == nil {
					re.Line = lineOfKey(data, k, 1)
				}
			}
		}
		return Rules{}, re
	}
	if _, err := r.compile(); err != nil {
		var re *RulesError
		if errors.As(err, &re) {
			re.File, re.Line = name, lineOfKeys(data, re.keys)
		}
		return Rules{}, err
	}
	return r, nil
}

// lineAt returns the 1-based line of byte offset off in data.
func lineAt(data []byte, off int64) int {
	off = min(max(off, 0), int64(len(data)))
	return 1 + bytes.Count(data[:off], []byte("\n"))
}

// lineOfKey returns the line of the nth occurrence of key as an object
// key in data, or 0.
func lineOfKey(data []byte, key string, nth int) int {
	re := regexp.MustCompile(regexp.QuoteMeta(strconv.Quote(key)) + `\s*:`)
	locs := re.FindAllIndex(data, nth)
	if len(locs) < nth {
		return 0
	}
	return lineAt(data, int64(locs[nth-1][0]))
}

// lineOfKeys returns the line of the key that begins the value at keys
// in the JSON document data, or 0.
func lineOfKeys(data []byte, keys []string) int {
	if len(keys) == 0 {
		return 0
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	line := 0
	// walk consumes one value at depth; match says the keys above it
	// are a prefix of keys.
	var walk func(depth int, match bool) error
	walk = func(depth int, match bool) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		d, ok := tok.(json.Delim)
		if !ok {
			return nil
		}
		for dec.More() {
			m := false
			if d == '{' {
				kt, err := dec.Token()
				if err != nil {
					return err
				}
				k, _ := kt.(string)
				m = match && depth < len(keys) && keys[depth] == k
				if m && depth == len(keys)-1 && line == 0 {
					line = lineAt(data, dec.InputOffset())
				}
			}
			if err := walk(depth+1, m); err != nil {
				return err
			}
		}
		_, err = dec.Token()
		return err
	}
	_ = walk(0, true)
	return line
}

// ruleBook holds the rules in force, compiled once per version: a record
// write reads the version in its own transaction (one cheap read) and
// compiles the rules only when they changed, so every node takes up new
// rules at its next write, without a restart.
type ruleBook struct {
	mu  sync.Mutex // guards cur
	cur *compiledRules
}

// current returns the rules in force in tx's snapshot.
func (b *ruleBook) current(tx Tx) (*compiledRules, error) {
	v, err := tx.RecordRulesVersion()
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cur != nil && b.cur.version == v {
		return b.cur, nil
	}
	if v == 0 {
		b.cur = &compiledRules{}
		return b.cur, nil
	}
	st, err := tx.RecordRules()
	if err != nil {
		return nil, err
	}
	cr, err := compileStored(st)
	if err != nil {
		return nil, err
	}
	b.cur = cr
	return cr, nil
}

func compileStored(st StoredRules) (*compiledRules, error) {
	var r Rules
	if err := json.Unmarshal(st.Source, &r); err != nil {
		return nil, fmt.Errorf("server: stored record rules version %d: %w", st.Version, err)
	}
	cr, err := r.compile()
	if err != nil {
		return nil, fmt.Errorf("server: stored record rules version %d: %w", st.Version, err)
	}
	cr.version, cr.hash = st.Version, st.Hash
	return cr, nil
}

// InstallRules checks rules and, unless they are the rules in force
// already, stores them in st as a new version, which every server on the
// store applies from its next record write. It returns the version in
// force and its hash. Rules that do not compile are refused with a
// *RulesError, and the rules in force stay.
func InstallRules(ctx context.Context, st Store, r Rules) (version int64, hash string, err error) {
	if _, err := r.compile(); err != nil {
		return 0, "", err
	}
	src, hash, err := r.canonical()
	if err != nil {
		return 0, "", err
	}
	err = st.Update(ctx, func(tx Tx) error {
		cur, err := tx.RecordRules()
		if err == nil && cur.Hash == hash {
			version = cur.Version
			return nil
		}
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		version, err = tx.InstallRecordRules(hash, src)
		return err
	})
	if err != nil {
		return 0, "", err
	}
	return version, hash, nil
}

// InstallRules installs rules in the server's store: see the function
// InstallRules.
func (s *Server) InstallRules(ctx context.Context, r Rules) (version int64, hash string, err error) {
	return InstallRules(ctx, s.store, r)
}

// RulesHash returns the hash of the record rules in force ("" for none)
// and their version (0 for none).
func (s *Server) RulesHash(ctx context.Context) (hash string, version int64, err error) {
	err = s.view(ctx, func(tx Tx) error {
		cr, err := s.rules.current(tx)
		if err != nil {
			return err
		}
		hash, version = cr.hash, cr.version
		return nil
	})
	return hash, version, err
}

// startRules installs Config.Rules, if set (a failure fails New), and
// logs the rules in force: a server without any says it takes free-form
// records.
func (s *Server) startRules(ctx context.Context) error {
	if s.cfg.Rules != nil {
		if _, _, err := s.InstallRules(ctx, *s.cfg.Rules); err != nil {
			return fmt.Errorf("server: Config.Rules: %w", err)
		}
	}
	hash, version, err := s.RulesHash(ctx)
	if err != nil {
		// The store may be down for now: each record write reads the
		// rules in force anyway.
		s.log.Warn("server: could not read the record rules at start", "error", err)
		return nil
	}
	if version == 0 {
		s.log.Info("server: no record rules installed: records are free-form, in any collection, within the size bound",
			"max_record_bytes", protocol.DefaultMaxRecordBytes)
		return nil
	}
	s.log.Info("server: record rules in force", "version", version, "hash", hash)
	return nil
}
